"""The benchmarked servers: Conduit and its floor started pinned, reached, and watched (RSS)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.scenarios import LOGIN_EMAIL, PASSWORD

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Pins:
    """The CPUs (taskset lists) of the servers and of the load generator."""

    server: str
    client: str


def pins(workers: int) -> Pins:
    """With one worker, the server and the floor get core 0 and wrk core 1; with more workers
    than that, the server cannot be kept off wrk's core on a 2-core machine: no pinning."""
    cores = os.cpu_count() or 1
    server = "0" if workers == 1 and cores > 1 else f"0-{cores - 1}"
    client = str(cores - 1) if workers == 1 else f"0-{cores - 1}"
    return Pins(server, client)


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


def sign_in(base: str) -> tuple[int, str]:
    """(status, token) of the seed's first user signing in; the token is "" on a failure."""
    body = json.dumps({"user": {"email": LOGIN_EMAIL, "password": PASSWORD}})
    status, raw = http("POST", f"{base}/api/users/login", body=body)
    return status, json.loads(raw)["user"]["token"] if status == 200 else ""


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its children (uvicorn workers), in seconds:
    per request, it is what the server spent, whatever else the machine was running."""
    pids = [pid]
    command = ["pgrep", "-P", str(pid)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    pids += [int(p) for p in out.stdout.split()]
    ticks = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds() -> float | None:
    """User plus system CPU time of the local PostgreSQL, in seconds: its postmaster's own and
    its reaped backends' (cutime, cstime), and its live processes'. A backend that exits
    between two readings is counted in the postmaster's once reaped. None without one (a
    database elsewhere): per request, what the database spent on the same two cores."""
    command = ["pgrep", "-o", "-x", "postgres"]
    out = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if not out.stdout.split():
        return None
    postmaster = int(out.stdout.split()[0])
    command = ["pgrep", "-P", str(postmaster)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    ticks = 0
    for p in [postmaster, *(int(c) for c in out.stdout.split())]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        if p == postmaster:
            ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: reaped backends
    return ticks / os.sysconf("SC_CLK_TCK")


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


@contextmanager
def serving(
    database_url: str,
    env: dict[str, str],
    cpus: str,
    ports: tuple[int, int],
    logs: Path,
    *,
    workers: int = 1,
    label: str = "",
) -> Iterator[subprocess.Popen[bytes]]:
    """Conduit (on ports[0]) and its floor (ports[1]) on one database until the block ends,
    logging to logs/conduit[-label].log and logs/floor[-label].log. Yields Conduit's process."""
    suffix = f"-{label}" if label else ""
    floor_env = {**env, "DATABASE_URL": asyncpg_dsn(database_url)}
    conduit = conduit_command(cpus, ports[0], workers)
    with (
        process(conduit, env, logs / f"conduit{suffix}.log") as server,
        process(floor_command(cpus, ports[1]), floor_env, logs / f"floor{suffix}.log"),
    ):
        yield server


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
        # The feeds' fan-out runs as jobs: the server runs them itself, so its cost is measured.
        "JOBS_IN_PROCESS": "true",
        # Mail (verification links for accounts the scenarios register) goes to a folder of its
        # own, not to ./mail-outbox in the checkout.
        "MAIL_OUTBOX_DIR": tempfile.mkdtemp(prefix="conduit-bench-mail-"),
    }


def conduit_command(cpus: str, port: int, workers: int) -> list[str]:
    serve = ["taskset", "-c", cpus, str(ROOT / ".venv/bin/conduit"), "serve"]
    return [*serve, "--port", str(port), "--workers", str(workers)]


def floor_command(cpus: str, port: int) -> list[str]:
    floor = ["taskset", "-c", cpus, str(ROOT / ".venv/bin/uvicorn"), "bench.floor.app:app"]
    floor += ["--port", str(port), "--no-access-log", "--loop", "uvloop", "--http", "httptools"]
    return [*floor, "--log-level", "warning"]
