"""bench/run: measure Conduit against the floor on a seeded PostgreSQL database.

Starts `conduit serve` (N workers) and the floor (bench/floor) pinned to the server core(s),
checks every scenario's answer against the database, drives wrk pinned to the other core, and
prints req/s, p50, p99, errors and SQL statements per request. Results go to a JSON file too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from src.core.security import HASHING_NICENESS

ROOT = Path(__file__).resolve().parent.parent
LOGIN_EMAIL = "user1@example.com"
PASSWORD = "password"  # noqa: S105 - the seed's documented password (src/services/seed.py)
AFTER_WRITES = "after writes"
# The reads with a share-of-the-floor target (issue 4): paired with the floor, and measured
# again once the write scenarios have run.
TARGET_READS = ("list anonymous", "list authenticated", "feed", "single article")

Check = Callable[[int, Any], str | None]
ERROR_KINDS = ("connect", "read", "write", "status", "timeout")  # wrk's; status: not 2xx/3xx


@dataclass
class Scenario:
    name: str
    method: str
    path: str
    auth: bool = False
    body: str | None = None
    lua_request: str | None = None  # a custom wrk request() body (writes vary their target)
    expect_status: int = 200
    check: Check | None = None
    write: bool = False


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


# ---------------------------------------------------------------- helpers


def http(
    method: str, url: str, token: str | None = None, body: str | None = None
) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(  # noqa: S310 - our own local server
        url, data=body.encode() if body else None, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _ = http("GET", url)
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {url} did not come up")


def rss_kib(pid: int) -> int:
    """RSS of a process and its children (uvicorn workers), in KiB."""
    total = 0
    pids = [pid]
    command = ["pgrep", "-P", str(pid)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    pids += [int(p) for p in out.stdout.split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total


def lua_script(scenario: Scenario, token: str | None) -> str:
    headers = {"Content-Type": "application/json"}
    if scenario.auth and token:
        headers["Authorization"] = f"Token {token}"
    lines = [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    lines.append(f'wrk.method = "{scenario.method}"')
    if scenario.body:
        lines.append(f"wrk.body = [==[{scenario.body}]==]")
    if scenario.lua_request:
        lines.append("counter = 0")
        lines.append(f"request = function()\n counter = counter + 1\n{scenario.lua_request}\nend")
    lines.append(
        """done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,'
    .. '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end"""
    )
    return "\n".join(lines) + "\n"


