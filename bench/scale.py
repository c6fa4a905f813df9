"""bench/scale: does each read stay as fast at 1M articles as at 10k? (issue 4's p99 target)

Two `bench/run`s on different databases, minutes apart, compare two moments of a noisy
machine as much as two data sets: on the 2-core VM of bench/RESULTS.md the floor alone moved
1.17x between two such runs. This runs both scales in one session instead: a server (and a
floor) per database, all pinned to the server core, loaded one at a time. Each round measures
every read on the small database and then on the large one, the order swapped every round, so
drift lands on both alike; the reported p99 of a scenario is its median over the rounds.

Two loads, as the same reads meet two kinds of traffic:
- saturated: 32 connections without pause, as in bench/run; a p99 there is mostly queueing,
  so it moves with throughput;
- paced: 4 connections, each pausing 5 ms between requests (a third of capacity); a p99 there
  is a request's own latency, the database's part included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.runner import (
    ROOT,
    Fixtures,
    Scenario,
    asyncpg_dsn,
    conduit_command,
    floor_command,
    http,
    load_fixtures,
    lua_script,
    machine,
    process,
    scenarios,
    server_env,
    wait_ready,
    warmed_wrk,
)

LOADS = {"saturated": (32, 0), "paced": (4, 5)}  # connections, pause between requests (ms)
FLOOR = "floor: list anonymous"


@dataclass
class Site:
    """One scale: its database, its Conduit server and its floor."""

    label: str
    database_url: str
    base: str
    floor: str
    fixtures: Fixtures
    token: str = ""

    def url(self, scenario: Scenario) -> str:
        return (self.floor if scenario.name == FLOOR else self.base) + scenario.path


def reads(fixtures: Fixtures, only: str) -> list[Scenario]:
    chosen = [Scenario(FLOOR, "GET", "/api/articles")]
    chosen += [s for s in scenarios(fixtures) if not s.write]
    if only:
        wanted = {n.strip() for n in only.split(",")}
        chosen = [s for s in chosen if s.name in wanted]
    return chosen


def check(site: Site, scenario: Scenario) -> str | None:
    """A fast wrong answer does not count: each read's answer is checked first."""
    status, raw = http("GET", site.url(scenario), site.token if scenario.auth else None)
    if status != scenario.expect_status:
        return f"{site.label}: {scenario.name}: status {status}"
    if scenario.check is not None:
        problem = scenario.check(status, json.loads(raw))
        if problem:
            return f"{site.label}: {scenario.name}: {problem}"
    return None


def measure(site: Site, s: Scenario, load: str, args: argparse.Namespace) -> dict[str, float]:
    connections, pause = LOADS[load]
    script = lua_script(s, site.token)
    url, cpus = site.url(s), args.client_cpus
    w = warmed_wrk(url, script, args.warmup, args.duration, connections, cpus, pause)
    return {"rps": w["rps"], "p99_ms": w["p99_us"] / 1000, "errors": w["errors"]}


