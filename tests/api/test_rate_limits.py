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

from src.api.asgi import client_ip as client_ip_module
from src.core import ratelimit
from src.core.config import Settings
from src.core.ratelimit import MemoryRateLimiter
from src.main import create_app, release_resources
from tests.api.security_helpers import refresh
from tests.factories import log_in, register, sign_in
from tests.ops.tcp_proxy import SilentServer

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
        jake = await register(client)
        for _ in range(3):
            assert (await log_in(client, jake.email, "wrong-password")).status_code == 401

        blocked = await log_in(client, jake.email, jake.password)  # even the right password

        _assert_429(blocked)
        other = await register(client)
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
        await register(client)
        await register(client)

        response = await client.post(
            "/api/users",
            json={"user": {"username": "late", "email": "late@example.com", "password": "p" * 9}},
        )

        _assert_429(response)


async def test_refresh_is_limited(settings: Settings, limited: Any) -> None:
    async with limited(settings, rate_limit_refresh_per_ip=2) as client:
        jake = await register(client)
        token = jake.refresh_token
        for _ in range(2):
            token = (await refresh(client, token)).json()["user"]["refreshToken"]

        _assert_429(await refresh(client, token))


async def test_refresh_is_limited_per_session_across_its_rotations(
    settings: Settings, limited: Any
) -> None:
    """Each refresh token works once: the count is the session's, whichever token it shows."""
    async with limited(settings, rate_limit_refresh_per_session=2) as client:
        jake = await register(client)
        laptop = await sign_in(client, jake)
        token = jake.refresh_token
        for _ in range(2):
            token = (await refresh(client, token)).json()["user"]["refreshToken"]

        _assert_429(await refresh(client, token))

        assert (await refresh(client, laptop.refresh_token)).status_code == 200  # its own count


async def test_writes_are_limited_per_user(settings: Settings, limited: Any) -> None:
    async with limited(settings, rate_limit_writes_per_user=2) as client:
        jake, ann = await register(client), await register(client)
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


def _limiter_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "conduit.ratelimit"]


