"""On the embedded SQLite default, reads take a WAL snapshot: a writer never holds them up."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from httpx import AsyncClient
from sqlalchemy.engine import make_url

from tests.factories import create_article, register


async def test_reads_are_answered_while_a_writer_holds_the_write_lock(
    client: AsyncClient, database_url: str, is_postgres: bool
) -> None:
    if is_postgres:
        pytest.skip("SQLite's write lock: PostgreSQL readers never wait for writers anyway")
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    writer = sqlite3.connect(str(make_url(database_url).database), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # what every write request takes, held indefinitely
    try:
        async with asyncio.timeout(5):  # far below the 30 s busy timeout a writer would wait
            page = await client.get("/api/articles")
            article = await client.get(f"/api/articles/{slug}", headers=author.headers)
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    assert page.status_code == 200 and page.json()["articlesCount"] == 1
    assert article.status_code == 200 and article.json()["article"]["slug"] == slug
