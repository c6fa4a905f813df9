"""A real `conduit serve` process on a free local port, always killed at the end.

The one way tests start a server to talk TCP to: tests/ops (workers, signals, logs, the
image's layout) and tests/e2e (a browser, a generated client).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.cli import CONDUIT, clean_environment
from tests.conftest import TEST_SECRET

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def live_server(database_url: str, tmp_path: Path, *args: str, **env: str) -> Iterator[LiveServer]:
    """`conduit serve *args` over an already migrated database, run in `tmp_path` (no stray
    .env), logging there; production settings with JSON logs, no rate limits and the jobs run
    in-process unless `env` overrides them, and none of the developer's settings inherited."""
    port = free_port()
    defaults = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "ENVIRONMENT": "production",
        "LOG_FORMAT": "json",
        "RATE_LIMIT_ENABLED": "false",
        # The server runs the background jobs itself, on PostgreSQL too.
        "JOBS_IN_PROCESS": "true",
    }
    environment = clean_environment(**{**defaults, **env})
    command = [str(CONDUIT), "serve", "--port", str(port), "--no-migrate", *args]
    with serving(command, port, tmp_path, environment, tmp_path / f"server-{port}.log") as server:
        yield server


@contextmanager
def serving(
    command: list[str], port: int, cwd: Path, env: Mapping[str, str], log: Path
) -> Iterator[LiveServer]:
    """Any command that serves Conduit on `port`, yielded once it answers, killed at the end."""
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            command,
            cwd=cwd,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: workers die with it
        )
    server = LiveServer(process, port, log)
    try:
        _wait_until_live(server)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _wait_until_live(server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited early:\n{server.log_text()}")
        try:
            if httpx.get(f"{server.url}/health/live", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server did not start within {STARTUP_SECONDS}s:\n{server.log_text()}")
