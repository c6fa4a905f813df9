"""bench/scale: does each read stay as fast at 1M articles as at 10k? (the p99 target)

Two `bench/run`s on different databases, minutes apart, compare two moments of a noisy
machine as much as two data sets (bench/README.md, "3. The two scales side by side"). This
runs both scales in one session instead: a server (and a floor) per database, all pinned to
the server core, loaded one at a time. Each round measures every read on the small database
and then on the large one, the order swapped every round, so drift lands on both alike; the
reported p99 of a scenario is its median over the rounds.

Two loads, as the same reads meet two kinds of traffic:
- saturated: 32 connections without pause, as in bench/run; a p99 there is mostly queueing,
  so it moves with throughput;
- paced: 4 connections, each pausing 5 ms between requests (well under capacity); a p99
  there is a request's own latency, the database's part included.
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

from bench.results import machine
from bench.scenarios import FLOOR, Fixtures, Scenario, choose, load_fixtures, scenarios
from bench.servers import (
    ROOT,
    asyncpg_dsn,
    http,
    server_env,
    serving,
    sign_in,
    wait_ready,
)
from bench.wrk import lua_script, warmed_wrk

LOADS = {"saturated": (32, 0), "paced": (4, 5)}  # connections, pause between requests (ms)
SERVER_CPUS = "0"  # all four servers: only one is loaded at a time
Runs = dict[tuple[str, str, str], list[dict[str, float]]]  # (load, read, site): every round


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
        return (self.floor if scenario.name == FLOOR.name else self.base) + scenario.path


def reads(fixtures: Fixtures, only: str) -> list[Scenario]:
    return choose([FLOOR, *(s for s in scenarios(fixtures) if not s.write)], only)


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
    args = parse_args()
    loads = list(LOADS) if args.load == "both" else [args.load]
    secret = secrets.token_urlsafe(48)
    logs = Path(tempfile.mkdtemp(prefix="conduit-scale-"))
    with ExitStack() as stack:
        scales = (("small", args.small), ("large", args.large))
        sites = [
            serve(stack, label, url, args.port + 2 * i, secret, logs)
            for i, (label, url) in enumerate(scales)
        ]
        for site in sites:
            start(site)
        by_site = checked_reads(sites, args.only)
        names = list(by_site[sites[0].label])
        runs = measure_rounds(sites, by_site, names, loads, args)
    report = build_report(sites, names, runs, loads, args)
    print_table(report)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nJSON: {args.output}   server logs: {logs}")


def parse_args() -> argparse.Namespace:
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
    args.client_cpus = str((os.cpu_count() or 1) - 1)
    return args


def serve(stack: ExitStack, label: str, url: str, port: int, secret: str, logs: Path) -> Site:
    """A Conduit server (on port) and its floor (port + 1) on one database, for the stack's
    lifetime."""
    ports = (port, port + 1)
    stack.enter_context(
        serving(url, server_env(url, secret), SERVER_CPUS, ports, logs, label=label)
    )
    fixtures = asyncio.run(load_fixtures(asyncpg_dsn(url), secret))
    return Site(label, url, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}", fixtures)


def start(site: Site) -> None:
    """The site's servers up, and its token that of the seed's first user."""
    wait_ready(f"{site.base}/api/tags", 120)
    wait_ready(f"{site.floor}/api/articles?limit=1")
    status, site.token = sign_in(site.base)
    if status != 200:
        raise SystemExit(f"login on {site.label} failed ({status}): is it seeded?")


def checked_reads(sites: list[Site], only: str) -> dict[str, dict[str, Scenario]]:
    """Each site's reads by name, once every answer on every site is right."""
    by_site = {site.label: {s.name: s for s in reads(site.fixtures, only)} for site in sites}
    problems = [p for site in sites for s in by_site[site.label].values() if (p := check(site, s))]
    if problems:
        raise SystemExit("wrong answers:\n" + "\n".join(problems))
    return by_site


def measure_rounds(
    sites: list[Site],
    by_site: dict[str, dict[str, Scenario]],
    names: list[str],
    loads: list[str],
    args: argparse.Namespace,
) -> Runs:
    """Every read on each site, the sites' order swapped every round."""
    runs: Runs = {}
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
    return runs


def build_report(
    sites: list[Site], names: list[str], runs: Runs, loads: list[str], args: argparse.Namespace
) -> dict[str, Any]:
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
    return report


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
