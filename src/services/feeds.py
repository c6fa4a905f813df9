"""The feed, fanned out by background jobs: each follower's articles as rows of `feed_entries`.

A feed page is then a range scan of the viewer's first entries, and `articlesCount` one
lookup of `feed_counts`, whatever the number of authors followed (article_queries.feed_page).
Why, and what reading it from the followed authors cost: docs/performance.md, "Pages in
index order: tag, favorited, feed".

The invariant, once the jobs have caught up: `feed_entries` holds exactly one row per
(follower, article of an author they follow), and `feed_counts.articles_count` is the number
of those rows.

Requests do constant work: publishing, deleting, following and unfollowing each enqueue one
job in their own transaction (src/services/jobs). The jobs write in steps of at most
FEED_FANOUT_BATCH rows, each step enqueueing the next in its transaction.

Jobs: each step reconciles state rather than replaying an event, so any order of steps, and
a step run twice, ends in the invariant:
- publish: if the article exists, into the feeds of its author's followers (by follower id);
- retract: a deleted article's entries, found by article id (`ix_feed_entries_article_id`),
  whoever follows its author by now;
- follow: if the follow still holds, the author's articles into the follower's feed;
- unfollow: if the follow is gone, the author's articles out of the follower's feed.
A count moves only by the rows a step finds missing (or deletes), so it stays exact.

Ordering: a step key-share locks the author's row, then takes the author's fan-out lock (a
transaction advisory lock on PostgreSQL; SQLite runs one writer at a time), the order an
account's deletion takes them (`remove_author`), so steps for one author never interleave with
each other or with the deletion, and a step finds nothing to do once the account is gone. The
follows and articles a step read may change under it: the job that change enqueued waits for
the lock and corrects it. `feed_counts` rows are moved in user id order, the global order of
counters.py.

Pulled authors (hybrid): an author with more than FEED_PULL_FOLLOWERS followers or
FEED_PULL_ARTICLES articles is listed in `feed_pulled_authors` and is no longer fanned out;
each follower holds a `feed_pulls` row instead, and the feed page merges that author's newest
articles at read time (article_queries.feed_page), `articlesCount` adding the author's
`articles_count`. A follower's feed holds either entries of an author or a pull, never both:
the steps that switch a follower (`feed.pull`, a follow step) delete the entries and insert the
pull in one transaction. Being pulled is for good; the publish and follow steps decide it.
Following or unfollowing a pulled author writes the pull row in the request, with no job.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from src.core.config import Settings
from src.models import Article, FeedCount, FeedEntry, FeedPull, FeedPulledAuthor, Follow, User
from src.models.base import UTCDateTime
from src.services.jobs import JobContext, Payload, enqueue, job, run_together
from src.services.jobs.queue import enqueue_for_each
from src.services.sql import conflict_insert, insert_once, rows_matched, table_of

PUBLISH, RETRACT, FOLLOW, UNFOLLOW = "feed.publish", "feed.retract", "feed.follow", "feed.unfollow"
PULL = "feed.pull"
# Followers one `feed.pull` step switches: each costs a scan of that follower's own entries.
PULL_FOLLOWERS_PER_STEP = 50
# Article ids per retract job an account deletion enqueues.
RETRACT_IDS_PER_JOB = 1000
# pg_advisory_xact_lock(class, author id): the class keeps these apart from other uses.
FANOUT_LOCK_CLASS = 0x46454544


# What a feed entry is made of: `_insert_entries` takes selects of these, in this order.
ENTRY_COLUMNS = ["follower_id", "article_created_at", "article_id"]


def _insert_entries(entries: Any) -> Any:
    return insert(FeedEntry).from_select(ENTRY_COLUMNS, entries)


async def _move_by(session: AsyncSession, gains: dict[int, int]) -> None:
    """Each listed user's count moved by its gain, in user id order (the lock order)."""
    rows = [{"user_id": user, "articles_count": gains[user]} for user in sorted(gains)]
    rows = [row for row in rows if row["articles_count"]]
    if not rows:
        return
    upsert = conflict_insert(session.get_bind().dialect.name)
    statement = upsert(FeedCount).values(rows)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[FeedCount.user_id],
            set_={"articles_count": FeedCount.articles_count + statement.excluded.articles_count},
        )
    )


