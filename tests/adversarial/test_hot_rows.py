"""Counter rows stay cheap to read after writes (PostgreSQL).

Every article create, favorite and tag change moves a count on a row that the same write's new
rows reference (the author, the user, the tag). If the foreign-key check's KEY SHARE lock comes
before the count's UPDATE (from a savepoint, or beside a concurrent writer), the old row version
gets a MultiXact xmax, and PostgreSQL's index scans cannot mark such versions dead: each later
lookup of that user or tag walks every old version (counters.py). Found by the bench
(docs/performance.md, "Hot rows and MultiXacts").

The check reads the raw heap pages (pageinspect), so it needs a superuser, as CI's is.
"""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.factories import create_article, favorite, register

HEAP_XMAX_IS_MULTI = 0x1000
COUNTER_TABLES = ("users", "tags", "articles")
AT_ONCE = 12
VERSIONS_WITH_MULTIXACT = text(
    "SELECT count(*) FROM generate_series("
    " 0, pg_relation_size(CAST(:table AS regclass)) / current_setting('block_size')::int - 1"
    ") AS page, heap_page_items(get_raw_page(CAST(:table AS text), page::int)) AS item "
    "WHERE item.t_infomask & :multi <> 0"
)


async def _versions_with_multixact_xmax(app: FastAPI) -> dict[str, int]:
    """How many row versions (live or dead, not yet pruned) of each table carry a MultiXact."""
    found: dict[str, int] = {}
    async with app.state.engine.connect() as conn:
        for table in COUNTER_TABLES:
            result = await conn.execute(
                VERSIONS_WITH_MULTIXACT, {"table": table, "multi": HEAP_XMAX_IS_MULTI}
            )
            found[table] = int(result.scalar_one())
    return found


@pytest.fixture
async def pageinspect(app: FastAPI, is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("MultiXacts are PostgreSQL's: run with TEST_DATABASE_URL")
    try:
        async with app.state.engine.begin() as conn:
            await conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pageinspect")
    except DBAPIError:
        pytest.skip("pageinspect needs a superuser (CI's PostgreSQL user is one)")


@pytest.mark.usefixtures("pageinspect")
async def test_writes_that_move_counts_leave_no_multixact_on_the_counted_rows(
    client: AsyncClient, app: FastAPI
) -> None:
    author, fan = await register(client), await register(client)
    first = await create_article(client, author, tagList=["hot", "first"])

    # One author writing many articles with a shared tag at once, while a fan favorites them
    # and the author retags the first one: every count moves under concurrency.
    slugs = [
        article["slug"]
        for article in await asyncio.gather(
            *(create_article(client, author, tagList=["hot", f"t{i}"]) for i in range(AT_ONCE))
        )
    ]
    retag = client.put(
        f"/api/articles/{first['slug']}",
        json={"article": {"tagList": ["hot", "second"]}},
        headers=author.headers,
    )
    answers = await asyncio.gather(retag, *(favorite(client, fan, slug) for slug in slugs))
    assert answers[0].status_code == 200, answers[0].text

    assert await _versions_with_multixact_xmax(app) == dict.fromkeys(COUNTER_TABLES, 0)


@pytest.mark.usefixtures("pageinspect")
async def test_many_fans_favoriting_one_article_at_once_leave_no_multixact_on_it(
    client: AsyncClient, app: FastAPI
) -> None:
    author = await register(client)
    fans = [await register(client) for _ in range(AT_ONCE)]
    slug = (await create_article(client, author))["slug"]

    answers = await asyncio.gather(*(favorite(client, fan, slug) for fan in fans))
    assert {answer.status_code for answer in answers} == {200}
    answers = await asyncio.gather(
        *(client.delete(f"/api/articles/{slug}/favorite", headers=fan.headers) for fan in fans)
    )
    assert {answer.status_code for answer in answers} == {200}

    assert await _versions_with_multixact_xmax(app) == dict.fromkeys(COUNTER_TABLES, 0)
