"""More concurrent requests than pooled connections: they queue and are all served."""

from __future__ import annotations

import asyncio

import pytest
from httpx import ASGITransport, AsyncClient

from src.core.config import Settings
from src.main import create_app, release_resources
from tests.factories import create_article, register


async def test_requests_beyond_the_pool_size_wait_their_turn_and_all_succeed(
    settings: Settings, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite has no connection pool to exhaust: run with TEST_DATABASE_URL")
    small = {"db_pool_size": 2, "db_max_overflow": 0, "db_read_pool_size": 2}
    app = create_app(settings.model_copy(update=small))
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            author = await register(http)
            slug = (await create_article(http, author))["slug"]
            paths = ["/api/articles", f"/api/articles/{slug}", "/api/tags", "/api/user"] * 30

            responses = await asyncio.gather(
                *(http.get(path, headers=author.headers) for path in paths)
            )

            assert [r.status_code for r in responses] == [200] * len(paths)
            assert app.state.engine.pool.checkedout() == 0  # every connection came back
            reads_pool = app.state.read_pool._pool  # the reads' own (asyncpg) pool
            assert reads_pool is not None and reads_pool.get_size() <= 2
            assert reads_pool.get_idle_size() == reads_pool.get_size()
    finally:
        await release_resources(app)
