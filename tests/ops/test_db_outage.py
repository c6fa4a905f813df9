"""PostgreSQL goes away and comes back: fast 503s with Retry-After, then recovery, no restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy.engine import make_url

from src.core.config import Settings
from src.main import create_app, release_resources
from tests.factories import register
from tests.ops.tcp_proxy import TcpProxy

# A request must answer within this while the database is away (it would hang for the OS
# connect timeout without the bounds). A ceiling for "not a hang", not a speed target.
NO_HANG_SECONDS = 15
RETRY_AFTER = 7


@pytest.fixture
async def proxy(database_url: str, is_postgres: bool) -> AsyncIterator[TcpProxy]:
    if not is_postgres:
        pytest.skip("a network outage needs a database over TCP: run with TEST_DATABASE_URL")
    url = make_url(database_url)
    tcp = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await tcp.start()
    yield tcp
    await tcp.cut()


@pytest.fixture
async def outage_client(
    proxy: TcpProxy, database_url: str, settings: Settings
) -> AsyncIterator[AsyncClient]:
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    app = create_app(
        settings.model_copy(
            update={
                "database_url": url.render_as_string(hide_password=False),
                "db_connect_timeout_seconds": 2.0,
                "db_pool_timeout_seconds": 2.0,
                "db_command_timeout_seconds": 5.0,
                "health_check_timeout_seconds": 2.0,
                "retry_after_seconds": RETRY_AFTER,
                "rate_limit_enabled": False,
            }
        )
    )
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            yield http
    finally:
        await release_resources(app)


async def get(http: AsyncClient, path: str, **kwargs: object) -> Response:
    async with asyncio.timeout(NO_HANG_SECONDS):
        return await http.get(path, **kwargs)  # type: ignore[arg-type]


def assert_unavailable(response: Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == str(RETRY_AFTER)
    assert response.json() == {
        "errors": {"database": [f"is unavailable, retry after {RETRY_AFTER} seconds"]}
    }


async def test_an_outage_answers_503_fast_and_recovery_needs_no_restart(
    proxy: TcpProxy, outage_client: AsyncClient
) -> None:
    user = await register(outage_client, "outage")
    auth = user.headers
    assert (await get(outage_client, "/api/articles")).status_code == 200
    assert (await get(outage_client, "/health/ready")).status_code == 200

    await proxy.cut()  # pooled connections drop, new ones are refused

    for path in ("/api/articles", "/api/tags", "/api/user"):
        assert_unavailable(await get(outage_client, path, headers=auth))
    ready = await get(outage_client, "/health/ready")
    assert ready.status_code == 503
    assert ready.headers["Retry-After"] == str(RETRY_AFTER)
    assert "database" in ready.json()["errors"]
    assert (await get(outage_client, "/health/live")).status_code == 200  # the process is fine

    await proxy.start()  # the database is back, on the same address

    for _ in range(50):  # recovers by itself, within seconds
        if (await get(outage_client, "/health/ready")).status_code == 200:
            break
        await asyncio.sleep(0.2)
    response = await get(outage_client, "/api/user", headers=auth)
    assert response.status_code == 200
    assert response.json()["user"]["username"] == user.username
    assert (await get(outage_client, "/api/articles")).status_code == 200


async def test_a_silent_network_is_bounded_by_the_connect_timeout(
    proxy: TcpProxy, outage_client: AsyncClient
) -> None:
    await proxy.cut()
    # Something listens but never answers (a black-holed route): the connect timeout ends it.
    held: list[asyncio.StreamWriter] = []

    async def never_answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    silent = await asyncio.start_server(never_answer, "127.0.0.1", proxy.port)
    try:
        assert_unavailable(await get(outage_client, "/api/tags"))
        assert (await get(outage_client, "/health/ready")).status_code == 503
    finally:
        silent.close()
        for writer in held:
            writer.close()
        await silent.wait_closed()
