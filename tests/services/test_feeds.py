"""The feed's fan-out bookkeeping (src/services/feeds.py), called as the services call it.

Each test writes its own users, articles and follows, then checks the invariant the module
keeps once the fan-out jobs have run: one entry per (follower, article of a followed
author), and each count the number of those entries; tests/api/test_feed.py checks the same
feeds through HTTP.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.models import Article, FeedCount, FeedEntry, Follow, User
from src.services import counters, feeds
from tests.api.article_helpers import assert_feeds_match_follows
from tests.jobs import run_jobs_until_idle
from tests.services.rows import new_article, new_user


async def _settle(app: FastAPI, session: AsyncSession) -> None:
    """Commit the writes, then run the fan-out jobs they enqueued (a batch of 2 rows per step,
    so that every job takes several steps)."""
    await session.commit()
    await run_jobs_until_idle(app, feed_fanout_batch=2)


async def _article(app: FastAPI, session: AsyncSession, author_id: int, minutes: int) -> Article:
    """An article as the article service writes it: the row, the author's count, the feeds."""
    article = await new_article(session, author_id, minutes)
    await counters.add_user_article(session, author_id)
    await feeds.add_article(session, author_id, article.id, article.created_at)
    await _settle(app, session)
    return article


async def _follow(app: FastAPI, session: AsyncSession, follower_id: int, author_id: int) -> None:
    session.add(Follow(follower_id=follower_id, followee_id=author_id))
    await session.flush()
    await feeds.follow(session, follower_id, author_id)
    await _settle(app, session)


async def _unfollow(app: FastAPI, session: AsyncSession, follower_id: int, author_id: int) -> None:
    await session.execute(
        delete(Follow).where(Follow.follower_id == follower_id, Follow.followee_id == author_id)
    )
    await feeds.unfollow(session, follower_id, author_id)
    await _settle(app, session)


async def _feed(session: AsyncSession, user_id: int) -> list[int]:
    """The article ids of a feed, newest first, as a feed page reads them."""
    rows = await session.scalars(
        select(FeedEntry.article_id)
        .where(FeedEntry.follower_id == user_id)
        .order_by(FeedEntry.article_created_at.desc(), FeedEntry.article_id.desc())
    )
    return list(rows)


async def _count(session: AsyncSession, user_id: int) -> int | None:
    """The maintained count, or None while the user has no count row at all."""
    return await session.scalar(
        select(FeedCount.articles_count).where(FeedCount.user_id == user_id)
    )


async def _assert_invariant(session: AsyncSession) -> None:
    await session.commit()
    async with session.bind.connect() as conn:
        await assert_feeds_match_follows(conn)


async def _feeds(
    session: AsyncSession, users: list[int]
) -> dict[int, tuple[list[int], int | None]]:
    return {user: (await _feed(session, user), await _count(session, user)) for user in users}


async def test_a_follow_copies_the_authors_earlier_articles_in_date_order(
    app: FastAPI, session: AsyncSession
) -> None:
    author, reader = await new_user(session), await new_user(session)
    older = await _article(app, session, author, minutes=1)
    newer = await _article(app, session, author, minutes=2)

    await _follow(app, session, reader, author)

    assert await _feed(session, reader) == [newer.id, older.id]
    assert await _count(session, reader) == 2
    await _assert_invariant(session)


async def test_an_unfollow_takes_back_exactly_that_authors_articles(
    app: FastAPI, session: AsyncSession
) -> None:
    kept_author, gone_author, reader = [await new_user(session) for _ in range(3)]
    kept = await _article(app, session, kept_author, minutes=1)
    await _article(app, session, gone_author, minutes=2)
    await _article(app, session, gone_author, minutes=3)
    await _follow(app, session, reader, kept_author)
    await _follow(app, session, reader, gone_author)
    assert await _count(session, reader) == 3

    await _unfollow(app, session, reader, gone_author)

    assert await _feed(session, reader) == [kept.id]
    assert await _count(session, reader) == 1
    await _assert_invariant(session)


async def test_unfollowing_an_author_without_articles_leaves_the_count_at_zero(
    app: FastAPI, session: AsyncSession
) -> None:
    author, reader = await new_user(session), await new_user(session)
    await _follow(app, session, reader, author)
    await _unfollow(app, session, reader, author)

    assert await _feed(session, reader) == []
    assert not await _count(session, reader)  # nothing went, so nothing is taken (no row)
    await _assert_invariant(session)


async def test_a_new_article_reaches_every_follower_and_nobody_else(
    app: FastAPI, session: AsyncSession
) -> None:
    author, first, second, stranger = [await new_user(session) for _ in range(4)]
    await _follow(app, session, first, author)
    await _follow(app, session, second, author)

    article = await _article(app, session, author, minutes=1)

    assert await _feed(session, first) == [article.id]
    assert await _feed(session, second) == [article.id]
    assert [await _count(session, first), await _count(session, second)] == [1, 1]
    assert await _feed(session, stranger) == []
    assert await _count(session, stranger) is None  # a count row only once there is a feed
    await _assert_invariant(session)


async def test_a_removed_article_leaves_every_feed_and_its_count(
    app: FastAPI, session: AsyncSession
) -> None:
    author, reader = await new_user(session), await new_user(session)
    await _follow(app, session, reader, author)
    kept = await _article(app, session, author, minutes=1)
    removed = await _article(app, session, author, minutes=2)

    await feeds.remove_article(session, author, removed.id, removed.created_at)
    await session.delete(removed)
    await counters.remove_user_article(session, author)
    await _settle(app, session)

    assert await _feed(session, reader) == [kept.id]
    assert await _count(session, reader) == 1
    await _assert_invariant(session)


async def test_a_deleted_author_leaves_the_feeds_with_other_authors_kept(
    app: FastAPI, session: AsyncSession
) -> None:
    leaving, staying, reader = [await new_user(session) for _ in range(3)]
    await _follow(app, session, reader, leaving)
    await _follow(app, session, reader, staying)
    kept = await _article(app, session, staying, minutes=1)
    for minutes in (2, 3):
        await _article(app, session, leaving, minutes=minutes)

    await feeds.remove_author(session, leaving, articles=2)
    await session.execute(delete(User).where(User.id == leaving))

    assert await _feed(session, reader) == [kept.id]
    assert await _count(session, reader) == 1
    await _assert_invariant(session)


async def test_a_rebuild_derives_the_feeds_the_writes_kept(
    app: FastAPI, session: AsyncSession
) -> None:
    authors = [await new_user(session) for _ in range(3)]
    readers = [await new_user(session) for _ in range(3)]
    for minutes, author in enumerate(authors * 2):
        await _article(app, session, author, minutes=minutes)
    for i, reader in enumerate(readers):
        for author in authors[i:]:
            await _follow(app, session, reader, author)
    await _unfollow(app, session, readers[0], authors[1])
    kept = await _feeds(session, readers)
    await session.commit()  # the rebuild alters feed_entries: no transaction may hold it

    async with session.bind.begin() as conn:
        await counters.recount(conn)
        await feeds.rebuild(conn)

    assert await _feeds(session, readers) == kept
    await _assert_invariant(session)