async def _add_entries(session: AsyncSession, entries: list[tuple[int, datetime, int]]) -> None:
    """The entries a step found missing, after their counts (their rows must exist first)."""
    await _move_by(session, dict(Counter(follower for follower, _, _ in entries)))
    if entries:
        await session.execute(
            insert(FeedEntry),
            [dict(zip(ENTRY_COLUMNS, entry, strict=True)) for entry in entries],
        )


# --- In the request: one job each, whatever the number of followers or articles ---


async def add_article(
    session: AsyncSession, author_id: int, article_id: int, created_at: datetime
) -> None:
    """Into the feeds of the author's followers, by a job."""
    del created_at  # the job reads it from the article, which exists as long as it matters
    await enqueue(session, PUBLISH, {"article": article_id, "author": author_id})


def publish_each(article: Any) -> Any:
    """PostgreSQL: `add_article` inside the create's own statement, a CTE inserting the publish
    job of each row (`id`, `author_id`) of `article`."""
    payload = func.json_build_object("article", article.c.id, "author", article.c.author_id)
    return enqueue_for_each(PUBLISH, payload, article)


def follow_each(followed: Any, *, pulled: bool) -> Any:
    """PostgreSQL: `follow` inside the follow's own statement, for each row (`follower_id`,
    `followee_id`) of `followed`: a pulled author's (`pulled`, as read in the request) pull
    row, any other's follow job."""
    if pulled:
        rows = select(followed.c.follower_id, followed.c.followee_id)
        pull = postgresql.insert(table_of(FeedPull)).from_select(["follower_id", "author_id"], rows)
        return pull.on_conflict_do_nothing()
    payload = func.json_build_object(
        "follower", followed.c.follower_id, "author", followed.c.followee_id
    )
    return enqueue_for_each(FOLLOW, payload, followed)


def unfollow_each(unfollowed: Any) -> tuple[Any, Any]:
    """PostgreSQL: `unfollow` inside the unfollow's own statement, for each row (`follower_id`,
    `followee_id`) of `unfollowed`: the pull row's deletion, and the unfollow job of the rows
    that had none (a CTE reading the first, so both see which)."""
    pulls = table_of(FeedPull)
    gone_pull = (
        delete(pulls)
        .where(
            tuple_(pulls.c.follower_id, pulls.c.author_id).in_(
                select(unfollowed.c.follower_id, unfollowed.c.followee_id)
            )
        )
        .returning(pulls.c.follower_id)
        .cte("gone_pull")
    )
    entries = (
        select(unfollowed.c.follower_id, unfollowed.c.followee_id)
        .where(~exists(select(gone_pull.c.follower_id)))
        .cte("entries_to_drop")
    )
    payload = func.json_build_object(
        "follower", entries.c.follower_id, "author", entries.c.followee_id
    )
    return gone_pull, enqueue_for_each(UNFOLLOW, payload, entries)


async def remove_article(
    session: AsyncSession, author_id: int, article_id: int, created_at: datetime
) -> None:
    """Out of every feed that holds it, by a job."""
    del created_at
    await enqueue(session, RETRACT, {"article": article_id, "author": author_id})


def is_pulled(author_id: Any) -> Any:
    """SQL: is the author pulled (read at read time, not fanned out)?"""
    return (
        select(FeedPulledAuthor.author_id).where(FeedPulledAuthor.author_id == author_id).exists()
    )


def _pull_row(dialect: str, follower_id: int, author_id: int) -> Any:
    return insert_once(
        dialect, table_of(FeedPull), {"follower_id": follower_id, "author_id": author_id}
    )


async def follow(
    session: AsyncSession, follower_id: int, author_id: int, *, pulled: bool = False
) -> None:
    """The author's articles into the follower's feed: a pulled author's (`pulled`, as read in
    the request) by their pull row at once, any other's by a job."""
    if pulled:
        await session.execute(_pull_row(session.get_bind().dialect.name, follower_id, author_id))
        return
    await enqueue(session, FOLLOW, {"follower": follower_id, "author": author_id})


