"""How long after a publish's 201 a follower's feed shows the article (bench/README.md).

Starts `conduit serve` on a seeded database (its fan-out jobs in-process, as bench/run does;
`--worker separate`: a `conduit worker` process beside it instead, as on PostgreSQL in
production), then `--count` times: user1 publishes, and one of its followers among the writers
(bench/writers.py) reads its feed's first article every `--poll-ms` until it is the new one.
Prints p50/p99/max of publish-to-visible and of the publish itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg

from bench.servers import (
    ROOT,
    asyncpg_dsn,
    http,
    pins,
    process,
    server_env,
    serving,
    sign_in,
    wait_ready,
)
from bench.writers import open_sessions


async def _follower_index(dsn: str) -> int:
    """The 0-based index among the writers (users by id) of one who follows user1."""
    conn = await asyncpg.connect(dsn)
    try:
        follower = await conn.fetchval(
            "SELECT min(follower_id) FROM follows WHERE followee_id = 1 AND follower_id <= 200"
        )
        if follower is None:
            raise SystemExit("none of users 2-200 follows user1: seed with more follows")
        return int(await conn.fetchval("SELECT count(*) FROM users WHERE id < $1", follower))
    finally:
        await conn.close()


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.visibility", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--poll-ms", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=8775)
    parser.add_argument("--worker", choices=("in-process", "separate"), default="in-process")
    options = parser.parse_args()
    dsn = asyncpg_dsn(options.database_url)
    secret = secrets.token_urlsafe(48)
    env = server_env(options.database_url, secret)
    logs = Path(tempfile.mkdtemp(prefix="conduit-visibility-"))
    ports = (options.port, options.port + 1)
    separate = options.worker == "separate"
    if separate:
        env["JOBS_IN_PROCESS"] = "false"
    worker = [str(ROOT / ".venv/bin/conduit"), "worker"] if separate else ["true"]
    with (
        serving(options.database_url, env, pins(1).server, ports, logs),
        process(worker, env, logs / "worker.log"),
    ):
        base = f"http://127.0.0.1:{options.port}"
        wait_ready(f"{base}/api/tags", 120)
        _, author = sign_in(base)
        reader = open_sessions(options.database_url, secret)[asyncio.run(_follower_index(dsn))]
        visible, publish = [], []
        for i in range(options.count):
            body = {
                "article": {
                    "title": f"Visible {i} {secrets.token_hex(4)}",
                    "description": "d",
                    "body": "b",
                }
            }
            started = time.monotonic()
            status, raw = http("POST", f"{base}/api/articles", author, json.dumps(body))
            answered = time.monotonic()
            if status != 201:
                raise SystemExit(f"publish: status {status}: {raw[:200]!r}")
            slug = json.loads(raw)["article"]["slug"]
            publish.append((answered - started) * 1000)
            while True:
                _, page = http("GET", f"{base}/api/articles/feed?limit=1", reader)
                articles = json.loads(page)["articles"]
                if articles and articles[0]["slug"] == slug:
                    visible.append((time.monotonic() - answered) * 1000)
                    break
                if time.monotonic() - answered > options.timeout:
                    raise SystemExit(f"not visible after {options.timeout} s")
                time.sleep(options.poll_ms / 1000)
    for name, values in (("publish (201)", publish), ("201 -> visible", visible)):
        print(
            f"{name:16} p50 {statistics.median(values):8.1f} ms  p99 "
            f"{_quantile(values, 0.99):8.1f} ms  max {max(values):8.1f} ms  (n={len(values)})"
        )


if __name__ == "__main__":
    main()
