"""Favorites, with exact counts (the article's and the user's) kept in the same transaction.

A favorite or unfavorite is two statements built once: the article as the response shows it,
taking its row lock (the first lock in the order of counters.py) and checking the caller's
session, then the favorite row with both counts (and a new favorite's webhook event). On
PostgreSQL the second is one statement (data-modifying CTEs), and the two a transaction of
their own straight on asyncpg (sql.one_transaction); SQLite, which cannot modify in a CTE,
runs its parts in turn.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Integer, bindparam, delete, exists, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.core.reads import SessionReads
from src.models import Article, Favorite, User
from src.models.base import UTCDateTime
from src.services import article_queries, auth, counters, messages
from src.services.auth import Viewer, refuse_dead_session, viewer_params
from src.services.errors import NotFound
from src.services.jobs.queue import mark_enqueued
from src.services.read_models import ArticleView
from src.services.sql import article_tag_ids, commit, insert_once, one_transaction, table_of
from src.services.webhooks import record_event
from src.services.webhooks.events import Audience, event_params, recorded_when

_FAVORITES, _ARTICLES, _USERS = table_of(Favorite), table_of(Article), table_of(User)
_USER_ID = bindparam("user_id", type_=Integer)
_ARTICLE_ID = bindparam("article_id", type_=Integer)
_DELTA = bindparam("delta", type_=Integer)


@cache
def _add(dialect: str) -> Any:
    """The favorite row; nothing when it exists (a repeated favorite changes nothing). Its
    `article_created_at` is the ?favorited= page order key (migration 0004), its
    `article_tag_ids` what ?favorited= with ?tag= reads (migration 0021)."""
    created_at = bindparam("article_created_at", type_=UTCDateTime())
    values = {
        "user_id": _USER_ID,
        "article_id": _ARTICLE_ID,
        "article_created_at": created_at,
        "article_tag_ids": article_tag_ids(_ARTICLE_ID),
        "created_at": bindparam("now", type_=UTCDateTime()),
    }
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
def _article_for_update(checked: bool) -> Any:
    """The article as the response shows it to the caller, its row locked FOR NO KEY UPDATE:
    favorites of one article serialize on it, and a deletion (FOR UPDATE) waits or wins.
    `checked`: the caller's session is checked in the same statement (`viewer_live`)."""
    query = article_queries.single_article(with_viewer=True, checked=checked)
    return query.with_for_update(of=_ARTICLES, key_share=True)


@cache
def _moved_in_one_statement(add: bool) -> Any:
    """PostgreSQL: the favorite row written (or removed) and, only if it was, both counts
    moved; the statement returns a row then. Its foreign-key checks run at the end of the
    statement, after the user's row is updated ("locked before they are referenced"). Not
    folded into the article's locking read: an UPDATE in the statement that locked the row
    would read it from the statement's snapshot, older than the lock when it waited, and
    queue behind the waiters for the row it holds (a deadlock)."""
    write = _add("postgresql") if add else _REMOVE
    changed = write.returning(_FAVORITES.c.user_id).cte("changed")
    user = (
        update(_USERS)
        .where(_USERS.c.id.in_(select(changed.c.user_id)))
        .values(favorites_count=_USERS.c.favorites_count + _DELTA)
        .returning(_USERS.c.id)
        .cte("moved_user")
    )
    moved = _MOVE_ARTICLE.where(exists(select(user.c.id))).returning(_ARTICLES.c.favorites_count)
    if not add:
        return moved
    # A new favorite: its `article.favorited` event in the same statement (`_favorited`).
    article = moved.cte("moved_article")
    written = exists(select(article.c.favorites_count))
    event = recorded_when(_FAVORITED_SHAPE, written).returning(literal(1)).cte("event")
    events = select(func.count()).select_from(event).scalar_subquery()
    return select(article.c.favorites_count, events.label("events"))


def _favorited(slug: str, user_id: int, now: datetime) -> dict[str, Any]:
    """The values of a new favorite's event: its article's author hears."""
    fan = {"slug": slug, "user_id": user_id}
    return event_params("article.favorited", Audience(author_of_slug=slug), fan, now=now)