async def unfollow(session: AsyncSession, follower_id: int, author_id: int) -> None:
    """The author's articles out of the follower's feed: a pull row goes at once (the feed
    then holds no entry of theirs); entries go by a job."""
    pull = delete(FeedPull).where(
        FeedPull.follower_id == follower_id, FeedPull.author_id == author_id
    )
    if rows_matched(await session.execute(pull)):
        return
    await enqueue(session, UNFOLLOW, {"follower": follower_id, "author": author_id})


# --- The jobs' steps: each reads the rows it will write once, then writes exactly those ---


async def _fanout_lock(session: AsyncSession, author_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(FANOUT_LOCK_CLASS, author_id)))


_IDS = postgresql.ARRAY(Integer)
_AUTHOR = bindparam("author", type_=Integer)
_AUTHOR_ROW = select(User.id, User.articles_count, is_pulled(User.id).label("pulled")).where(
    User.id == _AUTHOR
)


def _locking_authors(unpulled_only: bool) -> Any:
    """PostgreSQL: the authors' row locks (key share: they wait only for an account's
    deletion) in id order, then their fan-out locks in id order, the order the deletion takes
    them, in one statement; with what a step needs to know of each author: articles_count,
    pulled, and more than `batch` followers (counted no further). A pulled author's followers
    are never counted, and with `unpulled_only` (publish: a pulled author's steps write
    nothing, and it is pulled for good) its row is neither returned nor locked, so a
    celebrity's publish jobs never hold its row while its creates update it
    (docs/performance.md, "Feed jobs run together")."""
    more = (
        select(Follow.follower_id)
        .where(Follow.followee_id == User.id)
        .offset(bindparam("batch", type_=Integer))
        .correlate(User)
    )
    pulled = is_pulled(User.id)
    conditions = [User.id == func.any(bindparam("authors", type_=_IDS))]
    if unpulled_only:
        conditions.append(~pulled)
    locked = (
        select(
            User.id,
            User.articles_count,
            pulled.label("pulled"),
            case((pulled, false()), else_=exists(more)).label("crowded"),
        )
        .where(*conditions)
        .order_by(User.id)
        .with_for_update(read=True, key_share=True, of=User)
        .cte("author")
        .prefix_with("MATERIALIZED")
    )
    in_order = select(locked).order_by(locked.c.id).offset(0).subquery()
    return select(
        in_order,
        func.pg_advisory_xact_lock(FANOUT_LOCK_CLASS, in_order.c.id).label("locked"),
    )


_LOCK_AUTHORS = _locking_authors(unpulled_only=False)
_LOCK_UNPULLED_AUTHORS = _locking_authors(unpulled_only=True)


async def _lock_author(session: AsyncSession, author_id: int) -> Any:
    """The author's locks (`_locking_authors`; SQLite has one writer at a time: none to take)
    and (articles_count, pulled), or None when the account is gone (its deletion enqueued the
    removal of its articles' entries)."""
    conn = await session.connection()
    if conn.dialect.name == "postgresql":  # `crowded` unused here: one index probe, one statement
        found = await conn.execute(_LOCK_AUTHORS, {"authors": [author_id], "batch": 0})
    else:
        found = await conn.execute(_AUTHOR_ROW, {"author": author_id})
    return found.first()


async def _pull_author(session: AsyncSession, author_id: int) -> None:
    """From now on the author is read at read time: its followers are switched by jobs."""
    await session.execute(
        insert_once(
            session.get_bind().dialect.name, table_of(FeedPulledAuthor), {"author_id": author_id}
        )
    )
    await enqueue(session, PULL, {"author": author_id})


async def _too_many_followers(session: AsyncSession, author_id: int, threshold: int) -> bool:
    """More than `threshold` followers, counted no further than that."""
    some = select(Follow.follower_id).where(Follow.followee_id == author_id).limit(threshold + 1)
    counted = await session.scalar(select(func.count()).select_from(some.subquery()))
    return int(counted or 0) > threshold


async def _drop_entries(session: AsyncSession, followers: list[int], author_id: int) -> None:
    """Each follower's entries of the author out (a scan of that follower's own entries, never
    of the author's articles), with their counts."""
    theirs = (
        select(Article.id)
        .where(Article.id == FeedEntry.article_id, Article.author_id == author_id)
        .exists()
    )
    gone = await session.scalars(
        delete(FeedEntry)
        .where(FeedEntry.follower_id.in_(followers), theirs)
        .returning(FeedEntry.follower_id)
        .execution_options(synchronize_session=False)
    )
    await _move_by(session, {f: -n for f, n in Counter(gone).items()})


