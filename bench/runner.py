"""bench/run: measure Conduit against the floor on a seeded PostgreSQL database.

Starts `conduit serve` (N workers) and the floor (bench/floor) pinned to the server core(s),
checks every scenario's answer against the database, drives wrk pinned to the other core, and
prints req/s, p50, p99, errors and SQL statements per request. Results go to a JSON file too.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.cli import Options, parse_args
from bench.logins import Logins, logins_vs_reads
from bench.measure import Load, measure, measure_floor, soak
from bench.pairing import paired_with_floor
from bench.results import AFTER_WRITES, Result, machine, shares_of_floor, write
from bench.scenarios import (
    FLOOR,
    LOGIN_EMAIL,
    TARGET_READS,
    Fixtures,
    Scenario,
    choose,
    load_fixtures,
    scenarios,
)
from bench.servers import (
    ROOT,
    Pins,
    asyncpg_dsn,
    http,
    pins,
    rss_kib,
    server_env,
    serving,
    sign_in,
    wait_ready,
)
from bench.statements import count_statements
from bench.wire_bytes import wire_bytes
from bench.writers import open_sessions
from bench.wrk import require_wrk


def main() -> None:
    options = parse_args(__doc__)
    require_wrk()
    dsn = asyncpg_dsn(options.database_url)
    pinned = pins(options.workers)
    secret = secrets.token_urlsafe(48)
    env = server_env(options.database_url, secret, options.log_level)
    logs = Path(tempfile.mkdtemp(prefix="conduit-bench-"))
    fixtures = asyncio.run(load_fixtures(dsn, secret))
    report = report_head(options, fixtures, pinned)
    ports = (options.port, options.floor_port)
    url, workers = options.database_url, options.workers
    with serving(url, env, pinned.server, ports, logs, workers=workers) as server:
        load = replace(start(options, pinned.client), server_pid=server.pid, dsn=dsn)
        report["rss_idle_kib"] = rss_kib(server.pid)
        report["floor_same_bytes"] = same_bytes(load)
        chosen = choose(scenarios(fixtures), options.only)
        if any("Accept-Encoding" in (s.headers or {}) for s in chosen):
            paths = {"list": "/api/articles", "single article": f"/api/articles/{fixtures.slug}"}
            report["wire_bytes"] = wire_bytes(load.base, paths)
        if any(s.users for s in chosen):
            load = replace(load, tokens=tuple(open_sessions(url, secret)))
        results = measure_all(load, chosen, options, (dsn, secret), report)
        if options.login_rounds and (not options.only or "logins" in options.only):
            logins = Logins(
                load.base,
                fixtures.slug,
                pinned.client,
                options.login_rate,
                options.login_rounds,
                options.duration,
            )
            report.update(logins_vs_reads(logins, pinned, server.pid))
        report["rss_after_load_kib"] = rss_kib(server.pid)
        minutes = options.soak
        report["rss_soak_kib"] = soak(load, chosen[0], minutes, server.pid) if minutes else []
    statements = count_statements(url, secret, load.token, chosen)
    for r in results:
        r.statements = statements.get(r.name, r.statements)
    shares_of_floor(results)
    output = options.output or ROOT / f"bench/results-{report['database']}-w{workers}.json"
    write(report, results, Path(output), logs)


def report_head(options: Options, fixtures: Fixtures, pinned: Pins) -> dict[str, Any]:
    """The report's first keys: what was measured, where, and how."""
    return {
        "machine": machine(),
        "database": options.database_url.rsplit("/", 1)[-1],
        "articles": fixtures.total,
        "workers": options.workers,
        "connections": options.connections,
        "duration_s": options.duration,
        "server_cpus": pinned.server,
        "wrk_cpus": pinned.client,
    }


def start(options: Options, cpus: str) -> Load:
    """Both servers up, and the seed's first user signed in: the run's load."""
    base = f"http://127.0.0.1:{options.port}"
    floor = f"http://127.0.0.1:{options.floor_port}"
    wait_ready(f"{base}/api/tags", 120)
    wait_ready(f"{floor}/api/articles?limit=1")
    status, token = sign_in(base)
    if status != 200:
        raise SystemExit(f"login as {LOGIN_EMAIL} failed ({status}): is the database seeded?")
    return Load(base, floor, token, cpus, options.connections, options.warmup, options.duration)


def same_bytes(load: Load) -> bool:
    """Whether the floor answers the anonymous list with Conduit's very bytes."""
    ours = http("GET", f"{load.base}/api/articles")[1]
    theirs = http("GET", f"{load.floor}/api/articles")[1]
    if ours != theirs:
        print("WARNING: the floor's bytes differ from Conduit's", file=sys.stderr)
    return ours == theirs


def measure_all(
    load: Load,
    chosen: list[Scenario],
    options: Options,
    database: tuple[str, str],
    report: dict[str, Any],
) -> list[Result]:
    """The floor, the reads, the target reads paired with the floor (into the report), the
    writes, and then the floor and the target reads again on the data the writes moved.
    `database`: its DSN and the server's secret key (the fixtures' cursors are signed with it)."""
    same = bool(report["floor_same_bytes"])
    results = [measure_floor(load, FLOOR.name, same)]
    results += [measure(load, s) for s in chosen if not s.write]
    if options.pairs:
        targets = [s for s in chosen if s.name in TARGET_READS]
        report["paired_with_floor"] = paired_with_floor(
            load, targets, options.pairs, options.pair_duration
        )
    writes = [s for s in chosen if s.write]
    results += [measure(load, s) for s in writes]
    if writes:
        results += after_writes(load, {s.name for s in chosen}, database, same)
    return results


def after_writes(
    load: Load, names: set[str], database: tuple[str, str], same: bool
) -> list[Result]:
    """The write scenarios just moved one user's and some tags' counter rows thousands of
    times: the reads must not have slowed down (no VACUUM in between; docs/performance.md,
    "Hot rows and MultiXacts"). The floor too: its statement reads the same rows the writes
    just touched, so the ratios after the writes compare Conduit with the floor on the same
    data."""
    results = [measure_floor(load, f"{FLOOR.name}, {AFTER_WRITES}", same)]
    targets = names & set(TARGET_READS)
    for s in scenarios(asyncio.run(load_fixtures(*database))):  # the counts the writes moved
        if s.name in targets:
            results.append(measure(load, s, f"{s.name}, {AFTER_WRITES}"))
    return results


if __name__ == "__main__":
    main()
