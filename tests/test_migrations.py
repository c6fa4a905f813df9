"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from src.core import migrations
from src.models import Base

# SQLite reflection cannot read expression-based indexes: SQLAlchemy and Alembic each warn
# and skip exactly this one (the case-insensitive username index; PostgreSQL compares it).
# Any other warning still fails the test.
SKIPPED_EXPRESSION_INDEX = (
    "ignore:Skipped unsupported reflection of expression-based index uq_users_username_lower"
    ":sqlalchemy.exc.SAWarning"
)
ALEMBIC_SKIPS_EXPRESSION_INDEX = (
    "ignore:autogenerate skipping metadata-specified expression-based index "
    "'uq_users_username_lower':UserWarning"
)


def _diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _table_names(database_url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(read())


async def _on(database_url: str, work: Callable[[Connection], Any]) -> Any:
    """Run `work` on a committed connection to the database."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _revision(database_url: str) -> str | None:
    async def read() -> str | None:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_the_migrations_have_a_single_head() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config())

    assert len(script.get_heads()) == 1


@pytest.mark.filterwarnings(SKIPPED_EXPRESSION_INDEX)
@pytest.mark.filterwarnings(ALEMBIC_SKIPS_EXPRESSION_INDEX)
async def test_the_migrated_schema_matches_the_models(app: FastAPI) -> None:
    async with app.state.engine.connect() as conn:
        diffs = await conn.run_sync(_diffs)

    assert diffs == []


async def test_the_migrated_database_has_every_model_table(app: FastAPI) -> None:
    async with app.state.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))

    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_downgrading_to_base_and_upgrading_again_works(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    head = ScriptDirectory.from_config(migrations.alembic_config()).get_current_head()
    model_tables = set(Base.metadata.tables)

    migrations.upgrade("head", database_url=url)
    assert model_tables <= _table_names(url)
    assert _revision(url) == head

    migrations.downgrade("base", database_url=url)
    assert _table_names(url) & model_tables == set()
    assert _revision(url) is None

    migrations.upgrade("head", database_url=url)
    assert model_tables <= _table_names(url)
    assert _revision(url) == head


def test_upgrading_an_up_to_date_database_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'twice.db'}"
    migrations.upgrade("head", database_url=url)
    before = _table_names(url), _revision(url)

    migrations.upgrade("head", database_url=url)

    assert (_table_names(url), _revision(url)) == before


async def test_counter_rows_keep_room_for_hot_updates_on_postgresql(
    app: FastAPI, is_postgres: bool
) -> None:
    """Migration 0005: the tables whose counters every write moves are not packed full."""
    if not is_postgres:
        pytest.skip("fillfactor is PostgreSQL's: run with TEST_DATABASE_URL")
    async with app.state.engine.connect() as conn:
        rows = await conn.exec_driver_sql(
            "SELECT relname, reloptions FROM pg_class "
            "WHERE relname IN ('users', 'tags', 'articles', 'counters')"
        )
        options = {name: set(opts or ()) for name, opts in rows}
    assert "fillfactor=80" in options["users"] and "fillfactor=80" in options["tags"]
    assert "fillfactor=90" in options["articles"]
    assert "fillfactor=10" in options["counters"]


def test_upgrading_fills_each_authors_newest_article_time(tmp_path: Path) -> None:
    """Migration 0006 on a database with articles: `last_article_at` is each author's newest
    `created_at`, and stays empty for a user who never wrote."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'backfill.db'}"
    migrations.upgrade("0005", database_url=url)
    newest_stamp = "2026-03-04 05:06:07.000000"  # SQLite keeps timestamps as text
    users = (
        "INSERT INTO users (id, username, email, password_hash, created_at, updated_at) "
        "VALUES (?, ?, ?, 'x', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')"
    )
    articles = (
        "INSERT INTO articles (id, slug, title, description, body, author_id, favorites_count, "
        "created_at, updated_at) VALUES (?, ?, 't', 'd', 'b', ?, 0, ?, ?)"
    )

    def seed(conn: Connection) -> None:
        for user_id, name in ((1, "writer"), (2, "reader")):
            conn.exec_driver_sql(users, (user_id, name, f"{name}@example.com"))
        for article_id, stamp in ((1, "2026-01-02 00:00:00.000000"), (2, newest_stamp)):
            conn.exec_driver_sql(articles, (article_id, f"a-{article_id}", 1, stamp, stamp))

    def newest(conn: Connection) -> list[Any]:
        rows = conn.exec_driver_sql("SELECT id, last_article_at FROM users ORDER BY id")
        return [tuple(row) for row in rows]

    asyncio.run(_on(url, seed))
    migrations.upgrade("0006", database_url=url)  # 0008 drops the column again

    assert asyncio.run(_on(url, newest)) == [(1, newest_stamp), (2, None)]


def test_upgrading_copies_each_articles_tag_names_onto_it(tmp_path: Path) -> None:
    """Migration 0007: `tag_names` is the article's tags as a sorted JSON array, `[]` for an
    article without tags."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'tag_names.db'}"
    migrations.upgrade("0006", database_url=url)
    stamp = "2026-01-01 00:00:00.000000"

    def seed(conn: Connection) -> None:
        conn.exec_driver_sql(
            "INSERT INTO users (id, username, email, password_hash, created_at, updated_at) "
            "VALUES (1, 'writer', 'writer@example.com', 'x', ?, ?)",
            (stamp, stamp),
        )
        for article_id in (1, 2):
            conn.exec_driver_sql(
                "INSERT INTO articles (id, slug, title, description, body, author_id, "
                "favorites_count, created_at, updated_at) VALUES (?, ?, 't', 'd', 'b', 1, 0, ?, ?)",
                (article_id, f"a-{article_id}", stamp, stamp),
            )
        conn.exec_driver_sql("INSERT INTO tags (id, name) VALUES (1, 'zeta'), (2, 'alpha')")
        conn.exec_driver_sql(
            "INSERT INTO article_tags (article_id, tag_id, article_created_at) "
            "VALUES (1, 1, ?), (1, 2, ?)",
            (stamp, stamp),
        )

    def copies(conn: Connection) -> list[Any]:
        rows = conn.exec_driver_sql("SELECT id, tag_names FROM articles ORDER BY id")
        return [tuple(row) for row in rows]

    asyncio.run(_on(url, seed))
    migrations.upgrade("head", database_url=url)

    assert asyncio.run(_on(url, copies)) == [(1, '["alpha","zeta"]'), (2, "[]")]


def test_upgrading_fans_every_feed_out_and_counts_it(tmp_path: Path) -> None:
    """Migration 0008: one feed entry per (follower, article of a followed author), carrying the
    article's created_at; each follower's count is its number of entries, 0 when the authors it
    follows wrote nothing; users who follow nobody get no row."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'feeds.db'}"
    migrations.upgrade("0007", database_url=url)
    stamps = ("2026-01-01 00:00:00.000000", "2026-02-01 00:00:00.000000")

    def seed(conn: Connection) -> None:
        for user_id in (1, 2, 3, 4):
            conn.exec_driver_sql(
                "INSERT INTO users (id, username, email, password_hash, created_at, updated_at) "
                "VALUES (?, ?, ?, 'x', ?, ?)",
                (user_id, f"u{user_id}", f"u{user_id}@example.com", stamps[0], stamps[0]),
            )
        for article_id, stamp in zip((1, 2), stamps, strict=True):  # both by user 1
            conn.exec_driver_sql(
                "INSERT INTO articles (id, slug, title, description, body, author_id, "
                "favorites_count, created_at, updated_at) VALUES (?, ?, 't', 'd', 'b', 1, 0, ?, ?)",
                (article_id, f"a-{article_id}", stamp, stamp),
            )
        # 2 follows the writer; 3 follows only 4, who wrote nothing; 1 and 4 follow nobody.
        for follower, followee in ((2, 1), (3, 4)):
            conn.exec_driver_sql(
                "INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, ?)",
                (follower, followee, stamps[0]),
            )

    def feeds(conn: Connection) -> tuple[list[Any], list[Any]]:
        entries = conn.exec_driver_sql(
            "SELECT follower_id, article_created_at, article_id FROM feed_entries ORDER BY 1, 2"
        )
        counts = conn.exec_driver_sql("SELECT user_id, articles_count FROM feed_counts ORDER BY 1")
        return [tuple(row) for row in entries], [tuple(row) for row in counts]

    asyncio.run(_on(url, seed))
    migrations.upgrade("head", database_url=url)

    entries, counts = asyncio.run(_on(url, feeds))
    assert entries == [(2, stamps[0], 1), (2, stamps[1], 2)]
    assert counts == [(2, 2), (3, 0)]


def test_upgrading_stores_every_email_in_the_normalized_form(tmp_path: Path) -> None:
    """Migration 0010: rows stored with a Unicode domain (registration) or decomposed
    (`conduit create-admin`) get the form logins look up; a row whose form another row
    already holds keeps its email (named in a warning) rather than break the unique index."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'emails.db'}"
    migrations.upgrade("0009", database_url=url)
    stamp = "2026-01-01 00:00:00.000000"
    emails = {
        1: "jöhn@bücher.de",
        2: "jo\u0308e@example.com",
        3: "ann@example.com",
        4: "bo@xn--bcher-kva.de",
        5: "bo@bücher.de",
    }

    def seed(conn: Connection) -> None:
        for user_id, email in emails.items():
            conn.exec_driver_sql(
                "INSERT INTO users (id, username, email, password_hash, created_at, updated_at) "
                "VALUES (?, ?, ?, 'x', ?, ?)",
                (user_id, f"u{user_id}", email, stamp, stamp),
            )

    def stored(conn: Connection) -> dict[int, str]:
        return dict(conn.exec_driver_sql("SELECT id, email FROM users").all())

    asyncio.run(_on(url, seed))
    migrations.upgrade("head", database_url=url)

    assert asyncio.run(_on(url, stored)) == {
        1: "jöhn@xn--bcher-kva.de",
        2: "jöe@example.com",
        3: "ann@example.com",
        4: "bo@xn--bcher-kva.de",
        5: "bo@bücher.de",
    }