async def _switch_to_pull(session: AsyncSession, followers: list[int], author_id: int) -> None:
    """Entries of the author out and a pull in, for each follower, in this transaction."""
    if not followers:
        return
    await _drop_entries(session, followers, author_id)
    dialect = session.get_bind().dialect.name
    upsert = conflict_insert(dialect)(FeedPull)
    await session.execute(
        upsert.values(
            [{"follower_id": f, "author_id": author_id} for f in followers]
        ).on_conflict_do_nothing()
    )


def _follows(follower_id: int, author_id: int) -> Any:
    return select(Follow.follower_id).where(
        Follow.follower_id == follower_id, Follow.followee_id == author_id
    )


def _entries_and_counts(rows: Any, sign: int = 1) -> Any:
    """The entries `rows` (ENTRY_COLUMNS, in follower order) written (`sign` 1: inserted
    where missing) or deleted (-1: `rows` is the DELETE's RETURNING), and each follower's
    count moved by as many, in follower id order (the lock order); the count row is written
    first: the entries' foreign-key checks run at the end of the statement."""
    if sign > 0:
        written = (
            postgresql.insert(table_of(FeedEntry))
            .from_select(ENTRY_COLUMNS, rows)
            .on_conflict_do_nothing()
            .returning(FeedEntry.follower_id)
            .cte("entry")
        )
    else:
        written = rows
    counts = postgresql.insert(table_of(FeedCount))
    moved = (
        select(written.c.follower_id, func.count() * sign)
        .group_by(written.c.follower_id)
        .order_by(written.c.follower_id)
    )
    counted = (
        counts.from_select(["user_id", "articles_count"], moved)
        .on_conflict_do_update(
            index_elements=[FeedCount.user_id],
            set_={"articles_count": FeedCount.articles_count + counts.excluded.articles_count},
        )
        .returning(literal(1))
        .cte("counted")
    )
    return select(func.count()).select_from(counted)


@dataclass(frozen=True, slots=True)
class _Batch:
    """What a publish step did: `crowded` (too many followers: nothing written, the author is
    to be pulled), or the followers it covered (`size`, the `last` id) when the article exists."""

    crowded: bool
    size: int = 0
    last: int | None = None


def _fan_out_in_one_statement() -> Any:
    """PostgreSQL: a publish step's reads and writes as one statement: on the first step, no
    more than `crowd` followers (counted no further); the article's `created_at`; the next
    `batch` followers after `after`, in id order; the entries they lack (`ON CONFLICT DO
    NOTHING` on the feed's primary key), and those followers' counts moved by the entries
    written, in id order (the lock order). The entries' foreign-key checks run at the end of
    the statement, after their count rows were written."""
    crowded = and_(
        bindparam("first", type_=Boolean),
        exists(
            select(Follow.follower_id)
            .where(Follow.followee_id == _AUTHOR)
            .offset(bindparam("crowd", type_=Integer))
        ),
    )
    crowd = select(crowded.label("crowded")).cte("crowd")
    article_id = bindparam("article", type_=Integer)
    article = select(Article.created_at).where(Article.id == article_id).cte("article")
    follower = (
        select(Follow.follower_id)
        .where(
            Follow.followee_id == _AUTHOR, Follow.follower_id > bindparam("after", type_=Integer)
        )
        .order_by(Follow.follower_id)
        .limit(bindparam("batch", type_=Integer))
        .cte("follower")
    )
    rows = (
        select(follower.c.follower_id, article.c.created_at, article_id)
        .select_from(follower.join(article, true()).join(crowd, true()))
        .where(crowd.c.crowded.is_(False))
        .order_by(follower.c.follower_id)
    )
    return select(
        crowd.c.crowded,
        exists(select(article.c.created_at)).label("found"),
        select(func.count()).select_from(follower).scalar_subquery().label("size"),
        select(func.max(follower.c.follower_id)).scalar_subquery().label("last"),
        _entries_and_counts(rows).scalar_subquery().label("added"),
    ).select_from(crowd)


