"""A bench/run's results: what each measure yields, the machine, the printed table, the JSON."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.scenarios import FLOOR

AFTER_WRITES = "after writes"


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    statements: int | None
    correct: bool
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    pg = subprocess.run(
        ["psql", "--version"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "psql": pg,
        # A busy machine makes every number here meaningless: the load is recorded with them.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def shares_of_floor(results: list[Result]) -> None:
    """Each result's req/s as a share of the floor's measured on the same data: before the
    writes, or after them for the results named so."""
    rps = {r.name: r.rps for r in results if r.name.startswith(FLOOR.name)}
    before, after = rps[FLOOR.name], rps.get(f"{FLOOR.name}, {AFTER_WRITES}")
    for r in results:
        floor_rps = after if after is not None and r.name.endswith(AFTER_WRITES) else before
        r.extra["of_floor"] = round(r.rps / floor_rps, 3) if floor_rps else None


def write(report: dict[str, Any], results: list[Result], output: Path, logs: Path) -> None:
    """The table on stdout, the whole report as JSON in output."""
    report["results"] = [asdict(r) for r in results]
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print_table(report, results)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nJSON: {output}   server logs: {logs}")


def print_table(report: dict[str, Any], results: list[Result]) -> None:
    print(
        f"\n{report['articles']:,} articles · {report['workers']} worker(s) · "
        f"{report['connections']} connections · {report['duration_s']} s per scenario · "
        f"server on CPU {report['server_cpus']}, wrk on CPU {report['wrk_cpus']}"
    )
    print(f"floor returns the same bytes as Conduit: {report['floor_same_bytes']}")
    load = report["machine"]["load_average_at_start"], report["machine"]["load_average_at_end"]
    print(f"load average at start {load[0]}, at end {load[1]} (2 cores: above ~2 is contended)")
    head = f"{'scenario':34} {'req/s':>9} {'of floor':>8} {'p50 ms':>8} {'p99 ms':>8} "
    print(
        head + f"{'errors':>7} {'SQL/req':>7} {'CPU ms':>7} {'DB ms':>6} {'drain s':>7} "
        f"{'sust/s':>7}  correct"
    )
    for r in results:
        stmts = "" if r.statements is None else str(r.statements)
        cpu = r.extra.get("cpu_ms")
        cpu_ms = "" if cpu is None else f"{cpu:.2f}"
        database = r.extra.get("db_cpu_ms")
        database_ms = "" if database is None else f"{database:.2f}"
        drain, sustained = r.extra.get("drain_s"), r.extra.get("sustained_rps")
        after = f"{'' if drain is None else f'{drain:.1f}':>7} {sustained or '':>7}"
        verdict = "yes" if r.correct else "NO: " + r.note
        print(
            f"{r.name:34} {r.rps:9.1f} {r.extra['of_floor']:8.2f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} "
            f"{r.errors:7d} {stmts:>7} {cpu_ms:>7} {database_ms:>6} {after}  {verdict}"
            + (f"  errors: {r.extra['errors']}" if r.errors else "")
        )
    paired = report.get("paired_with_floor")
    if paired and paired["reads"]:
        print(
            f"of the floor, paired: the median of {paired['pairs']} back-to-back pairs of "
            f"{paired['seconds']} s, the order swapped every pair"
        )
        for name, p in paired["reads"].items():
            print(
                f"  {name:22} {p['of_floor']:5.2f}  (pairs {p['ratios']}; "
                f"{p['rps']:.0f} against {p['floor_rps']:.0f} req/s)"
            )
    for key, label in (
        ("logins_vs_reads", "hashing on the server's core"),
        ("logins_vs_reads_hashing_unpinned", "hashing on either core"),
    ):
        if key in report:
            lv = report[key]
            print(
                f"single-article p99 alone {lv['read_p99_alone_ms']:.2f} ms, beside "
                f"{lv['logins_per_s']:.1f} logins/s {lv['read_p99_beside_logins_ms']:.2f} ms "
                f"(x{lv['ratio']:.2f}, the median of {lv['ratios']}; logins p50 "
                f"{lv['login_p50_ms']:.0f} ms), {label}"
            )
    print(
        f"RSS idle {report['rss_idle_kib'] / 1024:.1f} MiB, after load "
        f"{report['rss_after_load_kib'] / 1024:.1f} MiB, soak {report['rss_soak_kib']}"
    )
