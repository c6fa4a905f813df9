"""Maintained counts (src/services/counters.py): relative moves, and a recount from the rows."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.models import ArticleTag, Counter, Favorite, Tag, User
from src.services import counters
from tests.services.rows import new_article, new_user


async def _total(session: AsyncSession) -> int | None:
    return await session.scalar(counters.articles_total_query())


async def _tag(session: AsyncSession, name: str) -> int:
    tag = Tag(name=name)
    session.add(tag)
    await session.flush()
    return tag.id


async def test_the_total_starts_at_its_first_move_and_then_moves_relatively(
    session: AsyncSession,
) -> None:
    await session.execute(delete(Counter))  # an emptied database has no row

    await counters.bump_articles_total(session, +3, 1)
    await counters.bump_articles_total(session, -1, 2)

    assert await _total(session) == 2


async def test_tags_move_down_and_up_in_one_call_and_a_tag_in_both_is_unchanged(
    session: AsyncSession,
) -> None:
    dragons, training, kept = [await _tag(session, name) for name in ("dragons", "training", "k")]
    await session.execute(update(Tag).values(articles_count=5))

    await counters.move_tags(session, removed=[dragons, kept], added=[training, kept])

    counts = dict((await session.execute(select(Tag.id, Tag.articles_count))).all())
    assert counts == {dragons: 4, training: 6, kept: 5}


async def test_a_recount_sets_every_count_from_the_rows(session: AsyncSession) -> None:
    author, fan = await new_user(session), await new_user(session)
    tag = await _tag(session, "dragons")
    first = await new_article(session, author, minutes=1)
    second = await new_article(session, author, minutes=2)
    session.add_all(
        [
            ArticleTag(article_id=first.id, tag_id=tag, article_created_at=first.created_at),
            Favorite(
                user_id=fan,
                article_id=second.id,
                article_created_at=second.created_at,
                article_tag_ids=[],  # the second article has no tags
            ),
        ]
    )
    # Counts that drifted (a bulk load writes none): the recount owes nothing to them.
    await session.execute(update(User).values(articles_count=7, favorites_count=7))
    await session.execute(update(Tag).values(articles_count=7))
    await counters.bump_articles_total(session, 7, 1)
    await session.commit()

    async with session.bind.begin() as conn:
        await counters.recount(conn)

    users = dict((await session.execute(select(User.id, User.articles_count))).all())
    favorites = dict((await session.execute(select(User.id, User.favorites_count))).all())
    assert users == {author: 2, fan: 0}
    assert favorites == {author: 0, fan: 1}
    assert await session.scalar(select(Tag.articles_count)) == 1
    assert await _total(session) == 2
    shards = await session.scalars(select(Counter.shard).where(Counter.name == counters.ARTICLES))
    assert sorted(shards) == list(range(counters.SHARDS))  # every writer finds a free one


async def test_a_move_while_another_writer_holds_a_shard_goes_to_a_free_one(
    app: FastAPI, session: AsyncSession, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite has no row locks: its writers are serialized")
    async with session.bind.begin() as conn:
        await counters.recount(conn)  # zero articles, every shard present
    async with app.state.sessionmaker() as holder:
        await counters.bump_articles_total(holder, +1, 5)  # holds shard 5 until it commits
        # Same start: it skips to another shard (the old single row: a wait until the end).
        await asyncio.wait_for(counters.bump_articles_total(session, +1, 5), timeout=30)
        await session.commit()
        await holder.commit()

    moved = await session.scalars(select(Counter.shard).where(Counter.value == 1))
    assert len(set(moved)) == 2
    assert await _total(session) == 2