_FAN_OUT = _fan_out_in_one_statement()


async def _fan_out_postgresql(
    session: AsyncSession, payload: Payload, settings: Settings
) -> _Batch | None:
    conn = await session.connection()
    params = {
        "author": int(payload["author"]),
        "article": int(payload["article"]),
        "after": int(payload.get("after", 0)),
        "batch": settings.feed_fanout_batch,
        "first": "after" not in payload,
        "crowd": settings.feed_pull_followers,
    }
    step = (await conn.execute(_FAN_OUT, params)).one()
    if step.crowded:
        return _Batch(crowded=True)
    return _Batch(False, step.size, step.last) if step.found else None


async def _fan_out_in_turn(
    session: AsyncSession, payload: Payload, settings: Settings
) -> _Batch | None:
    """SQLite (one writer at a time): the same reads and writes, one statement each; the
    counts before the entries (its foreign-key checks are immediate)."""
    article_id, author_id = int(payload["article"]), int(payload["author"])
    if "after" not in payload and await _too_many_followers(
        session, author_id, settings.feed_pull_followers
    ):
        return _Batch(crowded=True)
    created_at = await session.scalar(select(Article.created_at).where(Article.id == article_id))
    if created_at is None:
        return None
    followers = list(
        await session.scalars(
            select(Follow.follower_id)
            .where(Follow.followee_id == author_id, Follow.follower_id > payload.get("after", 0))
            .order_by(Follow.follower_id)
            .limit(settings.feed_fanout_batch)
        )
    )
    have = set(
        await session.scalars(
            select(FeedEntry.follower_id).where(
                FeedEntry.follower_id.in_(followers),
                FeedEntry.article_created_at == literal(created_at, UTCDateTime()),
                FeedEntry.article_id == article_id,
            )
        )
    )
    missing = [(follower, created_at, article_id) for follower in followers if follower not in have]
    await _add_entries(session, missing)
    return _Batch(False, len(followers), followers[-1] if followers else None)


@job(PUBLISH, claimed_together=True)
async def _publish_step(context: JobContext, payload: Payload) -> None:
    session, settings = context.session, context.settings
    author_id = int(payload["author"])
    author = await _lock_author(session, author_id)
    if author is None or author.pulled:  # a pulled author's followers read it at read time
        return
    if "after" not in payload and author.articles_count > settings.feed_pull_articles:
        await _pull_author(session, author_id)
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    fan_out = _fan_out_postgresql if postgres else _fan_out_in_turn
    # A follower who left since is handled by their unfollow job, which waits for this lock.
    step = await fan_out(session, payload, settings)
    if step is None:  # deleted: its retract job removes what earlier steps wrote
        return
    if step.crowded:
        await _pull_author(session, author_id)
    elif step.size == settings.feed_fanout_batch:
        await enqueue(session, PUBLISH, {**payload, "after": step.last})


@job(RETRACT, claimed_together=True)
async def _retract_step(context: JobContext, payload: Payload) -> None:
    session, batch = context.session, context.settings.feed_fanout_batch
    ids = (
        [int(i) for i in payload["articles"]]
        if "articles" in payload
        else [int(payload["article"])]
    )
    await _fanout_lock(session, int(payload["author"]))
    key = tuple_(FeedEntry.follower_id, FeedEntry.article_created_at, FeedEntry.article_id)
    some = (
        select(FeedEntry.follower_id, FeedEntry.article_created_at, FeedEntry.article_id)
        .where(FeedEntry.article_id.in_(ids))
        .limit(batch)
    )
    gone = list(
        await session.scalars(
            delete(FeedEntry).where(key.in_(some)).returning(FeedEntry.follower_id)
        )
    )
    await _move_by(session, {f: -n for f, n in Counter(gone).items()})
    if len(gone) == batch:
        await enqueue(session, RETRACT, payload)


async def _articles_of(session: AsyncSession, payload: Payload, batch: int) -> list[Any]:
    """The step's share of the author's articles: (created_at, id) in page order."""
    articles = select(Article.created_at, Article.id).where(
        Article.author_id == int(payload["author"])
    )
    if (after := payload.get("after")) is not None:
        at = literal(datetime.fromisoformat(after[0]), UTCDateTime())
        articles = articles.where(
            tuple_(Article.created_at, Article.id) > tuple_(at, literal(int(after[1])))
        )
    rows = await session.execute(articles.order_by(Article.created_at, Article.id).limit(batch))
    return list(rows.all())


