"""The feed's fan-out bookkeeping (src/services/feeds.py), called as the services call it.

Each test writes its own users, articles and follows, then checks the invariant the module
keeps once the fan-out jobs have run: one entry per (follower, article of a followed
author), and each count the number of those entries; tests/api/test_feed.py checks the same
feeds through HTTP.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from src.models import Article, FeedCount, FeedEntry, FeedPull, FeedPulledAuthor, Follow, User
from src.services import article_queries, counters, feeds
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


async def test_articles_published_at_once_by_many_authors_reach_exactly_their_followers(
    app: FastAPI, session: AsyncSession, is_postgres: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The publish jobs are claimed and run together (on PostgreSQL, in one transaction for
    the authors one step covers, a pulled author's done there with nothing to write), with
    shared followers, an author with more followers than a step takes, a pulled author and
    an article deleted before its job ran."""
    alone, lock_author = [], feeds._lock_author

    async def noted(session: AsyncSession, author_id: int) -> Any:
        alone.append(author_id)
        return await lock_author(session, author_id)

    monkeypatch.setattr(feeds, "_lock_author", noted)
    small, other, crowded, star, *readers = [await new_user(session) for _ in range(8)]
    for reader in readers[:2]:
        await _follow(app, session, reader, small)
    for reader in readers[1:3]:
        await _follow(app, session, reader, other)
    for reader in readers:  # more than the step of 2 rows `_settle` sets
        await _follow(app, session, reader, crowded)
    session.add(FeedPulledAuthor(author_id=star))
    session.add(Follow(follower_id=readers[0], followee_id=star))
    session.add(FeedPull(follower_id=readers[0], author_id=star))

    await session.flush()
    alone.clear()
    published = []
    for minutes, author in enumerate([small, other, crowded, star, small, other], start=1):
        article = await new_article(session, author, minutes)
        await counters.add_user_article(session, author)
        await feeds.add_article(session, author, article.id, article.created_at)
        published.append(article)
    gone = published.pop()
    await session.delete(gone)
    await counters.remove_user_article(session, other)
    await _settle(app, session)

    one, two, three, four = published[0].id, published[1].id, published[2].id, published[4].id
    assert await _feeds(session, readers) == {
        readers[0]: ([four, three, one], 3),
        readers[1]: ([four, three, two, one], 4),
        readers[2]: ([three, two], 2),
        readers[3]: ([three], 1),
    }
    assert await _feeds(session, [small, other, crowded, star]) == dict.fromkeys(
        [small, other, crowded, star], ([], None)
    )
    assert await _pulls(session) == {(readers[0], star)}
    if is_postgres:  # only the crowded author's steps ran alone
        assert set(alone) == {crowded}


async def test_follows_and_unfollows_run_at_once_leave_each_feed_exact(
    app: FastAPI, session: AsyncSession
) -> None:
    """Follow and unfollow jobs claimed and run together (on PostgreSQL, each kind in one
    transaction for the authors one step covers): a follow undone before its job ran, an
    author with more articles than a step takes, a reader who follows two authors at once."""
    small, other, prolific, *readers = [await new_user(session) for _ in range(6)]
    for minutes, author in enumerate([small, other, prolific, prolific, prolific], start=1):
        await _article(app, session, author, minutes)
    await _follow(app, session, readers[2], small)
    await _follow(app, session, readers[2], prolific)

    def follows(reader: int, author: int) -> Follow:
        return Follow(follower_id=reader, followee_id=author)

    session.add_all([follows(readers[0], small), follows(readers[0], other)])
    session.add_all([follows(readers[1], prolific), follows(readers[1], small)])
    await session.flush()
    for reader, author in [(0, small), (0, other), (1, prolific), (1, small)]:
        await feeds.follow(session, readers[reader], author)
    await session.execute(  # followed and unfollowed before either job ran
        delete(Follow).where(Follow.follower_id == readers[1], Follow.followee_id == small)
    )
    await feeds.unfollow(session, readers[1], small)
    await session.execute(delete(Follow).where(Follow.follower_id == readers[2]))
    await feeds.unfollow(session, readers[2], small)
    await feeds.unfollow(session, readers[2], prolific)
    await _settle(app, session)

    assert [len(await _feed(session, reader)) for reader in readers] == [2, 3, 0]
    assert [await _count(session, reader) for reader in readers] == [2, 3, 0]
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
    assert await _feed(session, reader) != [kept.id]  # a job removes them, not the request
    await _settle(app, session)

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


# --- Pulled authors (the hybrid): read at read time, never fanned out ---


async def _page(session: AsyncSession, user_id: int, limit: int = 20, offset: int = 0) -> Any:
    """(article ids, articlesCount) as the feed read's own statements give them."""
    page, total = article_queries.feed_page(False, False, session.get_bind().dialect.name)
    params = {"viewer_id": user_id, "limit": limit, "offset": offset}
    rows = (await session.execute(page, params)).all()
    count = rows[0].total if rows else (await session.execute(total, params)).scalar_one()
    return [row.id for row in rows], int(count)


async def _pulls(session: AsyncSession) -> set[tuple[int, int]]:
    rows = await session.execute(select(FeedPull.follower_id, FeedPull.author_id))
    return {(follower, author) for follower, author in rows}


