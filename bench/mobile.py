"""bench/mobile: the mobile HTTP targets, each comparison measured in back-to-back pairs.

`.venv/bin/python -m bench.mobile --database-url postgresql+asyncpg://...` (a seeded database):

1. the bytes on the wire of the list and of a single article in each coding, and of their 304
   (bench/wire_bytes.py);
2. for each comparison, `--pairs` pairs of wrk runs of its two sides back to back (`--seconds`
   each after 1 s of warm-up, the order swapped every pair): the median of the pairs' req/s
   ratios, and of their ratios of server CPU time per request (the steadier of the two on a
   shared machine). Comparisons: the list with `Accept-Encoding: gzip, br` against without (the
   compression target: at least 0.8), and the 304 of the list and of the single article against
   their 200, without and with `Accept-Encoding` (the conditional target: at least 1.5).

The server runs as in bench/run: one worker pinned to CPU 0, wrk on CPU 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from bench.scenarios import ANY_TAG, GZIP_BR, Scenario
from bench.servers import asyncpg_dsn, cpu_seconds, pins, server_env, serving, wait_ready
from bench.wire_bytes import wire_bytes
from bench.wrk import lua_script, run_wrk


def comparisons(slug: str) -> list[tuple[str, Scenario, Scenario]]:
    """(name, base side, compared side): the ratio reported is compared / base."""
    article = f"/api/articles/{slug}"

    def get(name: str, path: str, *headers: dict[str, str]) -> Scenario:
        merged = {k: v for h in headers for k, v in h.items()}
        return Scenario(name, "GET", path, headers=merged)

    return [
        (
            "list: gzip,br / identity",
            get("list", "/api/articles"),
            get("list gzip+br", "/api/articles", GZIP_BR),
        ),
        (
            "list: 304 / 200",
            get("list", "/api/articles"),
            get("list 304", "/api/articles", ANY_TAG),
        ),
        (
            "list (gzip,br): 304 / 200",
            get("list gzip+br", "/api/articles", GZIP_BR),
            get("list 304 gzip+br", "/api/articles", GZIP_BR, ANY_TAG),
        ),
        (
            "single article: 304 / 200",
            get("single article", article),
            get("single article 304", article, ANY_TAG),
        ),
        (
            "single article (gzip,br): 304 / 200",
            get("single article gzip+br", article, GZIP_BR),
            get("single article 304 gzip+br", article, GZIP_BR, ANY_TAG),
        ),
    ]


def one_side(base: str, s: Scenario, seconds: int, cpus: str, pid: int) -> tuple[float, float]:
    """(req/s, server CPU ms per request) of one side, after 1 s of warm-up."""
    script = lua_script(s, None)
    run_wrk(base + s.path, script, 1, CONNECTIONS, cpus)
    before = cpu_seconds(pid)
    w = run_wrk(base + s.path, script, seconds, CONNECTIONS, cpus)
    return w["rps"], (cpu_seconds(pid) - before) * 1000 / max(w["requests"], 1)


def paired(
    base: str, sides: tuple[Scenario, Scenario], pairs: int, seconds: int, cpus: str, pid: int
) -> dict[str, Any]:
    """The median ratios (compared / base) of req/s, and of CPU per request (base / compared:
    above 1 when the compared side is cheaper), over `pairs` back-to-back pairs."""
    runs: list[list[tuple[float, float]]] = [[], []]
    for number in range(pairs):
        for side in (0, 1) if number % 2 == 0 else (1, 0):
            runs[side].append(one_side(base, sides[side], seconds, cpus, pid))
    rps = sorted(c[0] / b[0] for b, c in zip(*runs, strict=True))
    cpu = sorted(b[1] / c[1] for b, c in zip(*runs, strict=True))
    return {
        "rps_ratio": round(statistics.median(rps), 3),
        "rps_ratios": [round(r, 2) for r in rps],
        "cpu_ratio": round(statistics.median(cpu), 3),
        "rps": [round(statistics.median(r[0] for r in side)) for side in runs],
        "cpu_ms": [round(statistics.median(r[1] for r in side), 3) for side in runs],
    }


CONNECTIONS = 32


async def any_slug(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        slug: str = await conn.fetchval("SELECT slug FROM articles ORDER BY id DESC LIMIT 1")
        return slug
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.mobile", description=__doc__)
    parser.add_argument("--database-url", required=True, help="postgresql+asyncpg://... (seeded)")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5, help="seconds per side of a pair")
    parser.add_argument("--port", type=int, default=8767, help="Conduit's (the floor: port+1)")
    parser.add_argument("--output", default="", help="JSON file")
    args = parser.parse_args()
    pinned = pins(1)
    slug = asyncio.run(any_slug(asyncpg_dsn(args.database_url)))
    env = server_env(args.database_url, secrets.token_urlsafe(48))
    logs = Path(tempfile.mkdtemp(prefix="conduit-mobile-"))
    base = f"http://127.0.0.1:{args.port}"
    report: dict[str, Any] = {"pairs": args.pairs, "seconds": args.seconds}
    ports = (args.port, args.port + 1)
    with serving(args.database_url, env, pinned.server, ports, logs) as server:
        wait_ready(f"{base}/api/tags", 120)
        paths = {"list": "/api/articles", "single article": f"/api/articles/{slug}"}
        report["wire_bytes"] = wire_bytes(base, paths)
        print(f"\n{'comparison':38} {'req/s ratio':>11} {'CPU ratio':>9}  req/s  CPU ms/req")
        for name, *sides in comparisons(slug):
            p = paired(
                base, (sides[0], sides[1]), args.pairs, args.seconds, pinned.client, server.pid
            )
            report[name] = p
            print(
                f"{name:38} {p['rps_ratio']:11.2f} {p['cpu_ratio']:9.2f}  {p['rps']} "
                f"{p['cpu_ms']}  (req/s ratios {p['rps_ratios']})"
            )
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
