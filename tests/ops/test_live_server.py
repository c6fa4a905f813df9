"""A real `conduit serve`: /metrics across two workers, and a graceful SIGTERM."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.factories import register
from tests.live import live_server

SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$", re.MULTILINE)


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    found = []
    for match in SAMPLE.finditer(text):
        if match["name"] == name:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
            found.append((labels, float(match["value"])))
    return found


def worker_pids(url: str) -> set[str]:
    with httpx.Client(base_url=url, timeout=10) as http:
        text = http.get("/metrics").text
    return {labels["pid"] for labels, _ in samples(text, "conduit_app_info")}


def test_metrics_from_two_workers_are_aggregated(database_url: str, tmp_path: Path) -> None:
    with live_server(database_url, tmp_path, "--workers", "2") as server:
        deadline = time.monotonic() + 90  # the second worker may start later than the first
        while len(worker_pids(server.url)) < 2:
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.5)
        requests = 40
        for _ in range(requests):  # a new connection each time, so both workers take some
            with httpx.Client(base_url=server.url, timeout=10) as http:
                assert http.get("/api/tags").status_code == 200

        # Whichever worker answers the scrape, it reports both workers and every request.
        for _ in range(6):
            with httpx.Client(base_url=server.url, timeout=10) as http:
                text = http.get("/metrics").text
            assert len({labels["pid"] for labels, _ in samples(text, "conduit_app_info")}) == 2
            tags = [
                value
                for labels, value in samples(text, "conduit_http_requests_total")
                if labels["route"] == "/api/tags" and labels["status"] == "200"
            ]
            assert sum(tags) == requests
            assert samples(text, "conduit_http_request_duration_seconds_bucket")


@asynccontextmanager
async def database_lock(database_url: str) -> AsyncIterator[None]:
    """Hold a real lock that makes a write request wait until the block exits."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # the server's BEGIN IMMEDIATE now waits (busy timeout)
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("BEGIN")
            await conn.exec_driver_sql("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            yield
            await conn.exec_driver_sql("ROLLBACK")
    finally:
        await engine.dispose()


async def in_progress(url: str) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{url}/metrics")).text
    return sum(value for _, value in samples(text, "conduit_http_requests_in_progress"))


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


async def test_sigterm_lets_the_in_flight_request_finish(database_url: str, tmp_path: Path) -> None:
    with live_server(database_url, tmp_path, SHUTDOWN_GRACE_SECONDS="30") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            # A write waits for the lock on both databases (on SQLite, reads take a WAL
            # snapshot and wait for nobody).
            token = (await register(http, "sigterm")).token
            headers = {"X-Request-ID": "slow-request-1", "Authorization": f"Token {token}"}
            async with database_lock(database_url):
                slow = asyncio.create_task(
                    http.post("/api/profiles/nobody/follow", headers=headers)
                )
                for _ in range(100):  # wait until it is really in flight (blocked on the lock)
                    if await in_progress(server.url) >= 2:  # it, and this scrape
                        break
                    await asyncio.sleep(0.1)
                else:
                    pytest.fail("the slow request never started")
                server.process.send_signal(signal.SIGTERM)
                for _ in range(50):
                    if refuses_connections(server.port):
                        break
                    await asyncio.sleep(0.1)
                assert refuses_connections(server.port)  # no new connections...
                assert server.process.poll() is None  # ...but still serving the one in flight
                assert not slow.done()
            response = await slow  # the lock is released: the request completes
        assert response.status_code == 404  # a real answer from the database, after the wait
        assert response.json()["errors"]
        assert response.headers["X-Request-ID"] == "slow-request-1"
        # uvicorn re-raises the signal once it has shut down cleanly: "killed by SIGTERM".
        assert await asyncio.to_thread(server.process.wait, 30) in (0, -signal.SIGTERM)

    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("request_id") == "slow-request-1"]
    assert access and access[-1]["status"] == 404
    assert access[-1]["route"] == "/api/profiles/{username}/follow"
    assert any(line["message"] == "database pools closed" for line in lines)
