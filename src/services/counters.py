"""Exact, maintained counts behind `articlesCount` (the design: docs/performance.md).

Counting a million rows per request is not an option, so every count a single-filter list or
the feed needs is kept up to date by the write that changes it, in the same transaction, with
relative updates (`n = n + delta`): concurrent writers serialize on the row lock and none is
lost. Where a write touches several counter rows, it locks them in one global order (the article
row, then users by id, then tags by name, then one shard of the global total, then
`feed_counts` by user id) so two writers never deadlock.

- global total       -> the sum of the `counters` rows "articles", one per shard: a writer
                        moves a shard no other writer holds (SKIP LOCKED), so writers by
                        different authors never queue on one row (docs/performance.md, "Counts")
- ?author=X          -> `users.articles_count`
- ?favorited=X       -> `users.favorites_count`
- ?tag=X             -> `tags.articles_count`
- feed               -> `feed_counts.articles_count`, moved with the feed's own rows
                        (src/services/feeds.py), whose lock comes last in the order below
- combined filters   -> `count(*)` over the indexed filters (rare, and already narrow)

Counter rows are locked before they are referenced. A write that inserts a row referencing a
counter row (an article its author, a favorite its user, an article_tags row its tag) and
moves that row's count takes the row lock (or makes the UPDATE) *before* the insert. Its
foreign-key check then finds the lock already held by its own transaction. In the other order
the check takes a KEY SHARE lock first, and the UPDATE after it (from a savepoint, or beside a
concurrent writer's check) leaves a MultiXact in the old row version's xmax. PostgreSQL's
index scans cannot tell such a version is dead, so they never mark its index entries dead:
every later lookup of that user, tag or article walks all of its old versions until VACUUM
(docs/performance.md, "Hot rows and MultiXacts").
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from src.models import Article, ArticleTag, Counter, Favorite, Tag, User
from src.services.sql import conflict_insert, table_of

ARTICLES = "articles"
# Shard rows of the global total: more than the writers in flight at once on one database, so
# a writer almost always finds one free; past that, it queues on one like any row lock.
SHARDS = 32


def articles_total_query() -> Select[int]:
    """The global total: the sum of its shard rows (one short primary-key range scan)."""
    total = cast(func.coalesce(func.sum(Counter.value), 0), BigInteger)
    return select(total).where(Counter.name == ARTICLES)


@cache
def _bump_total(dialect: str) -> Any:
    """Move the first shard no other transaction holds, from `start` on (SKIP LOCKED); when all
    are held (or none exists yet), the `start` shard, created if missing. Built once."""
    # WHERE true: SQLite's upsert needs its SELECT to end in a clause that ON cannot extend.
    return bump_total_when(dialect, true())


def bump_total_when(dialect: str, condition: Any) -> Any:
    """`_bump_total`, moving a shard only when `condition` holds: a write's one statement
    (PostgreSQL's CTEs) moves the total only if its article row was written."""
    start = bindparam("start", type_=Integer)
    free = (
        select(Counter.shard)
        .where(Counter.name == ARTICLES)
        .order_by((Counter.shard - start + SHARDS) % SHARDS)
        .limit(1)
        # FOR NO KEY UPDATE, as the update takes; SQLite has no row locks (writers serialized).
        .with_for_update(key_share=True, skip_locked=True)
        .scalar_subquery()
    )
    rows = select(
        literal(ARTICLES), func.coalesce(free, start), bindparam("delta", type_=BigInteger)
    ).where(condition)
    table = table_of(Counter)
    statement = conflict_insert(dialect)(table).from_select(["name", "shard", "value"], rows)
    return statement.on_conflict_do_update(
        index_elements=[Counter.name, Counter.shard],
        set_={"value": Counter.value + statement.excluded.value},
    )


async def bump_articles_total(session: AsyncSession, delta: int, author_id: int) -> None:
    """One statement, and no wait on another writer's shard: `author_id` only spreads where
    the search for a free shard starts, so concurrent authors rarely try the same one first."""
    conn = await session.connection()
    params = {"start": author_id % SHARDS, "delta": delta}
    await conn.execute(_bump_total(conn.dialect.name), params)


# The hot writes' statements, built once on the tables (no ORM unit of work): bind values only.
_USERS, _TAGS = table_of(User), table_of(Tag)
_USER_ID = bindparam("user_id", type_=Integer)
_DELTA = bindparam("delta", type_=Integer)
_MOVE_USER_ARTICLES = (
    update(_USERS)
    .where(_USERS.c.id == _USER_ID)
    .values(articles_count=_USERS.c.articles_count + _DELTA)
)
_MOVE_USER_FAVORITES = (
    update(_USERS)
    .where(_USERS.c.id == _USER_ID)
    .values(favorites_count=_USERS.c.favorites_count + _DELTA)
)


async def _lock_in_order(
    session: AsyncSession, column: Any, ids: list[int], *, order: Any = None, even_one: bool = False
) -> None:
    """Row locks in `order` (id order by default; PostgreSQL, SQLite writers are serialized
    already). One row needs no order: its UPDATE takes the lock, unless a reference must find
    it taken first."""
    if len(ids) > (0 if even_one else 1) and session.get_bind().dialect.name == "postgresql":
        await session.execute(
            # FOR NO KEY UPDATE: what the UPDATE takes anyway; it does not conflict with the
            # KEY SHARE locks that other transactions' foreign-key checks hold.
            select(column)
            .where(column.in_(ids))
            .order_by(column if order is None else order)
            .with_for_update(key_share=True)
        )


async def lock_users(session: AsyncSession, user_ids: Collection[int]) -> None:
    """Lock users' rows, in id order, before moving their counts or inserting rows that
    reference them (see "Counter rows are locked before they are referenced" above)."""
    await _lock_in_order(session, User.id, sorted(set(user_ids)), even_one=True)


async def lock_user(session: AsyncSession, user_id: int) -> bool:
    """Lock one user's row as lock_users does, on every database; False when the row is gone
    (a deletion committed since the caller read it: it has nothing left to reference)."""
    found = await session.scalar(
        select(User.id).where(User.id == user_id).with_for_update(key_share=True)
    )
    return found is not None


# Tags are locked in name order (code point order: Python's sort, PostgreSQL's "C"
# collation), the order in which a new article's one upsert walks them (tags_of_new_article).
_TAG_ORDER = Tag.name.collate("C")


async def lock_tags(session: AsyncSession, tag_ids: Collection[int]) -> None:
    """Lock tags' rows in the tags' lock order, before moving their counts."""
    await _lock_in_order(session, Tag.id, sorted(set(tag_ids)), order=_TAG_ORDER)


async def move_tags(
    session: AsyncSession, removed: Collection[int], added: Collection[int]
) -> None:
    """-1 on the removed tags, +1 on the added ones, after locking them all in name order."""
    ids = set(removed) | set(added)
    if not ids:
        return
    await lock_tags(session, ids)
    for tag_ids, delta in ((removed, -1), (added, +1)):
        if tag_ids:
            await session.execute(
                update(Tag)
                .where(Tag.id.in_(sorted(set(tag_ids))))
                .values(articles_count=Tag.articles_count + delta)
            )


@cache
def _count_tags_in(dialect: str, n: int) -> Any:
    """Upsert n tags by name with one article more each, returning their ids; built once per
    number of tags (bounded by the API's tag limit)."""
    names = [{"name": bindparam(f"tag_{i}", type_=String), "articles_count": 1} for i in range(n)]
    statement = conflict_insert(dialect)(_TAGS).values(names)
    return statement.on_conflict_do_update(
        index_elements=[_TAGS.c.name], set_={"articles_count": _TAGS.c.articles_count + 1}
    ).returning(_TAGS.c.id)


async def tags_of_new_article(session: AsyncSession, names: Collection[str]) -> list[int]:
    """A new article's tags: each one's count +1, missing ones created, in one statement. Its
    rows are taken in name order (the lock order) and before the article's `article_tags`
    rows reference them. Ids in no particular order."""
    ordered = sorted(set(names))
    if not ordered:
        return []
    conn = await session.connection()
    statement = _count_tags_in(conn.dialect.name, len(ordered))
    rows = await conn.execute(statement, {f"tag_{i}": name for i, name in enumerate(ordered)})
    return [int(tag_id) for tag_id in rows.scalars()]


async def _move_user(session: AsyncSession, statement: Any, user_id: int, delta: int) -> None:
    conn = await session.connection()
    await conn.execute(statement, {"user_id": user_id, "delta": delta})


async def add_user_article(session: AsyncSession, user_id: int) -> None:
    await _move_user(session, _MOVE_USER_ARTICLES, user_id, +1)


async def remove_user_article(session: AsyncSession, user_id: int) -> None:
    await _move_user(session, _MOVE_USER_ARTICLES, user_id, -1)


async def bump_user_favorites(session: AsyncSession, user_ids: Collection[int], delta: int) -> None:
    """Callers moving several users lock them first with `lock_users`."""
    ids = sorted(set(user_ids))
    if len(ids) == 1:
        await _move_user(session, _MOVE_USER_FAVORITES, ids[0], delta)
    elif ids:
        await session.execute(
            update(User)
            .where(User.id.in_(ids))
            .values(favorites_count=User.favorites_count + delta)
        )


async def recount(conn: AsyncConnection) -> None:
    """Set every maintained count from the rows themselves (after a bulk load or a repair)."""
    await conn.execute(
        update(User).values(
            articles_count=select(func.count())
            .where(Article.author_id == User.id)
            .scalar_subquery(),
            favorites_count=select(func.count())
            .where(Favorite.user_id == User.id)
            .scalar_subquery(),
        )
    )
    await conn.execute(
        update(Tag).values(
            articles_count=select(func.count()).where(ArticleTag.tag_id == Tag.id).scalar_subquery()
        )
    )
    total = await conn.scalar(select(func.count()).select_from(Article))
    await conn.execute(delete(Counter).where(Counter.name == ARTICLES))
    await conn.execute(
        insert(Counter),
        [
            {"name": ARTICLES, "shard": shard, "value": (total or 0) if shard == 0 else 0}
            for shard in range(SHARDS)
        ],
    )