async def test_an_author_past_the_follower_threshold_is_pulled_and_each_feed_stays_exact(
    app: FastAPI, session: AsyncSession
) -> None:
    star, other, *fans = [await new_user(session) for _ in range(5)]
    early = await _article(app, session, star, minutes=1)
    mine = await _article(app, session, other, minutes=2)
    for fan in fans:
        await _follow(app, session, fan, star)
    await _follow(app, session, fans[0], other)
    assert await _count(session, fans[0]) == 2  # fanned out so far

    app.state.settings = app.state.settings.model_copy(update={"feed_pull_followers": 2})
    try:
        late = await _article(app, session, star, minutes=3)
    finally:
        app.state.settings = app.state.settings.model_copy(update={"feed_pull_followers": 10_000})

    assert await _pulls(session) == {(fan, star) for fan in fans}
    # No entry of the star's is left anywhere: the page reads them from the articles.
    assert set(await _feed(session, fans[0])) == {mine.id}
    assert await _page(session, fans[0]) == ([late.id, mine.id, early.id], 3)
    assert await _page(session, fans[1]) == ([late.id, early.id], 2)
    assert await _page(session, fans[0], limit=1, offset=1) == ([mine.id], 3)


async def test_following_and_unfollowing_a_pulled_author_enqueue_nothing(
    app: FastAPI, session: AsyncSession
) -> None:
    star, reader = await new_user(session), await new_user(session)
    session.add(FeedPulledAuthor(author_id=star))
    newest = await _article(app, session, star, minutes=2)
    older = await _article(app, session, star, minutes=1)

    session.add(Follow(follower_id=reader, followee_id=star))
    await feeds.follow(session, reader, star, pulled=True)
    await session.commit()
    assert await run_jobs_until_idle(app) == 0
    assert await _page(session, reader) == ([newest.id, older.id], 2)

    await session.execute(
        delete(Follow).where(Follow.follower_id == reader, Follow.followee_id == star)
    )
    await feeds.unfollow(session, reader, star)
    await session.commit()
    assert await run_jobs_until_idle(app) == 0
    assert await _page(session, reader) == ([], 0)


async def test_a_pulled_authors_publish_jobs_leave_its_row_unlocked(
    app: FastAPI, session: AsyncSession, is_postgres: bool
) -> None:
    """A pulled author's publish steps write nothing, so they neither lock nor wait for its
    row, which its next creates are updating (docs/performance.md, "Feed jobs run
    together"): here a transaction holds the row against every lock, and the jobs still run."""
    if not is_postgres:
        pytest.skip("SQLite runs one writer at a time: there is no row lock to hold")
    star, reader = await new_user(session), await new_user(session)
    session.add(FeedPulledAuthor(author_id=star))
    session.add(Follow(follower_id=reader, followee_id=star))
    session.add(FeedPull(follower_id=reader, author_id=star))
    articles = [await new_article(session, star, minutes) for minutes in (1, 2)]
    for article in articles:
        await counters.add_user_article(session, star)
        await feeds.add_article(session, star, article.id, article.created_at)
    await session.commit()

    async with session.bind.connect() as holder:
        await holder.execute(select(User.id).where(User.id == star).with_for_update())
        ran = await asyncio.wait_for(run_jobs_until_idle(app), timeout=30)
        await holder.rollback()

    assert ran == len(articles)
    assert await _page(session, reader) == ([articles[1].id, articles[0].id], 2)
    assert await _feed(session, reader) == []  # read at read time, never fanned out


async def test_an_authors_followers_are_read_in_follower_order_by_an_index(
    session: AsyncSession, is_postgres: bool
) -> None:
    """The fan-out's keyset step (`follower_id > after ORDER BY follower_id LIMIT n`) reads a
    step's worth of followers in order, never all of them sorted (migration 0022); the plan
    PostgreSQL makes without parameters' values, as for a prepared statement."""
    if not is_postgres:
        pytest.skip("the plan checked is PostgreSQL's")
    prepare = (
        "PREPARE step(int, int) AS SELECT follower_id FROM follows"
        " WHERE followee_id = $1 AND follower_id > $2 ORDER BY follower_id LIMIT 50"
    )
    await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    for scan in ("seqscan", "bitmapscan"):  # what a tiny table's plan would rather use
        await session.execute(text(f"SET LOCAL enable_{scan} = off"))
    await session.execute(text(prepare))
    explained = await session.execute(text("EXPLAIN (COSTS OFF) EXECUTE step(1, 0)"))
    plan = "\n".join(explained.scalars())
    await session.execute(text("DEALLOCATE step"))
    await session.rollback()
    assert "ix_follows_followee_id_follower_id" in plan
    assert "Sort" not in plan, plan


async def test_an_author_with_too_many_articles_is_pulled_by_the_follow_that_would_copy_them(
    app: FastAPI, session: AsyncSession
) -> None:
    prolific, reader = await new_user(session), await new_user(session)
    articles = [await _article(app, session, prolific, minutes=m) for m in range(3)]
    session.add(Follow(follower_id=reader, followee_id=prolific))
    await feeds.follow(session, reader, prolific)
    await session.commit()

    await run_jobs_until_idle(app, feed_pull_articles=2)

    assert await _feed(session, reader) == []
    assert await _pulls(session) == {(reader, prolific)}
    assert await _page(session, reader) == ([a.id for a in reversed(articles)], 3)


async def test_a_rebuild_gives_pulled_authors_pulls_and_no_entries(
    app: FastAPI, session: AsyncSession
) -> None:
    star, author, reader = [await new_user(session) for _ in range(3)]
    starred = await _article(app, session, star, minutes=1)
    plain = await _article(app, session, author, minutes=2)
    await _follow(app, session, reader, star)
    await _follow(app, session, reader, author)
    session.add(FeedPulledAuthor(author_id=star))
    await session.commit()

    async with cast(AsyncEngine, session.bind).begin() as conn:
        await counters.recount(conn)
        await feeds.rebuild(conn)

    assert await _feed(session, reader) == [plain.id]
    assert await _pulls(session) == {(reader, star)}
    assert await _page(session, reader) == ([plain.id, starred.id], 2)
