"""Rate limits: per IP and per account on login, registration and refresh; per user on writes;
429 with Retry-After; recovery when the window ends; one count across workers with Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from src.core.config import Settings
from src.core.ratelimit import MemoryRateLimiter
from src.main import create_app, release_resources
from tests.api.security_helpers import log_in, refresh, sign_up

REDIS_URL = "redis://127.0.0.1:6379/15"


def _limited(settings: Settings, **limits: Any) -> Settings:
    values = {
        "rate_limit_enabled": True,
        # Fixed windows: an hour keeps a window boundary from falling inside a test.
        "rate_limit_window_seconds": 3600,
        "rate_limit_login_per_ip": 1000,
        "rate_limit_login_per_account": 1000,
        "rate_limit_register_per_ip": 1000,
        "rate_limit_refresh_per_ip": 1000,
        "rate_limit_refresh_per_session": 1000,
        "rate_limit_writes_per_user": 1000,
        **limits,
    }
    return settings.model_copy(update=values)


@pytest.fixture
async def limited() -> AsyncIterator[Callable[..., Any]]:
    """Builds an app with the given limits over the test database; closes them after."""
    apps: list[FastAPI] = []

    def build(settings: Settings, ip: str = "203.0.113.7", **limits: Any) -> AsyncClient:
        app = create_app(_limited(settings, **limits))
        apps.append(app)
        transport = ASGITransport(app=app, client=(ip, 4321))
        return AsyncClient(transport=transport, base_url="http://conduit.test")

    yield build
    for app in apps:
        await app.state.rate_limiter.close()
        await release_resources(app)


def _assert_429(response: Any) -> None:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 3600
    assert response.json() == {
        "errors": {"body": [f"too many requests; retry after {retry_after} seconds"]}
    }


async def test_login_is_limited_per_account(settings: Settings, limited: Any) -> None:
    async with limited(settings, rate_limit_login_per_account=3) as client:
        jake = await sign_up(client)
        for _ in range(3):
            assert (await log_in(client, jake.email, "wrong-password")).status_code == 401

        blocked = await log_in(client, jake.email, jake.password)  # even the right password

        _assert_429(blocked)
        other = await sign_up(client)
        assert (await log_in(client, other.email, other.password)).status_code == 200


async def test_login_is_limited_per_ip(settings: Settings, limited: Any) -> None:
    async with limited(settings, rate_limit_login_per_ip=2) as client:
        for i in range(2):
            assert (await log_in(client, f"guess{i}@example.com", "x")).status_code == 401

        _assert_429(await log_in(client, "guess9@example.com", "x"))

    # Another client IP has its own budget.
    async with limited(settings, ip="198.51.100.1", rate_limit_login_per_ip=2) as elsewhere:
        assert (await log_in(elsewhere, "guess0@example.com", "x")).status_code == 401


async def test_registration_is_limited_per_ip(settings: Settings, limited: Any) -> None:
    async with limited(settings, rate_limit_register_per_ip=2) as client:
        await sign_up(client)
        await sign_up(client)

        response = await client.post(
            "/api/users",
            json={"user": {"username": "late", "email": "late@example.com", "password": "p" * 9}},
        )

        _assert_429(response)


async def test_refresh_is_limited(settings: Settings, limited: Any) -> None:
    async with limited(settings, rate_limit_refresh_per_ip=2) as client:
        jake = await sign_up(client)
        token = jake.refresh_token
        for _ in range(2):
            token = (await refresh(client, token)).json()["user"]["refreshToken"]

        _assert_429(await refresh(client, token))


async def test_writes_are_limited_per_user(settings: Settings, limited: Any) -> None:
    async with limited(settings, rate_limit_writes_per_user=2) as client:
        jake, ann = await sign_up(client), await sign_up(client)
        for bio in ("one", "two"):
            response = await client.put(
                "/api/user", json={"user": {"bio": bio}}, headers=jake.headers
            )
            assert response.status_code == 200

        blocked = await client.put("/api/user", json={"user": {"bio": "3"}}, headers=jake.headers)

        _assert_429(blocked)
        assert (await client.get("/api/user", headers=jake.headers)).status_code == 200  # reads
        assert (await client.get("/api/user", headers=jake.headers)).json()["user"]["bio"] == "two"
        ok = await client.put("/api/user", json={"user": {"bio": "x"}}, headers=ann.headers)
        assert ok.status_code == 200  # another user's budget


async def test_a_limit_recovers_when_its_window_ends(settings: Settings, limited: Any) -> None:
    async with limited(settings, rate_limit_login_per_ip=1, rate_limit_window_seconds=2) as client:
        await asyncio.sleep(2 - time.time() % 2 + 0.01)  # start right after a window opens
        await log_in(client, "a@example.com", "x")
        exhausted = await log_in(client, "a@example.com", "x")
        assert exhausted.status_code == 429
        assert exhausted.headers["retry-after"] in {"1", "2"}

        await asyncio.sleep(int(exhausted.headers["retry-after"]) + 0.05)

        assert (await log_in(client, "a@example.com", "x")).status_code == 401


async def test_the_client_ip_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(
    settings: Settings, limited: Any
) -> None:
    # The app sees every request from 10.0.0.5, a trusted proxy: clients are told apart by
    # the address the proxy appends.
    async with limited(
        settings, ip="10.0.0.5", rate_limit_login_per_ip=1, trusted_proxies=["10.0.0.0/8"]
    ) as client:
        first = await log_in(client, "a@example.com", "x")
        spoofed_left = {"X-Forwarded-For": "1.1.1.1, 192.0.2.10"}
        second = await client.post(
            "/api/users/login",
            json={"user": {"email": "a@example.com", "password": "x"}},
            headers=spoofed_left,
        )
        same_client = await client.post(
            "/api/users/login",
            json={"user": {"email": "a@example.com", "password": "x"}},
            headers={"X-Forwarded-For": "9.9.9.9, 192.0.2.10"},  # forged left part ignored
        )

    assert first.status_code == 401
    assert second.status_code == 401
    assert same_client.status_code == 429

    # Without the trusted-proxy setting, X-Forwarded-For is ignored entirely.
    async with limited(settings, ip="10.0.0.6", rate_limit_login_per_ip=1) as direct:
        await log_in(direct, "a@example.com", "x")
        response = await direct.post(
            "/api/users/login",
            json={"user": {"email": "a@example.com", "password": "x"}},
            headers={"X-Forwarded-For": "192.0.2.99"},
        )
    assert response.status_code == 429


async def test_the_in_process_limiter_is_used_without_redis(settings: Settings) -> None:
    app = create_app(_limited(settings))

    assert isinstance(app.state.rate_limiter, MemoryRateLimiter)
    await release_resources(app)


def _redis_reachable() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_reachable(), reason="Redis is not reachable at 127.0.0.1:6379")
async def test_two_workers_sharing_redis_enforce_one_limit(settings: Settings) -> None:
    # Two app instances (two workers) with their own processes' memory, one Redis.
    shared = _limited(settings, redis_url=REDIS_URL, rate_limit_login_per_account=4)
    worker_a, worker_b = create_app(shared), create_app(shared)
    email = f"{uuid.uuid4().hex}@example.com"
    statuses = []
    try:
        async with (
            AsyncClient(transport=ASGITransport(app=worker_a), base_url="http://a") as a,
            AsyncClient(transport=ASGITransport(app=worker_b), base_url="http://b") as b,
        ):
            for client in (a, b, a, b, a, b):
                statuses.append((await log_in(client, email, "wrong")).status_code)
    finally:
        for app in (worker_a, worker_b):
            await app.state.rate_limiter.close()
            await release_resources(app)

    # Either worker alone saw only 3 attempts (under the limit of 4): only a shared count
    # refuses the 5th and 6th.
    assert statuses == [401, 401, 401, 401, 429, 429]


async def test_an_unreachable_redis_lets_requests_through(settings: Settings, limited: Any) -> None:
    async with limited(
        settings, redis_url="redis://127.0.0.1:1/0", rate_limit_login_per_ip=1
    ) as client:
        assert (await log_in(client, "a@example.com", "x")).status_code == 401
        assert (await log_in(client, "a@example.com", "x")).status_code == 401