def _next_after(articles: list[Any], batch: int) -> list[Any] | None:
    if len(articles) < batch:
        return None
    last = articles[-1]
    return [last.created_at.isoformat(), int(last.id)]


def _entries_of(follower_id: int, articles: list[Any]) -> Any:
    """The follower's entries among `articles` (a key range of the feed's primary key)."""
    return (
        FeedEntry.follower_id == follower_id,
        FeedEntry.article_created_at.between(
            literal(articles[0].created_at, UTCDateTime()),
            literal(articles[-1].created_at, UTCDateTime()),
        ),
        FeedEntry.article_id.in_([row.id for row in articles]),
    )


async def _pair_step(context: JobContext, payload: Payload, *, following: bool) -> list[Any]:
    """A follow's or unfollow's step: the author's articles it covers, none when the author
    is gone or the follow no longer is as the job expects. A pulled author's follower is
    switched to (following) or cleaned of (unfollowing) that author at once instead."""
    session, settings = context.session, context.settings
    follower_id, author_id = int(payload["follower"]), int(payload["author"])
    author = await _lock_author(session, author_id)
    if author is None:
        return []
    if (await session.scalar(_follows(follower_id, author_id)) is not None) != following:
        return []
    if not author.pulled and following and author.articles_count > settings.feed_pull_articles:
        await _pull_author(session, author_id)
    elif not author.pulled:
        return await _articles_of(session, payload, settings.feed_fanout_batch)
    if following:
        await _switch_to_pull(session, [follower_id], author_id)
    else:
        await _drop_entries(session, [follower_id], author_id)
    return []


@job(FOLLOW, claimed_together=True)
async def _follow_step(context: JobContext, payload: Payload) -> None:
    session, batch = context.session, context.settings.feed_fanout_batch
    follower_id = int(payload["follower"])
    # Unfollowed since: the unfollow job removes what earlier steps copied.
    articles = await _pair_step(context, payload, following=True)
    if not articles:
        return
    have = set(
        await session.scalars(
            select(FeedEntry.article_id).where(*_entries_of(follower_id, articles))
        )
    )
    # An article deleted since is removed by its retract job, which waits for this lock.
    missing = [(follower_id, row.created_at, row.id) for row in articles if row.id not in have]
    await _add_entries(session, missing)
    if (after := _next_after(articles, batch)) is not None:
        await enqueue(session, FOLLOW, {**payload, "after": after})


@job(UNFOLLOW, claimed_together=True)
async def _unfollow_step(context: JobContext, payload: Payload) -> None:
    session, batch = context.session, context.settings.feed_fanout_batch
    follower_id = int(payload["follower"])
    # Followed again since: the feed keeps the author's articles.
    articles = await _pair_step(context, payload, following=False)
    if not articles:
        return
    gone = await session.scalars(
        delete(FeedEntry)
        .where(*_entries_of(follower_id, articles))
        .returning(FeedEntry.follower_id)
    )
    await _move_by(session, {follower_id: -len(list(gone))})
    if (after := _next_after(articles, batch)) is not None:
        await enqueue(session, UNFOLLOW, {**payload, "after": after})


@job(PULL, claimed_together=True)
async def _pull_step(context: JobContext, payload: Payload) -> None:
    """A pulled author's followers switched from entries to a pull, a few per step."""
    session, author_id = context.session, int(payload["author"])
    if await _lock_author(session, author_id) is None:
        return
    followers = list(
        await session.scalars(
            select(Follow.follower_id)
            .where(Follow.followee_id == author_id, Follow.follower_id > payload.get("after", 0))
            .order_by(Follow.follower_id)
            .limit(PULL_FOLLOWERS_PER_STEP)
        )
    )
    await _switch_to_pull(session, followers, author_id)
    if len(followers) == PULL_FOLLOWERS_PER_STEP:
        await enqueue(session, PULL, {**payload, "after": followers[-1]})


# --- Jobs run together (PostgreSQL): first steps of several jobs in one transaction ---
# Why and how: docs/performance.md, "Feed jobs run together".


