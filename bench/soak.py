"""Soak run: minutes of mixed reads and writes at a steady rate against a live server.

Starts `conduit serve` on a fresh database (or uses --url), seeds a few users and articles, then
sends requests on a fixed schedule (open loop: the rate does not drop when the server slows
down). Every window it prints the requests sent, errors, p50/p99 latency and the server's RSS.
It fails (exit 1) on any error, or when the server's memory keeps growing after the warm-up.

    .venv/bin/python -m bench.soak                         # 5 minutes on SQLite
    .venv/bin/python -m bench.soak --database postgres     # on the local PostgreSQL
    .venv/bin/python -m bench.soak --duration 60 --rate 50 # shorter, faster

Not part of CI: it takes minutes by design.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
# Memory may settle after the warm-up, never keep climbing: the last window may be at most
# this much above the first window after warm-up.
RSS_GROWTH_LIMIT = 1.20


@dataclass
class Window:
    started: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: int = 0


@dataclass
class Actor:
    username: str
    headers: dict[str, str]
    slugs: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _fresh_postgres(base: str) -> str:
    out = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [str(VENV_BIN / "python"), str(ROOT / "scripts/fresh_database.py"), base, "conduit_soak"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@contextlib.contextmanager
def _server(database_url: str, log: Path) -> Any:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": uuid.uuid4().hex * 2}
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            [str(VENV_BIN / "conduit"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            for _ in range(300):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/api/tags", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise SystemExit(f"server did not start; see {log}")
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            process.wait(timeout=10)


class Soak:
    def __init__(self, http: httpx.AsyncClient, actors: list[Actor], seed: int) -> None:
        self.http = http
        self.actors = actors
        self.random = random.Random(seed)
        self.window = Window(time.monotonic())

    async def _call(self, method: str, path: str, ok: set[int], **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.window.errors.append(f"{method} {path}: {type(exc).__name__}")
            return None
        window = self.window  # the window the request finished in
        window.latencies.append(time.perf_counter() - started)
        if response.status_code not in ok:
            window.errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            return None
        return response.json() if response.content else None

    def _someone(self) -> Actor:
        return self.random.choice(self.actors)

    def _some_slug(self) -> str | None:
        slugs = [slug for actor in self.actors for slug in actor.slugs]
        return self.random.choice(slugs) if slugs else None

    async def create(self, actor: Actor) -> None:
        tag = f"t{self.random.randrange(12)}"
        body = {
            "article": {
                "title": f"Soak {uuid.uuid4().hex[:6]}",
                "description": "steady",
                "body": "x" * self.random.randrange(10, 2000),
                "tagList": [tag, "soak"],
            }
        }
        data = await self._call("POST", "/api/articles", {201}, json=body, headers=actor.headers)
        if data:
            actor.slugs.append(data["article"]["slug"])

    async def one(self) -> None:
        """One request, drawn from a mix that is mostly reads, like real traffic."""
        roll = self.random.random()
        actor = self._someone()
        slug = self._some_slug()
        if roll < 0.30:
            offset = self.random.randrange(0, 60)
            await self._call("GET", f"/api/articles?limit=20&offset={offset}", {200})
        elif roll < 0.40:
            tag = f"t{self.random.randrange(12)}"
            await self._call("GET", f"/api/articles?tag={tag}", {200}, headers=actor.headers)
        elif roll < 0.48:
            await self._call("GET", "/api/articles/feed", {200}, headers=actor.headers)
        elif roll < 0.58 and slug:
            await self._call("GET", f"/api/articles/{slug}", {200, 404}, headers=actor.headers)
        elif roll < 0.63 and slug:
            await self._call("GET", f"/api/articles/{slug}/comments", {200, 404})
        elif roll < 0.67:
            await self._call("GET", "/api/tags", {200})
        elif roll < 0.70:
            await self._call("GET", f"/api/profiles/{self._someone().username}", {200})
        elif roll < 0.75:
            await self.create(actor)
        elif roll < 0.83 and slug:
            method = self.random.choice(["POST", "DELETE"])
            path = f"/api/articles/{slug}/favorite"
            await self._call(method, path, {200, 404}, headers=actor.headers)
        elif roll < 0.88 and slug:
            body = {"comment": {"body": "soak comment"}}
            path = f"/api/articles/{slug}/comments"
            await self._call("POST", path, {201, 404}, json=body, headers=actor.headers)
        elif roll < 0.93:
            other = self._someone()
            if other is not actor:
                method = self.random.choice(["POST", "DELETE"])
                path = f"/api/profiles/{other.username}/follow"
                await self._call(method, path, {200}, headers=actor.headers)
        elif roll < 0.97 and actor.slugs:
            mine = self.random.choice(actor.slugs)
            body = {"article": {"description": f"edited {self.random.random()}"}}
            path = f"/api/articles/{mine}"
            await self._call("PUT", path, {200}, json=body, headers=actor.headers)
        elif len(actor.slugs) > 3:
            mine = actor.slugs.pop(self.random.randrange(len(actor.slugs)))
            await self._call("DELETE", f"/api/articles/{mine}", {204, 200}, headers=actor.headers)
        else:
            await self._call("GET", "/api/user", {200}, headers=actor.headers)


async def _seed(http: httpx.AsyncClient, users: int) -> list[Actor]:
    async def register(index: int) -> Actor:
        name = f"soak{index}_{uuid.uuid4().hex[:6]}"
        body = {"user": {"username": name, "email": f"{name}@example.com", "password": "pw-" * 4}}
        response = await http.post("/api/users", json=body)
        response.raise_for_status()
        return Actor(name, {"Authorization": f"Token {response.json()['user']['token']}"})

    actors = list(await asyncio.gather(*(register(i) for i in range(users))))
    return actors


def _p(values: list[float], q: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


async def soak(url: str, pid: int | None, args: argparse.Namespace) -> int:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        actors = await _seed(http, args.users)
        runner = Soak(http, actors, args.seed)
        for actor in actors:
            for _ in range(3):
                await runner.create(actor)
        runner.window = Window(time.monotonic())
        print(f"soak: {url}, {args.rate} req/s for {args.duration}s, seed {args.seed}")
        print(f"{'t(s)':>5} {'sent':>6} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8}")
        windows: list[tuple[float, Window, float | None]] = []
        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        interval = 1 / args.rate
        sent = 0
        while (now := time.monotonic()) - start < args.duration:
            if now - runner.window.started >= args.window:
                windows.append((now - start, runner.window, _rss_mib(pid)))
                _print_window(*windows[-1])
                runner.window = Window(now)
            task = asyncio.create_task(runner.one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            runner.window.sent += 1
            sent += 1
            # Fixed schedule: the next request is due at start + sent * interval.
            await asyncio.sleep(max(0.0, start + sent * interval - time.monotonic()))
        await asyncio.gather(*tasks)
        windows.append((time.monotonic() - start, runner.window, _rss_mib(pid)))
        _print_window(*windows[-1])
    return _verdict(windows, args)


def _print_window(at: float, window: Window, rss: float | None) -> None:
    rss_text = f"{rss:8.1f}" if rss is not None else "       -"
    print(
        f"{at:5.0f} {window.sent:6d} {len(window.errors):6d} {_p(window.latencies, 50):8.1f} "
        f"{_p(window.latencies, 99):8.1f} {rss_text}",
        flush=True,
    )
    for error in window.errors[:5]:
        print(f"      error: {error}")


def _verdict(windows: list[tuple[float, Window, float | None]], args: argparse.Namespace) -> int:
    errors = sum(len(w.errors) for _, w, _ in windows)
    total = sum(len(w.latencies) for _, w, _ in windows)
    everything = [lat for _, w, _ in windows for lat in w.latencies]
    print(
        f"total: {total} responses, {errors} errors, p50 {_p(everything, 50):.1f} ms, "
        f"p99 {_p(everything, 99):.1f} ms, {total / max(windows[-1][0], 1):.1f} req/s"
    )
    failed = errors > 0
    rss = [r for _, _, r in windows if r is not None]
    warm = max(1, int(args.warmup / args.window))
    if len(rss) > warm:
        baseline, last = rss[warm - 1], rss[-1]
        print(
            f"RSS after warm-up {baseline:.1f} MiB -> end {last:.1f} MiB ({last / baseline:.2f}x)"
        )
        if last > baseline * RSS_GROWTH_LIMIT:
            print(f"FAIL: RSS grew more than {RSS_GROWTH_LIMIT:.2f}x after warm-up")
            failed = True
    if errors:
        print("FAIL: errors during the soak run")
    print("soak: FAILED" if failed else "soak: OK")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=300, help="seconds (default 300)")
    parser.add_argument("--rate", type=float, default=40, help="requests per second")
    parser.add_argument("--window", type=float, default=30, help="report every N seconds")
    parser.add_argument("--warmup", type=float, default=60, help="seconds before RSS baseline")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seed", type=int, default=random.randrange(2**32))
    parser.add_argument("--database", default="sqlite", help="sqlite, postgres or a URL")
    parser.add_argument("--url", help="soak an already running server instead (no RSS)")
    args = parser.parse_args()
    if args.url:
        return asyncio.run(soak(args.url, None, args))
    with tempfile.TemporaryDirectory() as work:
        if args.database == "sqlite":
            database_url = f"sqlite+aiosqlite:///{work}/soak.db"
        elif args.database == "postgres":
            database_url = _fresh_postgres(os.environ.get("POSTGRES_URL", DEFAULT_POSTGRES))
        else:
            database_url = args.database
        print(f"database: {database_url.split('@')[-1]}")
        with _server(database_url, Path(work) / "server.log") as (url, pid):
            return asyncio.run(soak(url, pid, args))


if __name__ == "__main__":
    raise SystemExit(main())