_FAVORITED_SHAPE = Audience(author_of_slug="").shape()  # whom: the article's author


def _write_values(params: dict[str, Any], article: dict[str, Any]) -> dict[str, Any]:
    # Only the write's own values: an UPDATE would SET any column a parameter is named after.
    return {
        "user_id": params["viewer_id"],
        "article_id": article["id"],
        "article_created_at": article["created_at"],
        "delta": params["delta"],
        "now": params["now"],
    }


async def _write_postgresql(
    session: AsyncSession, params: dict[str, Any], add: bool, checked: bool
) -> dict[str, Any] | None:
    """The article read with its lock (the caller's session checked in the same statement),
    then for a live caller the favorite, both counts and a new favorite's event in one
    statement: a transaction of their own, straight on asyncpg where it can be
    (sql.one_transaction). `moved_count`: the article's count after the write, None when
    nothing changed."""
    async with one_transaction(session) as statements:
        found = await statements.all(_article_for_update(checked), params)
        if not found:
            return None
        article = {**found[0]._asdict(), "moved_count": None}
        if checked and not article["viewer_live"]:
            return article
        event = _favorited(params["slug"], params["viewer_id"], params["now"]) if add else {}
        values = {**_write_values(params, article), **event}
        moved = await statements.all(_moved_in_one_statement(add), values)
    if moved:
        article["moved_count"] = moved[0].favorites_count
        if add and moved[0].events:
            mark_enqueued(session)
    return article


async def _write_in_turn(
    session: AsyncSession, params: dict[str, Any], add: bool, checked: bool
) -> dict[str, Any] | None:
    """SQLite (one writer at a time): as `_write_postgresql`, the write's parts in turn."""
    conn = await session.connection()
    found = await conn.execute(_article_for_update(checked), params)
    row = found.mappings().first()
    if row is None:
        return None
    article = {**row, "moved_count": None}
    if checked and not article["viewer_live"]:
        return article
    values = _write_values(params, article)
    written = await conn.execute(_add(conn.dialect.name) if add else _REMOVE, values)
    if written.rowcount == 1:
        await counters.bump_user_favorites(session, [values["user_id"]], values["delta"])
        await conn.execute(_MOVE_ARTICLE, values)
        article["moved_count"] = article["favorites_count"] + values["delta"]
        if add:  # a new favorite: its article's author hears
            fan = {"slug": params["slug"], "user_id": values["user_id"]}
            await record_event(session, "article.favorited", [], fan, None, params["slug"])
    return article


async def _set_favorite(session: AsyncSession, slug: str, viewer: Viewer, add: bool) -> ArticleView:
    """Idempotent: the counts move only when a favorite row is actually written or removed.
    The write is tried even when the read says it is done: the read's snapshot predates the
    lock it may have waited for (a concurrent unfavorite by the same user). The caller's
    session is checked by the same statement (a dead one: Unauthorized)."""
    checked = auth.checks_session(viewer)
    params = {**viewer_params(viewer), "slug": slug, "delta": 1 if add else -1}
    postgres = session.get_bind().dialect.name == "postgresql"
    write = _write_postgresql if postgres else _write_in_turn
    article = await write(session, params, add, checked)
    if article is None:
        await auth.ensure_live(SessionReads(session), viewer)  # a dead session: 401, not 404
        raise NotFound(messages.NOT_FOUND, field="article")
    refuse_dead_session(viewer, article)
    await commit(session)
    if article["moved_count"] is not None:
        article["favorites_count"] = article["moved_count"]
    article["favorited"] = add
    return cast(ArticleView, article)


async def favorite(session: AsyncSession, slug: str, viewer: Viewer) -> ArticleView:
    return await _set_favorite(session, slug, viewer, add=True)


async def unfavorite(session: AsyncSession, slug: str, viewer: Viewer) -> ArticleView:
    return await _set_favorite(session, slug, viewer, add=False)