def _publish_all() -> Any:
    """Publish jobs: the articles (those still there) of the authors kept, into their
    followers' feeds."""
    article = (
        select(Article.id, Article.author_id, Article.created_at)
        .where(
            Article.id == func.any(bindparam("articles", type_=_IDS)),
            Article.author_id == func.any(bindparam("authors", type_=_IDS)),
        )
        .cte("article")
    )
    rows = (
        select(Follow.follower_id, article.c.created_at, article.c.id)
        .join(article, Follow.followee_id == article.c.author_id)
        .order_by(Follow.follower_id)
    )
    return _entries_and_counts(rows)


def _pairs() -> Any:
    """The (follower, author) pairs of follow or unfollow jobs: two arrays, zipped."""
    return select(
        func.unnest(bindparam("followers", type_=_IDS)).label("follower_id"),
        func.unnest(bindparam("authors", type_=_IDS)).label("author_id"),
    ).cte("pair")


def _still_follows(pair: Any) -> Any:
    return exists().where(
        Follow.follower_id == pair.c.follower_id, Follow.followee_id == pair.c.author_id
    )


def _follow_all() -> Any:
    """Follow jobs: for each pair still followed, the author's articles into the feed."""
    pair = _pairs()
    rows = (
        select(pair.c.follower_id, Article.created_at, Article.id)
        .join(Article, Article.author_id == pair.c.author_id)
        .where(_still_follows(pair))
        .order_by(pair.c.follower_id)
    )
    return _entries_and_counts(rows)


def _unfollow_all() -> Any:
    """Unfollow jobs: for each pair no longer followed, the author's articles out of the feed."""
    pair = _pairs()
    key = tuple_(FeedEntry.follower_id, FeedEntry.article_created_at, FeedEntry.article_id)
    theirs = (
        select(pair.c.follower_id, Article.created_at, Article.id)
        .join(Article, Article.author_id == pair.c.author_id)
        .where(~_still_follows(pair))
    )
    gone = delete(table_of(FeedEntry)).where(key.in_(theirs)).returning(FeedEntry.follower_id)
    return _entries_and_counts(gone.cte("gone"), sign=-1)


_PUBLISH_ALL, _FOLLOW_ALL, _UNFOLLOW_ALL = _publish_all(), _follow_all(), _unfollow_all()


async def _authors_together(
    context: JobContext, payloads: list[Payload], kept: Any, *, pulled_done: bool = False
) -> tuple[AsyncConnection, dict[int, Payload], set[int]] | None:
    """The first steps among `payloads` whose author one statement covers (`kept(author)`,
    from the author's locked row) or whose account is gone (nothing to do), or, with
    `pulled_done`, who is pulled (nothing to do either), and the authors kept; None on
    SQLite, where every job runs alone."""
    conn = await context.session.connection()
    if conn.dialect.name != "postgresql":
        return None
    firsts = {i: payload for i, payload in enumerate(payloads) if "after" not in payload}
    authors = sorted({int(payload["author"]) for payload in firsts.values()})
    if not authors:
        return None
    settings = context.settings
    params = {
        "authors": authors,
        "batch": min(settings.feed_fanout_batch, settings.feed_pull_followers),
    }
    # With `pulled_done`, a pulled author is not found (nor locked): settled, as a gone one.
    statement = _LOCK_UNPULLED_AUTHORS if pulled_done else _LOCK_AUTHORS
    found = (await conn.execute(statement, params)).all()
    covered = {row.id for row in found if not row.pulled and kept(row)}
    settled = covered | (set(authors) - {row.id for row in found})
    done = {i: p for i, p in firsts.items() if int(p["author"]) in settled}
    return conn, done, covered


def _covered_steps(settings: Settings) -> int:
    """The most articles one follow or unfollow step covers, and no more than an author may
    have before a follow pulls them."""
    return min(settings.feed_fanout_batch, settings.feed_pull_articles)