async def test_a_refused_redis_is_skipped_and_each_worker_counts_alone(
    settings: Settings, limited: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with limited(
        settings, redis_url="redis://127.0.0.1:1/0", rate_limit_login_per_ip=2
    ) as client:
        for _ in range(2):
            assert (await log_in(client, "a@example.com", "x")).status_code == 401

        # Not locked out, not let through without a limit: counted in this process.
        _assert_429(await log_in(client, "a@example.com", "x"))

    warnings = _limiter_warnings(caplog)
    assert len(warnings) == 1, warnings  # one line for the interval, no traceback per request
    assert "Redis refused" in warnings[0]
    assert not any(record.exc_info for record in caplog.records)


async def test_a_hung_redis_costs_one_timeout_then_is_skipped(
    settings: Settings, limited: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        SilentServer() as hung,
        limited(
            settings,
            redis_url=hung.redis_url,
            redis_timeout_seconds=0.2,
            redis_breaker_seconds=3600,
            rate_limit_writes_per_user=6,
        ) as client,
    ):
        jake = await register(client)  # its limit's Redis call times out: the breaker opens
        assert hung.connections == 1

        async with asyncio.timeout(30):  # a hang guard, not a timing assertion
            reads = [client.get("/api/user", headers=jake.headers) for _ in range(20)]
            writes = [
                client.put("/api/user", json={"user": {"bio": f"b{i}"}}, headers=jake.headers)
                for i in range(5)
            ]
            answers = await asyncio.gather(*reads, *writes)

        assert [a.status_code for a in answers] == [200] * 25
        assert hung.connections == 1  # Redis skipped while the breaker is open
        one_more = await client.put("/api/user", json={"user": {"bio": "b"}}, headers=jake.headers)
        assert one_more.status_code == 200
        _assert_429(
            await client.put("/api/user", json={"user": {"bio": "c"}}, headers=jake.headers)
        )

    warnings = _limiter_warnings(caplog)
    assert len(warnings) == 1 and "Redis timed out" in warnings[0], warnings


async def test_after_the_breaker_interval_one_request_tries_redis_again(
    settings: Settings, limited: Any, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(ratelimit, "monotonic", lambda: clock[0])
    async with (
        SilentServer() as hung,
        limited(
            settings, redis_url=hung.redis_url, redis_timeout_seconds=0.2, redis_breaker_seconds=5
        ) as client,
    ):
        await log_in(client, "a@example.com", "x")
        await log_in(client, "a@example.com", "x")
        assert (hung.connections, len(_limiter_warnings(caplog))) == (1, 1)

        clock[0] += 6  # the interval is over
        answers = await asyncio.gather(*(log_in(client, "a@example.com", "x") for _ in range(5)))

        assert [a.status_code for a in answers] == [401] * 5
        assert hung.connections == 2  # one probe, not one per request
        assert len(_limiter_warnings(caplog)) == 2  # one line per interval


async def test_a_write_takes_no_database_connection_while_its_rate_limit_is_decided(
    settings: Settings, monkeypatch: Any
) -> None:
    app = create_app(_limited(settings))
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            jake = await register(client)
            deciding, decided = asyncio.Event(), asyncio.Event()
            limiter = app.state.rate_limiter
            hit = limiter.hit

            async def held_hit(key: str, limit: int, window: int) -> Any:
                if key.startswith("write:"):
                    deciding.set()
                    await decided.wait()
                return await hit(key, limit, window)

            monkeypatch.setattr(limiter, "hit", held_hit)
            opened: list[str] = []
            for name in ("sessionmaker", "read_sessionmaker"):
                factory = getattr(app.state, name)

                def counting(factory: Any = factory, name: str = name) -> Any:
                    opened.append(name)
                    return factory()

                setattr(app.state, name, counting)

            write = asyncio.create_task(
                client.put("/api/user", json={"user": {"bio": "held"}}, headers=jake.headers)
            )
            await deciding.wait()

            assert opened == []  # no session, so no pooled connection and no transaction
            decided.set()
            assert (await write).status_code == 200
            assert opened
    finally:
        await app.state.rate_limiter.close()
        await release_resources(app)


async def test_a_second_x_forwarded_for_line_from_the_proxy_names_the_client(
    settings: Settings, limited: Any
) -> None:
    # HAProxy-style: the proxy adds its own header line after the one the client sent.
    async with limited(
        settings, ip="10.0.0.5", rate_limit_login_per_ip=30, trusted_proxies=["10.0.0.0/8"]
    ) as client:
        statuses = []
        for i in range(31):
            response = await client.post(
                "/api/users/login",
                json={"user": {"email": "a@example.com", "password": "x"}},
                headers=[
                    ("X-Forwarded-For", f"198.51.100.{i}"),  # the client's own, varied
                    ("X-Forwarded-For", "192.0.2.10"),  # the proxy's
                ],
            )
            statuses.append(response.status_code)

    assert statuses[:30] == [401] * 30
    _assert_429(response)


async def test_x_forwarded_for_is_read_only_as_far_as_a_proxy_chain_can_reach(
    settings: Settings, limited: Any, monkeypatch: Any
) -> None:
    checked: list[str] = []
    is_trusted = client_ip_module._is_trusted

    def counting(address: str, networks: Any) -> bool:
        checked.append(address)
        return bool(is_trusted(address, networks))

    monkeypatch.setattr(client_ip_module, "_is_trusted", counting)
    forged = ", ".join(["10.9.9.9"] * 600)  # trusted-looking hops, as many as a header holds
    async with limited(settings, ip="10.0.0.5", trusted_proxies=["10.0.0.0/8"]) as client:
        response = await client.post(
            "/api/users/login",
            json={"user": {"email": "a@example.com", "password": "x"}},
            headers=[("X-Forwarded-For", forged), *[("X-Forwarded-For", "10.1.1.1")] * 50],
        )

    assert response.status_code == 401
    # The rate limit, the access log and the HTTPS check: each the peer and a bounded walk.
    assert len(checked) <= 3 * (1 + client_ip_module.MAX_FORWARDED_HOPS)


# ------------------------------------------------------------- limits a client can see coming


def _rate_limit(response: Any) -> tuple[str, str]:
    return response.headers["ratelimit-policy"], response.headers["ratelimit"]


async def test_a_write_tells_its_quota_and_what_is_left_until_the_429(
    settings: Settings, limited: Any
) -> None:
    async with limited(settings, rate_limit_writes_per_user=2) as client:
        jake = await register(client)
        sent = [
            await client.put("/api/user", json={"user": {"bio": bio}}, headers=jake.headers)
            for bio in ("one", "two", "three")
        ]

    assert {_rate_limit(response)[0] for response in sent} == {'"writes";q=2;w=3600'}
    left = [_rate_limit(response)[1].partition(";t=") for response in sent]
    assert [remaining for remaining, _, _ in left] == [f'"writes";r={r}' for r in (1, 0, 0)]
    assert all(1 <= int(seconds) <= 3600 for _, _, seconds in left)
    _assert_429(sent[2])
    assert sent[2].headers["retry-after"] == left[2][2]  # the reset is when to retry


async def test_a_login_names_each_limit_it_is_counted_against(
    settings: Settings, limited: Any
) -> None:
    async with limited(
        settings, rate_limit_login_per_ip=5, rate_limit_login_per_account=3
    ) as client:
        response = await log_in(client, "nobody@example.com", "wrong-password")

    policy, left = _rate_limit(response)
    assert response.status_code == 401
    assert policy == '"login-ip";q=5;w=3600, "login-account";q=3;w=3600'
    assert left.startswith('"login-ip";r=4;t=')
    assert '"login-account";r=2;t=' in left


async def test_reads_and_unlimited_settings_send_no_rate_limit_headers(
    settings: Settings, limited: Any
) -> None:
    async with limited(settings) as client:
        jake = await register(client)
        read = await client.get("/api/user", headers=jake.headers)
    async with limited(settings, rate_limit_enabled=False) as client:
        unlimited = await client.put("/api/user", json={"user": {"bio": "x"}}, headers=jake.headers)

    for response in (read, unlimited):
        assert "ratelimit" not in response.headers
        assert "ratelimit-policy" not in response.headers


async def test_a_cross_origin_write_carries_the_rate_limit_headers(
    settings: Settings, limited: Any
) -> None:
    """CORS answers for requests with an Origin; the limits still reach the browser (which
    may read them: tests/api/test_http.py, the exposed headers)."""
    origin = "http://localhost:3000"
    async with limited(settings, cors_origins=[origin]) as client:
        response = await client.post(
            "/api/users/login",
            json={"user": {"email": "a@example.com", "password": "x"}},
            headers={"Origin": origin},
        )

    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["ratelimit"].startswith('"login-ip";r=999;t=')


@pytest.mark.skipif(not _redis_reachable(), reason="Redis is not reachable at 127.0.0.1:6379")
async def test_redis_tells_what_is_left_in_the_same_round_trip_that_counts(
    settings: Settings, limited: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    async with limited(
        settings, redis_url=REDIS_URL, rate_limit_login_per_ip=0, rate_limit_login_per_account=3
    ) as client:
        limiter = client._transport.app.state.rate_limiter  # type: ignore[attr-defined]
        calls: list[str] = []
        pipeline, command = limiter._redis.pipeline, limiter._redis.execute_command

        def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
            calls.append("pipeline")
            return pipeline(*args, **kwargs)

        async def counted_command(*args: Any, **kwargs: Any) -> Any:
            calls.append("command")
            return await command(*args, **kwargs)

        monkeypatch.setattr(limiter._redis, "pipeline", counted_pipeline)
        monkeypatch.setattr(limiter._redis, "execute_command", counted_command)
        sent = [await log_in(client, email, "wrong-password") for _ in range(4)]

    assert calls == ["pipeline"] * 4  # one round trip per request, none more
    left = [_rate_limit(response)[1].partition(";t=")[0] for response in sent]
    assert left == [f'"login-account";r={r}' for r in (2, 1, 0, 0)]
    assert [response.status_code for response in sent] == [401, 401, 401, 429]


async def test_the_document_declares_the_rate_limit_headers_on_every_limited_operation(
    openapi_document: dict[str, Any],
) -> None:
    names = {"RateLimit-Policy", "RateLimit"}
    assert names <= set(openapi_document["components"]["headers"])
    for path, item in openapi_document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                declared = names & set(response.get("headers", {}))
                assert declared == (names if method != "get" else set()), (method, path, status)
