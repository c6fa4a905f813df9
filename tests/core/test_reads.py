"""ReadPool (src/core/reads.py): prebuilt statements straight on asyncpg, outages as 503s."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import Integer, bindparam, func, literal, select
from sqlalchemy.dialects import postgresql

from src.core.config import Settings
from src.core.db import DatabaseUnavailable
from src.core.reads import ReadPool
from src.models import Counter
from src.models.base import UTCDateTime
from tests.live import free_port

DIALECT = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
STATEMENT = select(literal(1).label("one"))


def _driver(url: str, **settings: object) -> ReadPool:
    return ReadPool(Settings(database_url=url, **settings), DIALECT)  # type: ignore[arg-type]


async def test_an_unreachable_database_is_unavailable_at_once_not_a_hang() -> None:
    reads = _driver(
        f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none", db_connect_timeout_seconds=2
    )
    started = time.monotonic()
    try:
        async with reads.request() as request:
            with pytest.raises(DatabaseUnavailable):
                await request.all(STATEMENT, {})
    finally:
        await reads.close()
    assert time.monotonic() - started < 2


@pytest.fixture
async def driver(database_url: str, is_postgres: bool) -> ReadPool:
    if not is_postgres:
        pytest.skip("the asyncpg read path serves PostgreSQL: run with TEST_DATABASE_URL")
    return _driver(database_url)


async def test_statements_run_with_their_own_literals_typed_binds_and_defaults(
    driver: ReadPool,
) -> None:
    when = bindparam("when", type_=UTCDateTime())
    statement = select(
        select(func.count()).where(Counter.name == "articles").scalar_subquery().label("rows"),
        (bindparam("n", type_=Integer) + 1).label("next"),
        (when < datetime(2100, 1, 1, tzinfo=UTC)).label("before_2100"),
    )
    seen: list[str] = []
    driver.listeners.append(seen.append)
    try:
        async with driver.request() as reads:
            row = await reads.first(statement, {"n": 41, "when": datetime.now(UTC)})
            again = await reads.scalar(statement, {"n": 1, "when": datetime.now(UTC)})
            connection = getattr(reads, "connection", None)
        assert row is not None and (row["next"], row["before_2100"]) == (42, True)
        assert again == row["rows"]
        assert len(seen) == 2 and seen[0] == seen[1]  # compiled once, counted per run
        assert connection is not None
        with pytest.raises(asyncpg.InterfaceError, match="released back to the pool"):
            connection.is_closed()  # the request's one connection went back at its end
    finally:
        await driver.close()


async def test_a_request_that_runs_no_statement_takes_no_connection(driver: ReadPool) -> None:
    async with driver.request() as reads:
        assert getattr(reads, "connection", "missing") is None
    await driver.close()
    await driver.close()  # closing twice is harmless