@run_together(PUBLISH)
async def _publish_together(context: JobContext, payloads: list[Payload]) -> set[int]:
    """First steps of publish jobs whose author has no more followers than a step takes and
    is neither pulled nor to be: in one transaction and two statements; a pulled author's
    (its followers read it at read time) are done with nothing to write."""
    pull_articles = context.settings.feed_pull_articles
    found = await _authors_together(
        context,
        payloads,
        lambda row: row.articles_count <= pull_articles and not row.crowded,
        pulled_done=True,
    )
    if found is None:
        return set()
    conn, done, covered = found
    if covered:
        articles = sorted({int(payload["article"]) for payload in done.values()})
        await conn.execute(_PUBLISH_ALL, {"articles": articles, "authors": sorted(covered)})
    return set(done)


async def _pairs_together(context: JobContext, payloads: list[Payload], statement: Any) -> set[int]:
    most = _covered_steps(context.settings)
    found = await _authors_together(context, payloads, lambda row: row.articles_count <= most)
    if found is None:
        return set()
    conn, done, covered = found
    pairs = sorted(
        {
            (int(p["follower"]), int(p["author"]))
            for p in done.values()
            if int(p["author"]) in covered
        }
    )
    if pairs:
        followers, authors = zip(*pairs, strict=True)
        await conn.execute(statement, {"followers": list(followers), "authors": list(authors)})
    return set(done)


@run_together(FOLLOW)
async def _follow_together(context: JobContext, payloads: list[Payload]) -> set[int]:
    """First steps of follow jobs whose author is not pulled and has no more articles than a
    step covers: in one transaction and two statements."""
    return await _pairs_together(context, payloads, _FOLLOW_ALL)


@run_together(UNFOLLOW)
async def _unfollow_together(context: JobContext, payloads: list[Payload]) -> set[int]:
    """As `_follow_together`, for unfollow jobs."""
    return await _pairs_together(context, payloads, _UNFOLLOW_ALL)


# --- Account deletion: its request enqueues, jobs remove ---


async def remove_author(session: AsyncSession, author_id: int, articles: int) -> None:
    """An account about to be deleted (its row and articles locked by the caller): its
    articles leave every feed that holds them, by retract jobs of a bounded list of ids each,
    so the request's work grows with its own articles, not with its audience."""
    if not articles:
        return
    ids = list(await session.scalars(select(Article.id).where(Article.author_id == author_id)))
    for start in range(0, len(ids), RETRACT_IDS_PER_JOB):
        chunk = ids[start : start + RETRACT_IDS_PER_JOB]
        await enqueue(session, RETRACT, {"author": author_id, "articles": chunk})


async def rebuild(conn: AsyncConnection) -> None:
    """Every feed from the follows and articles (after a bulk load, or as a repair): entries
    for the authors fanned out, pulls for the pulled ones; run after `counters.recount`,
    whose `users.articles_count` gives the counts."""
    await conn.execute(delete(FeedEntry))
    await conn.execute(delete(FeedCount))
    await conn.execute(delete(FeedPull))
    pulled = Follow.followee_id.in_(select(FeedPulledAuthor.author_id))
    await conn.execute(
        insert(FeedPull).from_select(
            ["follower_id", "author_id"],
            select(Follow.follower_id, Follow.followee_id).where(pulled),
        )
    )
    counts = (
        select(Follow.follower_id, func.sum(User.articles_count))
        .join(User, User.id == Follow.followee_id)
        .where(~pulled)
        .group_by(Follow.follower_id)
    )
    await conn.execute(insert(FeedCount).from_select(["user_id", "articles_count"], counts))
    entries = (
        select(Follow.follower_id, Article.created_at, Article.id)
        .join(Article, Article.author_id == Follow.followee_id)
        .where(~pulled)
    )
    fill = _insert_entries(entries)
    if conn.dialect.name != "postgresql":
        await conn.execute(fill)
        return
    # ~50 rows per article: one index build after the rows costs far less than keeping the
    # index up to date through the load.
    await conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    await conn.execute(text("ALTER TABLE feed_entries DROP CONSTRAINT pk_feed_entries"))
    await conn.execute(text("DROP INDEX ix_feed_entries_article_id"))
    await conn.execute(fill)
    await conn.execute(text("CREATE INDEX ix_feed_entries_article_id ON feed_entries (article_id)"))
    await conn.execute(
        text(
            "ALTER TABLE feed_entries ADD CONSTRAINT pk_feed_entries "
            f"PRIMARY KEY ({', '.join(ENTRY_COLUMNS)})"
        )
    )
