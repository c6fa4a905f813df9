"""Favorites, with exact counts (the article's and the user's) kept in the same transaction.

On PostgreSQL a favorite or unfavorite is one statement built once, its own transaction
(`_in_one_statement`): the article as the response shows it, key-share locked, with the
caller's session check; the favorite row; both counts only if it changed; a new favorite's
webhook event. SQLite, which cannot modify in a CTE, runs the parts in turn after the article
read with its lock. Why: docs/performance.md, "Cheap writes".
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Integer, String, bindparam, delete, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from src.core.reads import SessionReads
from src.models import Article, Favorite, User
from src.models.base import UTCDateTime
from src.services import article_queries, auth, counters, messages
from src.services.auth import Viewer, refuse_dead_session, viewer_params
from src.services.errors import NotFound
from src.services.jobs.queue import mark_enqueued
from src.services.read_models import ArticleView
from src.services.sql import article_tag_ids, insert_once, run_alone, table_of
from src.services.webhooks import record_event
from src.services.webhooks.events import Audience, event_params, recorded_when

_FAVORITES, _ARTICLES, _USERS = table_of(Favorite), table_of(Article), table_of(User)
_USER_ID = bindparam("user_id", type_=Integer)
_ARTICLE_ID = bindparam("article_id", type_=Integer)
_DELTA = bindparam("delta", type_=Integer)
# Not `slug`: SQLAlchemy makes a parameter named like a column of a table an UPDATE in the
# statement touches a SET of that column (docs/performance.md, "Cheap writes").
_SLUG = bindparam("article_slug", type_=String)


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
def _in_one_statement(add: bool, checked: bool) -> Any:
    """PostgreSQL: the whole favorite or unfavorite as one statement, its own transaction:
    the article as the response shows it, key-share locked first (what the favorite's foreign
    key takes: a deletion, FOR UPDATE, waits for it or is waited for, before anything is
    written; `checked`, the caller's session checked in it), the favorite row written (or
    removed) for a live caller and, only if it was, the article's count (its no-key-update
    lock: favorites of one article queue on it for this statement only), then the user's, in
    the order of counters.py, and a new favorite's webhook event. Counts move only by the rows
    this statement changed, so concurrent favorites and unfavorites keep them exact."""
    view = (
        article_queries.single_article(with_viewer=True, checked=checked, slug=_SLUG)
        .with_for_update(of=_ARTICLES, read=True, key_share=True)
        .cte("article")
        .prefix_with("MATERIALIZED")
    )
    may = [view.c.viewer_live.is_(True)] if checked else []
    if add:
        values = select(
            _USER_ID,
            view.c.id,
            view.c.created_at,
            article_tag_ids(view.c.id),
            bindparam("now", type_=UTCDateTime()),
        ).where(*may)
        columns = ["user_id", "article_id", "article_created_at", "article_tag_ids", "created_at"]
        write: Any = (
            postgresql.insert(_FAVORITES).from_select(columns, values).on_conflict_do_nothing()
        )
    else:
        write = delete(_FAVORITES).where(
            _FAVORITES.c.user_id == _USER_ID,
            _FAVORITES.c.article_id == select(view.c.id).where(*may).scalar_subquery(),
        )
    changed = write.returning(_FAVORITES.c.user_id, _FAVORITES.c.article_id).cte("changed")
    article = (
        update(_ARTICLES)
        .where(_ARTICLES.c.id.in_(select(changed.c.article_id)))
        .values(favorites_count=_ARTICLES.c.favorites_count + _DELTA)
        .returning(_ARTICLES.c.favorites_count)
        .cte("moved_article")
    )
    user = (
        update(_USERS)
        .where(
            _USERS.c.id.in_(select(changed.c.user_id)), exists(select(article.c.favorites_count))
        )
        .values(favorites_count=_USERS.c.favorites_count + _DELTA)
        .returning(_USERS.c.id)
        .cte("moved_user")
    )
    moved = select(article.c.favorites_count).scalar_subquery()
    users = select(func.count()).select_from(user).scalar_subquery()
    shown: list[Any] = [view, moved.label("moved_count"), users.label("users_moved")]
    if add:  # a new favorite: its `article.favorited` event (`_favorited`)
        written = exists(select(user.c.id))
        event = recorded_when(_FAVORITED_SHAPE, written).returning(literal(1)).cte("event")
        shown.append(select(func.count()).select_from(event).scalar_subquery().label("events"))
    return select(*shown)


def _favorited(slug: str, user_id: int, now: datetime) -> dict[str, Any]:
    """The values of a new favorite's event: its article's author hears."""
    fan = {"slug": slug, "user_id": user_id}
    return event_params("article.favorited", Audience(author_of_slug=slug), fan, now=now)


_FAVORITED_SHAPE = Audience(author_of_slug="").shape()  # whom: the article's author


async def _write(
    session: AsyncSession, params: dict[str, Any], add: bool, checked: bool
) -> dict[str, Any] | None:
    """SQLite (one writer at a time): the article read with its lock (the caller's session
    checked in the same statement), then for a live caller the favorite and both counts, one
    statement each. `moved_count`: the article's count after the write, None when nothing
    changed."""
    conn = await session.connection()
    found = await conn.execute(_article_for_update(checked), params)
    row = found.mappings().first()
    if row is None:
        return None
    article = {**row, "moved_count": None}
    if checked and not article["viewer_live"]:
        return article
    # Only the write's own values: an UPDATE would SET any column a parameter is named after.
    values = {
        "user_id": params["viewer_id"],
        "article_id": article["id"],
        "article_created_at": article["created_at"],
        "delta": params["delta"],
    }
    written = await conn.execute(_add(conn.dialect.name) if add else _REMOVE, values)
    if written.rowcount == 1:
        await counters.bump_user_favorites(session, [values["user_id"]], values["delta"])
        await conn.execute(_MOVE_ARTICLE, values)
        article["moved_count"] = article["favorites_count"] + values["delta"]
        if add:  # a new favorite: its article's author hears
            fan = {"slug": params["slug"], "user_id": values["user_id"]}
            await record_event(session, "article.favorited", [], fan, None, params["slug"])
    return article


async def _write_in_one_statement(
    session: AsyncSession, params: dict[str, Any], add: bool, checked: bool
) -> dict[str, Any] | None:
    """PostgreSQL: `_in_one_statement`; the article as `_write` gives it."""
    values = {**params, "user_id": params["viewer_id"], "article_slug": params["slug"]}
    del values["slug"]
    if add:
        values.update(_favorited(params["slug"], params["viewer_id"], params["now"]))
    try:
        found = await run_alone(session, _in_one_statement(add, checked), values)
    except IntegrityError:  # the article was deleted after the statement's snapshot
        return None
    if not found:
        return None
    article: dict[str, Any] = found[0]._asdict()
    users_moved, events = article.pop("users_moved"), article.pop("events", 0)
    if users_moved and events:
        mark_enqueued(session)
    return article


async def _set_favorite(session: AsyncSession, slug: str, viewer: Viewer, add: bool) -> ArticleView:
    """Idempotent: the counts move only when a favorite row is actually written or removed.
    The write is tried even when the read says it is done: the read's snapshot predates the
    lock it may have waited for (a concurrent unfavorite by the same user). The caller's
    session is checked by the same statement (a dead one: Unauthorized)."""
    checked = auth.checks_session(viewer)
    params = {**viewer_params(viewer), "slug": slug, "delta": 1 if add else -1}
    if session.get_bind().dialect.name == "postgresql":
        article = await _write_in_one_statement(session, params, add, checked)
    else:
        article = await _write(session, params, add, checked)
    if article is None:
        await auth.ensure_live(SessionReads(session), viewer)  # a dead session: 401, not 404
        raise NotFound(messages.NOT_FOUND, field="article")
    refuse_dead_session(viewer, article)
    await session.commit()
    if article["moved_count"] is not None:
        article["favorites_count"] = article["moved_count"]
    article["favorited"] = add
    return cast(ArticleView, article)


async def favorite(session: AsyncSession, slug: str, viewer: Viewer) -> ArticleView:
    return await _set_favorite(session, slug, viewer, add=True)


async def unfavorite(session: AsyncSession, slug: str, viewer: Viewer) -> ArticleView:
    return await _set_favorite(session, slug, viewer, add=False)
