"""A live `conduit serve` on a free local port, over the session's freshly migrated database.

Tests here talk TCP to a real server process (a browser, a generated client); each module is
marked `e2e`: `./scripts/test -m e2e` runs only them, `-m "not e2e"` everything else.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET

CONDUIT = Path(sys.executable).with_name("conduit")
STARTUP_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"conduit serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/api/tags", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"conduit serve did not answer within {STARTUP_SECONDS}s")


@pytest.fixture(scope="session")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real server process; tables are emptied after each test as elsewhere."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "ENVIRONMENT": "development",
        "DOCS_ENABLED": "true",
    }
    log = tmp_path_factory.mktemp("server") / "conduit.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            [str(CONDUIT), "serve", "--port", str(port), "--no-migrate"],
            cwd=tmp_path_factory.mktemp("cwd"),  # no stray .env
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            _wait_until_up(url, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; server log:\n{log.read_text()}") from None
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
