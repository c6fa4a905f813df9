"""ReadPool (src/core/reads.py): prebuilt statements straight on asyncpg, outages as 503s."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Integer, bindparam, func, insert, literal, or_, select
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


def _compiled(statement: Any) -> Any:
    """A statement as the pool compiles it (no connection needed)."""
    return _driver("postgresql+asyncpg://nobody@127.0.0.1:1/none")._compile(statement)


def test_a_statement_is_compiled_once_with_its_arguments_in_order() -> None:
    statement = select(
        (bindparam("b", type_=Integer) - bindparam("a", type_=Integer)).label("diff"),
        literal("kept").label("own"),
    )
    pool = _driver("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    compiled = pool._compile(statement)

    assert pool._compile(statement) is compiled  # once per statement
    arguments = compiled.arguments({"a": 1, "b": 5})
    assert arguments[:2] == [5, 1] and "kept" in arguments  # the statement's own value too
    assert compiled.text({"a": 1, "b": 5}) == compiled.sql


def test_page_bounds_are_written_into_the_text_one_text_per_bound() -> None:
    page = bindparam("limit", type_=Integer, literal_execute=True)
    compiled = _compiled(select(Counter.name).limit(page))

    ten, twenty = compiled.text({"limit": 10}), compiled.text({"limit": 20})

    assert "LIMIT 10" in ten and "LIMIT 20" in twenty
    assert compiled.text({"limit": 10}) is ten  # kept
    assert compiled.arguments({"limit": 10}) == []


def test_a_statement_whose_text_would_depend_on_its_values_is_refused() -> None:
    ids = bindparam("ids", expanding=True)
    with pytest.raises(ValueError, match="expanding"):
        _compiled(select(Counter.name).where(Counter.shard.in_(ids)))


def test_a_write_relying_on_a_default_computed_in_python_is_refused() -> None:
    row = select(literal("x"), literal(0), literal(0))
    added = insert(Counter).from_select(["name", "shard", "value"], row)
    # Counter has no Python-side default once every column is given: accepted.
    _compiled(select(func.count()).select_from(added.returning(Counter.name).cte("added")))
    partial = insert(Counter).from_select(["name"], select(literal("x")))
    with pytest.raises(ValueError, match="default computed in Python"):
        _compiled(select(func.count()).select_from(partial.returning(Counter.name).cte("p")))


async def test_a_transaction_commits_at_its_end_and_rolls_back_when_it_raises(
    driver: ReadPool,
) -> None:
    def adding(name: str) -> Any:
        row = select(literal(name), literal(0), literal(7))
        added = insert(Counter).from_select(["name", "shard", "value"], row)
        return select(func.count()).select_from(added.returning(Counter.name).cte("added"))

    kept = select(func.count()).where(or_(Counter.name == "kept", Counter.name == "undone"))
    try:
        async with driver.transaction() as statements:
            await statements.all(adding("kept"), {})
        with pytest.raises(RuntimeError):
            async with driver.transaction() as statements:
                await statements.all(adding("undone"), {})
                raise RuntimeError("after its write")
        async with driver.request() as reads:
            assert await reads.scalar(kept, {}) == 1
    finally:
        await driver.close()