def summarize(runs: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
        "rps": round(statistics.median(r["rps"] for r in runs), 1),
        "p99_each_ms": [round(r["p99_ms"], 2) for r in runs],
        "errors": int(sum(r["errors"] for r in runs)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/scale", description=__doc__.split("\n")[0])
    parser.add_argument("--small", required=True, help="the 10k database (postgresql+asyncpg)")
    parser.add_argument("--large", required=True, help="the 1M database (postgresql+asyncpg)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median p99 is kept")
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per measurement")
    parser.add_argument("--load", choices=[*LOADS, "both"], default="both")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--port", type=int, default=8771, help="first of four ports")
    parser.add_argument("--output", default=str(ROOT / "bench/results-scale.json"))
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    server_cpus = "0"
    args.client_cpus = str(cores - 1)
    loads = list(LOADS) if args.load == "both" else [args.load]

    secret = secrets.token_urlsafe(48)
    logs = Path(tempfile.mkdtemp(prefix="conduit-scale-"))
    sites: list[Site] = []
    with ExitStack() as stack:
        for i, (label, url) in enumerate((("small", args.small), ("large", args.large))):
            dsn = asyncpg_dsn(url)
            env = server_env(url, secret)
            port, floor_port = args.port + 2 * i, args.port + 2 * i + 1
            serve = conduit_command(server_cpus, port, workers=1)
            floor = floor_command(server_cpus, floor_port)
            stack.enter_context(process(serve, env, logs / f"conduit-{label}.log"))
            stack.enter_context(
                process(floor, {**env, "DATABASE_URL": dsn}, logs / f"floor-{label}.log")
            )
            site = Site(
                label,
                url,
                f"http://127.0.0.1:{port}",
                f"http://127.0.0.1:{floor_port}",
                asyncio.run(load_fixtures(dsn)),
            )
            sites.append(site)
        for site in sites:
            wait_ready(f"{site.base}/api/tags", 120)
            wait_ready(f"{site.floor}/api/articles?limit=1")
            login = next(s for s in scenarios(site.fixtures) if s.name == "login")
            status, raw = http("POST", site.base + login.path, body=login.body)
            if status != 200:
                raise SystemExit(f"login on {site.label} failed ({status}): is it seeded?")
            site.token = json.loads(raw)["user"]["token"]

        names = [s.name for s in reads(sites[0].fixtures, args.only)]
        by_site = {
            site.label: {s.name: s for s in reads(site.fixtures, args.only)} for site in sites
        }
        problems = [
            p for site in sites for s in by_site[site.label].values() if (p := check(site, s))
        ]
        if problems:
            raise SystemExit("wrong answers:\n" + "\n".join(problems))

        runs: dict[tuple[str, str, str], list[dict[str, float]]] = {}
        for number in range(args.rounds):
            order = sites if number % 2 == 0 else sites[::-1]
            for load in loads:
                for name in names:
                    for site in order:
                        result = measure(site, by_site[site.label][name], load, args)
                        runs.setdefault((load, name, site.label), []).append(result)
                    print(
                        f"round {number + 1} {load:9} {name:22} "
                        + "  ".join(
                            f"{site.label} p99 {runs[(load, name, site.label)][-1]['p99_ms']:6.2f}"
                            for site in sites
                        ),
                        flush=True,
                    )

    report: dict[str, Any] = {
        "machine": machine(),
        "articles": {site.label: site.fixtures.total for site in sites},
        "rounds": args.rounds,
        "duration_s": args.duration,
        "loads": {
            load: {"connections": LOADS[load][0], "pause_ms": LOADS[load][1]} for load in loads
        },
        "results": [],
    }
    for load in loads:
        for name in names:
            small = summarize(runs[(load, name, "small")])
            large = summarize(runs[(load, name, "large")])
            ratio = large["p99_ms"] / small["p99_ms"] if small["p99_ms"] else None
            report["results"].append(
                {
                    "load": load,
                    "scenario": name,
                    "small": small,
                    "large": large,
                    "p99_ratio": round(ratio, 2) if ratio else None,
                }
            )
    print_table(report)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nJSON: {args.output}   server logs: {logs}")


def print_table(report: dict[str, Any]) -> None:
    small, large = report["articles"]["small"], report["articles"]["large"]
    print(
        f"\np99 at {large:,} articles against {small:,}: the median of {report['rounds']} "
        f"rounds of {report['duration_s']} s (target: at most 1.25x)"
    )
    print(f"{'load':9} {'scenario':22} {'small p99':>9} {'large p99':>9} {'ratio':>6}  req/s")
    for r in report["results"]:
        print(
            f"{r['load']:9} {r['scenario']:22} {r['small']['p99_ms']:9.2f} "
            f"{r['large']['p99_ms']:9.2f} {r['p99_ratio']:6.2f}  "
            f"{r['small']['rps']:.0f} / {r['large']['rps']:.0f}"
            + (
                f"  errors {r['small']['errors']} / {r['large']['errors']}"
                if r["small"]["errors"] or r["large"]["errors"]
                else ""
            )
        )
    load = report["machine"]["load_average_at_start"]
    print(f"load average at start {load}")


if __name__ == "__main__":
    main()
