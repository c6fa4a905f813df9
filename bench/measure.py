"""One scenario measured: its answer checked first (a fast wrong answer does not count), then
wrk's req/s, latency and errors against it, as a Result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bench.results import Result
from bench.scenarios import FLOOR, Scenario
from bench.servers import http, rss_kib
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

    def wrk(self, url: str, script: str) -> dict[str, Any]:
        return warmed_wrk(url, script, self.warmup, self.seconds, self.connections, self.cpus)


def problem(load: Load, s: Scenario) -> str | None:
    """What is wrong with the scenario's answer, or None."""
    status, raw = http(s.method, load.base + s.path, load.token if s.auth else None, s.body)
    if status != s.expect_status:
        return f"status {status}: {raw[:200]!r}"
    if s.check is not None:
        return s.check(status, json.loads(raw))
    return None


def measure(load: Load, s: Scenario, name: str | None = None) -> Result:
    wrong = problem(load, s)
    w = load.wrk(load.base + s.path, lua_script(s, load.token, load.tokens))
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
        {"errors": {k: w[k] for k in ERROR_KINDS if w[k]}},
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