def run_wrk(
    url: str, script: str, seconds: int, connections: int, cpus: str, rate_delay_ms: int = 0
) -> dict[str, Any]:
    if rate_delay_ms:
        script += f"delay = function() return {rate_delay_ms} end\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = handle.name
    try:
        command = ["taskset", "-c", cpus, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
        command += ["-s", path, url]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    finally:
        os.unlink(path)
    lines = [x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")]
    if not lines:
        raise SystemExit(f"wrk failed on {url}:\n{done.stdout}\n{done.stderr}\n{script}")
    line = lines[0]
    data: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    errors = sum(data[k] for k in ERROR_KINDS)
    data["errors"] = errors
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def warmed_wrk(
    url: str,
    script: str,
    warmup: int,
    seconds: int,
    connections: int,
    cpus: str,
    rate_delay_ms: int = 0,
) -> dict[str, Any]:
    """run_wrk after `warmup` seconds of the same load, whose numbers are dropped."""
    run_wrk(url, script, warmup, connections, cpus, rate_delay_ms)
    return run_wrk(url, script, seconds, connections, cpus, rate_delay_ms)


# ---------------------------------------------------------------- truth from the database


@dataclass
class Fixtures:
    total: int
    tag: str
    tag_count: int
    author: str
    author_count: int
    fan: str
    fan_count: int
    feed_count: int
    followed: set[str]
    slug: str
    slug_comments: int
    slugs: list[str]
    top_tag: str
    profile: str


async def load_fixtures(dsn: str) -> Fixtures:
    conn = await asyncpg.connect(dsn)
    try:
        q = conn.fetchval
        total = await q("SELECT count(*) FROM articles")
        tag = await q(
            "SELECT t.name FROM tags t JOIN article_tags x ON x.tag_id = t.id "
            "GROUP BY t.id ORDER BY count(*) DESC, t.name LIMIT 1 OFFSET 10"
        )
        top_tag = await q(
            "SELECT t.name FROM tags t JOIN article_tags x ON x.tag_id = t.id "
            "GROUP BY t.id ORDER BY count(*) DESC, t.name LIMIT 1"
        )
        tag_count = await q(
            "SELECT count(*) FROM article_tags x JOIN tags t ON t.id = x.tag_id WHERE t.name = $1",
            tag,
        )
        # The most prolific author, so that the page is a full 20 at every scale (user 2 has
        # ten articles at 10k and a hundred at 1M: their p99s would compare 10 rows with 20).
        author_id = await q(
            "SELECT author_id FROM articles GROUP BY author_id ORDER BY count(*) DESC, author_id "
            "LIMIT 1"
        )
        author = await q("SELECT username FROM users WHERE id = $1", author_id)
        author_count = await q("SELECT count(*) FROM articles WHERE author_id = $1", author_id)
        fan = await q("SELECT username FROM users WHERE id = 3")
        fan_count = await q("SELECT count(*) FROM favorites WHERE user_id = 3")
        feed_count = await q(
            "SELECT count(*) FROM articles WHERE author_id IN "
            "(SELECT followee_id FROM follows WHERE follower_id = 1)"
        )
        followed = {
            r[0]
            for r in await conn.fetch(
                "SELECT u.username FROM follows f JOIN users u ON u.id = f.followee_id "
                "WHERE f.follower_id = 1"
            )
        }
        row = await conn.fetchrow(
            "SELECT a.slug, count(c.id) AS n FROM articles a "
            "JOIN comments c ON c.article_id = a.id "
            "WHERE a.id = (SELECT max(article_id) FROM comments) GROUP BY a.slug"
        )
        slugs = [
            r[0] for r in await conn.fetch("SELECT slug FROM articles ORDER BY id DESC LIMIT 200")
        ]
        return Fixtures(
            total=total,
            tag=tag,
            tag_count=tag_count,
            author=author,
            author_count=author_count,
            fan=fan,
            fan_count=fan_count,
            feed_count=feed_count,
            followed=followed,
            slug=row["slug"],
            slug_comments=row["n"],
            slugs=slugs,
            top_tag=top_tag,
            profile=author,
        )
    finally:
        await conn.close()


def _page_check(expected_count: int, each: Callable[[dict[str, Any]], bool] | None = None) -> Check:
    def check(status: int, body: Any) -> str | None:
        if status != 200:
            return f"status {status}"
        if body["articlesCount"] != expected_count:
            return f"articlesCount {body['articlesCount']} != {expected_count} (count(*))"
        articles = body["articles"]
        if len(articles) != min(20, expected_count):
            return f"{len(articles)} articles on the page"
        stamps = [a["createdAt"] for a in articles]
        if stamps != sorted(stamps, reverse=True):
            return "not newest first"
        if each and not all(each(a) for a in articles):
            return "an article does not match the filter"
        return None

    return check


def scenarios(f: Fixtures) -> list[Scenario]:
    slugs_lua = "{" + ",".join(f'"{s}"' for s in f.slugs) + "}"
    create_body = (
        '\'{"article":{"title":"Bench article \' .. counter .. \' \' .. math.random(1e9) .. '
        '\'","description":"bench","body":"benchmark body",'
        '"tagList":["bench","dragons"]}}\''
    )
    return [
        Scenario("list anonymous", "GET", "/api/articles", check=_page_check(f.total)),
        Scenario(
            "list authenticated",
            "GET",
            "/api/articles",
            auth=True,
            check=_page_check(f.total, lambda a: isinstance(a["author"]["following"], bool)),
        ),
        Scenario(
            "list by tag",
            "GET",
            f"/api/articles?tag={f.tag}",
            check=_page_check(f.tag_count, lambda a: f.tag in a["tagList"]),
        ),
        Scenario(
            "list by author",
            "GET",
            f"/api/articles?author={f.author}",
            check=_page_check(f.author_count, lambda a: a["author"]["username"] == f.author),
        ),
        Scenario(
            "list by favorited",
            "GET",
            f"/api/articles?favorited={f.fan}",
            check=_page_check(f.fan_count),
        ),
        Scenario(
            "feed",
            "GET",
            "/api/articles/feed",
            auth=True,
            check=_page_check(
                f.feed_count,
                lambda a: a["author"]["following"] and a["author"]["username"] in f.followed,
            ),
        ),
        Scenario(
            "single article",
            "GET",
            f"/api/articles/{f.slug}",
            check=lambda s, b: (
                None
                if s == 200 and b["article"]["slug"] == f.slug and b["article"]["body"]
                else f"status {s}"
            ),
        ),
        Scenario(
            "comments",
            "GET",
            f"/api/articles/{f.slug}/comments",
            check=lambda s, b: (
                None
                if s == 200 and len(b["comments"]) == f.slug_comments
                else f"status {s} / {len(b.get('comments', []))} != {f.slug_comments} comments"
            ),
        ),
        Scenario(
            "tags",
            "GET",
            "/api/tags",
            check=lambda s, b: (
                None
                if s == 200 and b["tags"] and b["tags"][0] == f.top_tag
                else f"status {s}: first tag is not {f.top_tag}"
            ),
        ),
        Scenario(
            "profile",
            "GET",
            f"/api/profiles/{f.profile}",
            check=lambda s, b: (
                None if s == 200 and b["profile"]["username"] == f.profile else f"status {s}"
            ),
        ),
        Scenario(
            "create article",
            "POST",
            "/api/articles",
            auth=True,
            body=json.dumps(
                {"article": {"title": "Bench check", "description": "d", "body": "b"}},
                separators=(",", ":"),
            ),
            lua_request=f" return wrk.format(nil, nil, nil, {create_body})",
            expect_status=201,
            write=True,
        ),
        Scenario(
            "favorite/unfavorite",
            "POST",
            f"/api/articles/{f.slugs[0]}/favorite",
            auth=True,
            lua_request=(
                f" local slugs = {slugs_lua}\n"
                " local slug = slugs[(math.floor(counter / 2) % #slugs) + 1]\n"
                ' local method = (counter % 2 == 1) and "POST" or "DELETE"\n'
                ' return wrk.format(method, "/api/articles/" .. slug .. "/favorite")'
            ),
            write=True,
        ),
        Scenario(
            "login",
            "POST",
            "/api/users/login",
            body=json.dumps({"user": {"email": LOGIN_EMAIL, "password": PASSWORD}}),
            write=True,
        ),
    ]


# ---------------------------------------------------------------- statements per request


def count_statements(
    database_url: str, secret: str, token: str, chosen: list[Scenario]
) -> dict[str, int]:
    """Each scenario once through the real app in-process, counting every SQL statement
    (SQLAlchemy's events and the hot reads' asyncpg pool: src.main.recording_statements)."""
    from httpx import ASGITransport, AsyncClient

    from src.core.config import Settings
    from src.main import create_app, recording_statements, release_resources

    async def run() -> dict[str, int]:
        settings = Settings(
            database_url=database_url,
            secret_key=secret,
            rate_limit_enabled=False,
            log_level="WARNING",
        )
        app = create_app(settings)
        counts: dict[str, int] = {}
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://bench") as client:
            for s in chosen:
                headers = {"Content-Type": "application/json"}
                if s.auth:
                    headers["Authorization"] = f"Token {token}"
                await client.request(s.method, s.path, headers=headers, content=s.body)  # warm
                with recording_statements(app) as seen:
                    await client.request(s.method, s.path, headers=headers, content=s.body)
                counts[s.name] = len(seen)
        await release_resources(app)
        return counts

    return asyncio.run(run())


# ---------------------------------------------------------------- orchestration


@contextmanager
def process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)  # noqa: S603
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


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


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL as asyncpg (the floor, the fixtures) takes it."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def server_env(database_url: str, secret: str, log_level: str = "WARNING") -> dict[str, str]:
    """The environment of a benchmarked server (and, with an asyncpg DSN, of its floor)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret,
        # The benchmark measures serving, not the abuse limits (they would answer 429 to a
        # load generator) nor per-request access logging (--log-level INFO turns it back on).
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": log_level,
    }


def conduit_command(cpus: str, port: int, workers: int) -> list[str]:
    serve = ["taskset", "-c", cpus, str(ROOT / ".venv/bin/conduit"), "serve"]
    return [*serve, "--port", str(port), "--workers", str(workers)]


def floor_command(cpus: str, port: int) -> list[str]:
    floor = ["taskset", "-c", cpus, str(ROOT / ".venv/bin/uvicorn"), "bench.floor.app:app"]
    floor += ["--port", str(port), "--no-access-log", "--loop", "uvloop", "--http", "httptools"]
    return [*floor, "--log-level", "warning"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--database-url", required=True, help="postgresql+asyncpg://... (seeded)")
    parser.add_argument("--duration", type=int, default=15, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--floor-port", type=int, default=8766)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument(
        "--login-rate", type=float, default=20.0, help="logins/s beside the paced reads"
    )
    parser.add_argument(
        "--login-rounds", type=int, default=3, help="alone/beside rounds; the median is kept"
    )
    parser.add_argument("--soak", type=int, default=0, help="N x 60 s list runs for RSS growth")
    parser.add_argument(
        "--pairs", type=int, default=5, help="floor/read pairs per target read (0: none)"
    )
    parser.add_argument("--pair-duration", type=int, default=5, help="seconds per pair half")
    parser.add_argument("--log-level", default="WARNING", help="server LOG_LEVEL")
    parser.add_argument("--output", default="", help="JSON file (default bench/results-*.json)")
    args = parser.parse_args()

    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: run bench/run (it installs it) or apt-get install wrk")
    dsn = asyncpg_dsn(args.database_url)
    # With one worker, the server and the floor get core 0 and wrk core 1; with more workers
    # than that, the server cannot be kept off wrk's core on a 2-core machine: no pinning.
    cores = os.cpu_count() or 1
    server_cpus = "0" if args.workers == 1 and cores > 1 else f"0-{cores - 1}"
    client_cpus = str(cores - 1) if args.workers == 1 else f"0-{cores - 1}"
    secret = secrets.token_urlsafe(48)
    env = server_env(args.database_url, secret, args.log_level)
    logs = Path(tempfile.mkdtemp(prefix="conduit-bench-"))
    base = f"http://127.0.0.1:{args.port}"
    floor = f"http://127.0.0.1:{args.floor_port}"
    conduit_cmd = conduit_command(server_cpus, args.port, args.workers)
    floor_cmd = floor_command(server_cpus, args.floor_port)
    floor_env = {**env, "DATABASE_URL": dsn}

    fixtures = asyncio.run(load_fixtures(dsn))
    results: list[Result] = []
    report: dict[str, Any] = {
        "machine": machine(),
        "database": args.database_url.rsplit("/", 1)[-1],
        "articles": fixtures.total,
        "workers": args.workers,
        "connections": args.connections,
        "duration_s": args.duration,
        "server_cpus": server_cpus,
        "wrk_cpus": client_cpus,
    }
    with (
        process(conduit_cmd, env, logs / "conduit.log") as server,
        process(floor_cmd, floor_env, logs / "floor.log"),
    ):
        wait_ready(f"{base}/api/tags", 120)
        wait_ready(f"{floor}/api/articles?limit=1")
        status, raw = http("POST", f"{base}/api/users/login", body=scenarios(fixtures)[-1].body)
        if status != 200:
            raise SystemExit(f"login as {LOGIN_EMAIL} failed ({status}): is the database seeded?")
        token = json.loads(raw)["user"]["token"]
        report["rss_idle_kib"] = rss_kib(server.pid)

        # The floor: same bytes, then its req/s.
        ours = http("GET", f"{base}/api/articles")[1]
        theirs = http("GET", f"{floor}/api/articles")[1]
        report["floor_same_bytes"] = ours == theirs
        if ours != theirs:
            print("WARNING: the floor's bytes differ from Conduit's", file=sys.stderr)
        chosen = scenarios(fixtures)
        if args.only:
            wanted = {n.strip() for n in args.only.split(",")}
            chosen = [s for s in chosen if s.name in wanted]
        floor_scenario = Scenario("floor: list anonymous", "GET", "/api/articles")

        def measure_floor(name: str) -> Result:
            script = lua_script(floor_scenario, None)
            url = floor + "/api/articles"
            fw = warmed_wrk(url, script, args.warmup, args.duration, args.connections, client_cpus)
            p50, p99 = fw["p50_us"] / 1000, fw["p99_us"] / 1000
            same = bool(report["floor_same_bytes"])
            result = Result(name, fw["rps"], p50, p99, fw["errors"], fw["requests"], 1, same)
            results.append(result)
            return result

        floor_result = measure_floor(floor_scenario.name)
        floor_after: Result | None = None

        def measure(s: Scenario, name: str | None = None) -> None:
            status, raw = http(s.method, base + s.path, token if s.auth else None, s.body)
            problem = None
            if status != s.expect_status:
                problem = f"status {status}: {raw[:200]!r}"
            elif s.check is not None:
                problem = s.check(status, json.loads(raw))
            script = lua_script(s, token)
            url = base + s.path
            w = warmed_wrk(url, script, args.warmup, args.duration, args.connections, client_cpus)
            results.append(
                Result(
                    name or s.name,
                    w["rps"],
                    w["p50_us"] / 1000,
                    w["p99_us"] / 1000,
                    w["errors"],
                    w["requests"],
                    None,
                    problem is None,
                    problem or "",
                    # Which kind: a non-2xx answer ("status") or no answer within wrk's 2 s.
                    {"errors": {k: w[k] for k in ERROR_KINDS if w[k]}},
                )
            )

        for s in chosen:
            if not s.write:
                measure(s)

        def paired(s: Scenario) -> dict[str, Any]:
            """The floor and the read back to back, --pairs times, the order swapped every
            pair: the read's share of the floor from moments a few seconds apart, so that
            this machine's drift (the floor alone moves by a fifth between two minutes) lands
            on both sides. The median of the pairs' ratios is the verdict on the 70% target."""
            sides = {
                "floor": (floor + floor_scenario.path, lua_script(floor_scenario, None)),
                "read": (base + s.path, lua_script(s, token)),
            }
            rps: dict[str, list[float]] = {"floor": [], "read": []}
            for number in range(args.pairs):
                for side in ("floor", "read") if number % 2 == 0 else ("read", "floor"):
                    url, script = sides[side]
                    seconds = args.pair_duration
                    w = warmed_wrk(url, script, 1, seconds, args.connections, client_cpus)
                    rps[side].append(w["rps"])
            ratios = sorted(r / f for r, f in zip(rps["read"], rps["floor"], strict=True))
            return {
                "of_floor": round(statistics.median(ratios), 3),
                "ratios": [round(r, 2) for r in ratios],
                "rps": round(statistics.median(rps["read"]), 1),
                "floor_rps": round(statistics.median(rps["floor"]), 1),
            }

        if args.pairs:
            report["paired_with_floor"] = {
                "pairs": args.pairs,
                "seconds": args.pair_duration,
                "reads": {s.name: paired(s) for s in chosen if s.name in TARGET_READS},
            }
        for s in chosen:
            if s.write:
                measure(s)
        # The write scenarios just moved one user's and some tags' counter rows thousands of
        # times: the reads must not have slowed down (no VACUUM in between; docs/performance.md,
        # "Hot rows and MultiXacts").
        if any(s.write for s in chosen):
            # The floor too: its statement reads the same rows the writes just touched, so
            # the ratios after the writes compare Conduit with the floor on the same data.
            floor_after = measure_floor(f"{floor_scenario.name}, {AFTER_WRITES}")
            names = {s.name for s in chosen} & set(TARGET_READS)
            for s in scenarios(asyncio.run(load_fixtures(dsn))):  # the counts the writes moved
                if s.name in names:
                    measure(s, f"{s.name}, {AFTER_WRITES}")

        # Hashing stays off the event loop: a read's p99 alone, then beside 20 logins/s.
        if not args.only or "logins" in args.only:
            read = Scenario("single article", "GET", f"/api/articles/{fixtures.slug}")
            login = next(s for s in scenarios(fixtures) if s.name == "login")
            # The reads are paced (8 connections, each waiting 4 ms between requests: a fifth
            # to a third of capacity), so their p99 shows whether a login ever holds up the
            # event loop; a saturating reader would only show the core's time being shared.
            paced = lua_script(read, None) + "delay = function() return 4 end\n"
            # Logins at a fixed rate, open loop (bench/login_load.py): wrk's pause-after-answer
            # pacing would slow down exactly when hashing queues.
            login_command = [
                "taskset",
                "-c",
                client_cpus,
                sys.executable,
                "-m",
                "bench.login_load",
                base + login.path,
                login.body or "",
                f"--rate={args.login_rate}",
                f"--seconds={args.duration + 2}",
            ]

            def alone_then_beside() -> dict[str, Any]:
                alone = run_wrk(base + read.path, paced, args.duration, 8, client_cpus)
                logins = subprocess.Popen(  # noqa: S603 - our own command line
                    login_command, stdout=subprocess.PIPE, text=True, cwd=ROOT
                )
                time.sleep(1)
                beside = run_wrk(base + read.path, paced, args.duration, 8, client_cpus)
                lw = json.loads(logins.communicate()[0])
                return {
                    "read_p99_alone_ms": alone["p99_us"] / 1000,
                    "read_p99_beside_logins_ms": beside["p99_us"] / 1000,
                    "ratio": beside["p99_us"] / max(alone["p99_us"], 1),
                    "reads_per_s_alone": alone["rps"],
                    "reads_per_s_beside_logins": beside["rps"],
                    "logins_per_s": lw["logins_per_s"],
                    "login_errors": lw["errors"],
                    "login_p50_ms": lw["p50_ms"],
                    "login_p99_ms": lw["p99_ms"],
                }

            def rounds() -> dict[str, Any]:
                """Alone, then beside the logins, --login-rounds times: a read's p99 swings
                between runs on a noisy machine, so the round with the median ratio is
                reported, with every round's ratio beside it."""
                runs = [alone_then_beside() for _ in range(args.login_rounds)]
                runs.sort(key=lambda run: run["ratio"])
                return {**runs[len(runs) // 2], "ratios": [round(r["ratio"], 2) for r in runs]}

            # 1. Everything on the server's one core: the event loop, both hashing threads.
            report["logins_vs_reads"] = rounds()
            # 2. The event loop still pinned, the hashing threads (nice 10) free to run on
            # either core, as on an unpinned 2-core machine with one worker.
            if server_cpus != client_cpus:
                threads = hashing_threads(server.pid)
                for tid in threads:
                    os.sched_setaffinity(tid, range(cores))
                report["logins_vs_reads_hashing_unpinned"] = {
                    **rounds(),
                    "hashing_threads_moved": len(threads),
                }

        report["rss_after_load_kib"] = rss_kib(server.pid)
        soak = []
        for _ in range(args.soak):
            s = chosen[0]
            run_wrk(base + s.path, lua_script(s, token), 60, args.connections, client_cpus)
            soak.append(rss_kib(server.pid))
        report["rss_soak_kib"] = soak

    statements = count_statements(args.database_url, secret, token, chosen)
    for r in results:
        if r.name in statements:
            r.statements = statements[r.name]
    for r in results:
        # Each read against the floor measured on the same data: before or after the writes.
        base_rps = (
            floor_after if floor_after and r.name.endswith(AFTER_WRITES) else floor_result
        ).rps
        r.extra["of_floor"] = round(r.rps / base_rps, 3) if base_rps else None
    report["results"] = [asdict(r) for r in results]
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print_table(report, results)
    output = Path(args.output or ROOT / f"bench/results-{report['database']}-w{args.workers}.json")
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nJSON: {output}   server logs: {logs}")


def hashing_threads(pid: int) -> list[int]:
    """The server's password-hashing threads: the ones at HASHING_NICENESS."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        if int(fields[16]) == HASHING_NICENESS:  # field 19 of stat: nice
            found.append(int(task.name))
    return found


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
    print(head + f"{'errors':>7} {'SQL/req':>7}  correct")
    for r in results:
        stmts = "" if r.statements is None else str(r.statements)
        print(
            f"{r.name:34} {r.rps:9.1f} {r.extra['of_floor']:8.2f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} "
            f"{r.errors:7d} {stmts:>7}  {'yes' if r.correct else 'NO: ' + r.note}"
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


if __name__ == "__main__":
    main()
