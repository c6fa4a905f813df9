"""Favorites, with exact counts (the article's and the user's) kept in the same transaction.

A favorite or unfavorite is two statements built once: the article as the response shows it,
taking its row lock (the first lock in the order of counters.py), then the favorite row with
both counts. On PostgreSQL the second is one statement (data-modifying CTEs); SQLite, which
cannot modify in a CTE, runs its three parts in turn (`_move_favorite`).
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from sqlalchemy import Integer, bindparam, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.models import Article, Favorite, User
from src.models.base import UTCDateTime
from src.services import article_queries, counters, messages
from src.services.errors import NotFound
from src.services.read_models import ArticleView
from src.services.sql import insert_once, table_of

_FAVORITES, _ARTICLES, _USERS = table_of(Favorite), table_of(Article), table_of(User)
_USER_ID = bindparam("user_id", type_=Integer)
_ARTICLE_ID = bindparam("article_id", type_=Integer)
_DELTA = bindparam("delta", type_=Integer)


@cache
def _add(dialect: str) -> Any:
    """The favorite row; nothing when it exists (a repeated favorite changes nothing). Its
    `article_created_at` is the ?favorited= page order key (migration 0004)."""
    created_at = bindparam("article_created_at", type_=UTCDateTime())
    values = {"user_id": _USER_ID, "article_id": _ARTICLE_ID, "article_created_at": created_at}
    return insert_once(dialect, _FAVORITES, values)


_REMOVE = delete(_FAVORITES).where(
    _FAVORITES.c.user_id == _USER_ID, _FAVORITES.c.article_id == _ARTICLE_ID
)
_MOVE_ARTICLE = (
    update(_ARTICLES)
    .where(_ARTICLES.c.id == _ARTICLE_ID)
    .values(favorites_count=_ARTICLES.c.favorites_count + _DELTA)
)


@cache
def _article_for_update() -> Any:
    """The article as the response shows it to the caller, its row locked FOR NO KEY UPDATE:
    favorites of one article serialize on it, and a deletion (FOR UPDATE) waits or wins."""
    query = article_queries.single_article(with_viewer=True)
    return query.with_for_update(of=_ARTICLES, key_share=True)


@cache
def _moved_in_one_statement(add: bool) -> Any:
    """PostgreSQL: the favorite row written (or removed) and, only if it was, both counts
    moved; the statement returns a row then. Its foreign-key checks run at the end of the
    statement, after the user's row is updated ("locked before they are referenced")."""
    write = _add("postgresql") if add else _REMOVE
    changed = write.returning(_FAVORITES.c.user_id).cte("changed")
    user = (
        update(_USERS)
        .where(_USERS.c.id.in_(select(changed.c.user_id)))
        .values(favorites_count=_USERS.c.favorites_count + _DELTA)
        .returning(_USERS.c.id)
        .cte("moved_user")
    )
    return _MOVE_ARTICLE.where(exists(select(user.c.id))).returning(_ARTICLES.c.id)


async def _move_favorite(
    session: AsyncSession, user_id: int, article: dict[str, Any], add: bool
) -> bool:
    """Write or remove the favorite; True when a row was (both counts then moved by one)."""
    conn = await session.connection()
    params = {
        "user_id": user_id,
        "article_id": article["id"],
        "article_created_at": article["created_at"],
        "delta": 1 if add else -1,
    }
    if conn.dialect.name == "postgresql":
        moved = await conn.execute(_moved_in_one_statement(add), params)
        return moved.first() is not None
    # SQLite: one writer at a time, so the parts in turn keep the same order.
    written = await conn.execute(_add(conn.dialect.name) if add else _REMOVE, params)
    if written.rowcount != 1:
        return False
    await counters.bump_user_favorites(session, [user_id], params["delta"])
    await conn.execute(_MOVE_ARTICLE, params)
    return True


async def _set_favorite(session: AsyncSession, slug: str, user: User, add: bool) -> ArticleView:
    """Idempotent: the counts move only when a favorite row is actually written or removed.
    The write is tried even when the read says it is done: the read's snapshot predates the
    lock it may have waited for (a concurrent unfavorite by the same user)."""
    conn = await session.connection()
    found = await conn.execute(_article_for_update(), {"slug": slug, "viewer_id": user.id})
    row = found.mappings().first()
    if row is None:
        raise NotFound(messages.NOT_FOUND, field="article")
    article = dict(row)
    if await _move_favorite(session, user.id, article, add):
        article["favorites_count"] += 1 if add else -1
    await session.commit()
    article["favorited"] = add
    return cast(ArticleView, article)


async def favorite(session: AsyncSession, slug: str, user: User) -> ArticleView:
    return await _set_favorite(session, slug, user, add=True)


async def unfavorite(session: AsyncSession, slug: str, user: User) -> ArticleView:
    return await _set_favorite(session, slug, user, add=False)
