"""The feed, fanned out on write: each follower's articles as rows of `feed_entries`.

A feed page is then a range scan of the viewer's first entries, and `articlesCount` one
lookup of `feed_counts`, whatever the number of authors followed (article_queries.feed_page).
Why, and what reading it from the followed authors cost: docs/performance.md, "Pages in
index order: tag, favorited, feed".

The invariant every write keeps, in its own transaction: `feed_entries` holds exactly one row
per (follower, article of an author they follow), and `feed_counts.articles_count` is the
number of those rows. So:

- an article is written into, or removed from, the feeds of its author's followers;
- a follow copies the author's articles into the follower's feed, an unfollow removes them;
- deleting an account removes its articles from its followers' feeds (its own feed goes with
  its `feed_counts` row, by cascade).

Ordering: a follow, an unfollow and an article's writer all hold the author's `users` row lock
(article writers move its `articles_count` first; follows take `counters.lock_user`), so a
follow never misses an article written beside it. `feed_counts` rows are locked last in the
global order of counters.py, by user id (each statement walks the followers in id order), so
writers that share followers never deadlock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, literal, select, text, true, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from src.models import Article, FeedCount, FeedEntry, Follow, User
from src.models.base import UTCDateTime
from src.services.sql import conflict_insert


async def _move_counts(session: AsyncSession, gains: Any) -> None:
    """`articles_count + gain` for each (user_id, gain) row `gains` selects, in user id order
    (the lock order); a user without a row gets one, so no count is lost to a missing row."""
    upsert = conflict_insert(session.get_bind().dialect.name)
    statement = upsert(FeedCount).from_select(["user_id", "articles_count"], gains)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[FeedCount.user_id],
            set_={"articles_count": FeedCount.articles_count + statement.excluded.articles_count},
        )
    )


# What a feed entry is made of: `_insert_entries` takes selects of these, in this order.
ENTRY_COLUMNS = ["follower_id", "article_created_at", "article_id"]


def _insert_entries(entries: Any) -> Any:
    return insert(FeedEntry).from_select(ENTRY_COLUMNS, entries)


def _followers_gain(author_id: int, gain: int) -> Any:
    followers = _followers_of(author_id).add_columns(literal(gain))
    return followers.order_by(Follow.follower_id)


def _follower_gains(follower_id: int, gain: Any) -> Any:
    # WHERE true: SQLite's upsert needs its SELECT to end in a clause that ON cannot extend.
    return select(literal(follower_id), gain).where(true())


def _followers_of(author_id: int) -> Any:
    return select(Follow.follower_id).where(Follow.followee_id == author_id)


async def add_article(
    session: AsyncSession, author_id: int, article_id: int, created_at: datetime
) -> None:
    """Into the feeds of the author's followers (the caller holds the author's row lock)."""
    await _move_counts(session, _followers_gain(author_id, +1))
    entries = select(
        Follow.follower_id, literal(created_at, UTCDateTime()), literal(article_id)
    ).where(Follow.followee_id == author_id)
    await session.execute(_insert_entries(entries))


async def remove_article(
    session: AsyncSession, author_id: int, article_id: int, created_at: datetime
) -> None:
    """Out of the feeds of the author's followers (the caller holds the author's row lock)."""
    await _move_counts(session, _followers_gain(author_id, -1))
    await session.execute(
        delete(FeedEntry).where(
            FeedEntry.follower_id.in_(_followers_of(author_id)),
            FeedEntry.article_created_at == literal(created_at, UTCDateTime()),
            FeedEntry.article_id == article_id,
        )
    )


def _articles_of(author_id: int) -> Any:
    return select(Article.created_at, Article.id).where(Article.author_id == author_id)


async def follow(session: AsyncSession, follower_id: int, author_id: int) -> None:
    """Copy the author's articles into the follower's feed: just after the follows row is
    written, with the author's row locked (counters.lock_user) since before it."""
    articles = _articles_of(author_id).subquery()
    count = select(func.count()).select_from(articles).scalar_subquery()
    await _move_counts(session, _follower_gains(follower_id, count))
    entries = select(literal(follower_id), articles.c.created_at, articles.c.id)
    await session.execute(_insert_entries(entries))


async def unfollow(session: AsyncSession, follower_id: int, author_id: int) -> None:
    """Remove the author's articles from the follower's feed, each by its primary key, and
    take from the count exactly as many as went."""
    key = tuple_(FeedEntry.article_created_at, FeedEntry.article_id)
    gone = cast(
        CursorResult[Any],
        await session.execute(
            delete(FeedEntry).where(
                FeedEntry.follower_id == follower_id, key.in_(_articles_of(author_id))
            )
        ),
    )
    if gone.rowcount:
        await _move_counts(session, _follower_gains(follower_id, literal(-gone.rowcount)))


async def remove_author(session: AsyncSession, author_id: int, articles: int) -> None:
    """An account about to be deleted: its `articles` articles leave its followers' feeds."""
    if not articles:
        return
    await _move_counts(session, _followers_gain(author_id, -articles))
    entries = select(Follow.follower_id, Article.created_at, Article.id).join(
        Article, Article.author_id == Follow.followee_id
    )
    key = tuple_(FeedEntry.follower_id, FeedEntry.article_created_at, FeedEntry.article_id)
    await session.execute(
        delete(FeedEntry).where(key.in_(entries.where(Follow.followee_id == author_id)))
    )


async def rebuild(conn: AsyncConnection) -> None:
    """Every feed from the follows and articles (after a bulk load, or as a repair); run after
    `counters.recount`, whose `users.articles_count` gives the counts."""
    await conn.execute(delete(FeedEntry))
    await conn.execute(delete(FeedCount))
    counts = (
        select(Follow.follower_id, func.sum(User.articles_count))
        .join(User, User.id == Follow.followee_id)
        .group_by(Follow.follower_id)
    )
    await conn.execute(insert(FeedCount).from_select(["user_id", "articles_count"], counts))
    entries = select(Follow.follower_id, Article.created_at, Article.id).join(
        Article, Article.author_id == Follow.followee_id
    )
    fill = _insert_entries(entries)
    if conn.dialect.name != "postgresql":
        await conn.execute(fill)
        return
    # ~50 rows per article: one index build after the rows costs far less than keeping the
    # index up to date through the load.
    await conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    await conn.execute(text("ALTER TABLE feed_entries DROP CONSTRAINT pk_feed_entries"))
    await conn.execute(fill)
    await conn.execute(
        text(
            "ALTER TABLE feed_entries ADD CONSTRAINT pk_feed_entries "
            f"PRIMARY KEY ({', '.join(ENTRY_COLUMNS)})"
        )
    )
