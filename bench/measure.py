"""One scenario measured: its answer checked first (a fast wrong answer does not count), then
wrk's req/s, latency and errors against it, as a Result."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from bench.results import Result
from bench.scenarios import FLOOR, Scenario, jobs_drained
from bench.servers import cpu_seconds, database_cpu_seconds, http, rss_kib
from bench.wrk import ERROR_KINDS, lua_script, run_wrk, warmed_wrk


@dataclass(frozen=True)
class Load:
    """Where wrk sends a run's load, as whom, from which CPUs, and how hard and long."""

    base: str  # Conduit
    floor: str
    token: str
    cpus: str
    connections: int
    warmup: int
    seconds: int
    tokens: tuple[str, ...] = ()  # the many-user writes' users (bench/writers.py)
    server_pid: int = 0  # Conduit's process: its CPU time per request is measured
    dsn: str = ""  # its database (asyncpg): a write's measure waits for the jobs it enqueued

    def wrk(self, url: str, script: str) -> dict[str, Any]:
        return warmed_wrk(url, script, self.warmup, self.seconds, self.connections, self.cpus)

    def wrk_with_cpu(self, url: str, script: str, write: bool = False) -> dict[str, Any]:
        """As wrk, and `cpu_ms`: the server's CPU time per request during the measured run
        (less noisy than req/s on a shared machine; jobs run in-process are included), and
        `db_cpu_ms`: the local PostgreSQL's over the same time (not with a remote one). For a
        write, the run lasts until the jobs it enqueued have run too (`drain_s` after wrk
        stopped): `cpu_ms` includes them and `sustained_rps` counts that time."""
        run_wrk(url, script, self.warmup, self.connections, self.cpus)
        self._drain(write)
        before = cpu_seconds(self.server_pid) if self.server_pid else 0.0
        database_before = database_cpu_seconds()
        w = run_wrk(url, script, self.seconds, self.connections, self.cpus)
        stopped = time.monotonic()
        self._drain(write)
        w["drain_s"] = round(time.monotonic() - stopped, 2) if write and self.dsn else None
        spent = cpu_seconds(self.server_pid) - before if self.server_pid else 0.0
        w["cpu_ms"] = round(spent * 1000 / w["requests"], 3) if w["requests"] else None
        database_after = database_cpu_seconds()
        if database_before is not None and database_after is not None and w["requests"]:
            # The drain's own polls are the database's too: a few, against thousands of requests.
            database_spent = database_after - database_before
            w["db_cpu_ms"] = round(database_spent * 1000 / w["requests"], 3)
        if w["drain_s"] is not None:
            w["sustained_rps"] = round(w["requests"] / (self.seconds + w["drain_s"]), 1)
        return w

    def _drain(self, write: bool) -> None:
        if write and self.dsn:
            asyncio.run(jobs_drained(self.dsn))


def problem(load: Load, s: Scenario) -> str | None:
    """What is wrong with the scenario's answer, or None."""
    status, raw = http(s.method, load.base + s.path, load.token if s.auth else None, s.fresh_body())
    if status != s.expect_status:
        return f"status {status}: {raw[:200]!r}"
    if s.check is not None:
        return s.check(status, json.loads(raw))
    return None


def measure(load: Load, s: Scenario, name: str | None = None) -> Result:
    wrong = problem(load, s)
    w = load.wrk_with_cpu(load.base + s.path, lua_script(s, load.token, load.tokens), s.write)
    return Result(
        name or s.name,
        w["rps"],
        w["p50_us"] / 1000,
        w["p99_us"] / 1000,
        w["errors"],
        w["requests"],
        None,
        wrong is None,
        wrong or "",
        # Which kind: a non-2xx answer ("status") or no answer within wrk's 2 s.
        {
            "errors": {k: w[k] for k in ERROR_KINDS if w[k]},
            "cpu_ms": w["cpu_ms"],
            **{k: w[k] for k in ("db_cpu_ms", "drain_s", "sustained_rps") if w.get(k) is not None},
        },
    )


def measure_floor(load: Load, name: str, same_bytes: bool) -> Result:
    """The floor's anonymous list; it is correct when it answers Conduit's bytes."""
    fw = load.wrk(load.floor + FLOOR.path, lua_script(FLOOR, None))
    p50, p99 = fw["p50_us"] / 1000, fw["p99_us"] / 1000
    return Result(name, fw["rps"], p50, p99, fw["errors"], fw["requests"], 1, same_bytes)


def soak(load: Load, s: Scenario, minutes: int, pid: int) -> list[int]:
    """The server's RSS after each of `minutes` 60 s runs of the scenario (growth shows here)."""
    rss = []
    for _ in range(minutes):
        run_wrk(load.base + s.path, lua_script(s, load.token), 60, load.connections, load.cpus)
        rss.append(rss_kib(pid))
    return rss
