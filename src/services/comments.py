"""Comments on articles."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import String, Text, bindparam, exists, func, insert, literal, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from src.core.reads import Reads
from src.core.reads import Row as ReadRow
from src.models import Article, Comment, User
from src.models.base import utc_now
from src.services import auth, messages
from src.services.article_queries import LIMIT, cursor_params, past_cursor
from src.services.articles import find_article
from src.services.auth import (
    NOW,
    VIEWER,
    Viewer,
    refuse_dead_session,
    viewer_live,
    viewer_params,
)
from src.services.cursors import Keyset
from src.services.errors import Forbidden, NotFound, Unauthorized
from src.services.jobs.queue import mark_enqueued
from src.services.read_models import CommentPage, CommentView, ProfileView
from src.services.roles import is_admin
from src.services.sql import AnySelect, commit, is_following, run_alone, table_of
from src.services.webhooks import record_event
from src.services.webhooks.events import Audience, event_params, recorded_when


def _comment_columns(comments: Any, viewer: Any) -> tuple[Any, ...]:
    """A comment as CommentView reads it, from `comments` (the table or a page of it); `viewer`
    is a user id, a bound parameter or None."""
    return (
        comments.id,
        comments.created_at,
        comments.updated_at,
        comments.body,
        User.username,
        User.bio,
        User.image,
        is_following(viewer, comments.author_id).label("following"),
    )


def _to_view(m: ReadRow) -> CommentView:
    return CommentView(
        id=m["id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        body=m["body"],
        author=ProfileView(
            username=m["username"],
            bio=m["bio"],
            image=m["image"],
            following=bool(m["following"]),
        ),
    )


_COMMENTS, _USERS = table_of(Comment), table_of(User)
_NOW = NOW  # the comment is written when its caller's session is checked


@cache
def _caller(checked: bool) -> Any:
    """The caller's profile as the response shows it, only for a live caller (its token's
    session checked when `checked`; a trusted viewer is taken as it is)."""
    profile = (_USERS.c.id, _USERS.c.username, _USERS.c.bio, _USERS.c.image)
    return auth.live_caller(checked, _USERS, *profile)


def _insert_under(article_slug: Any, author_id: Any, *, from_: Any = None) -> Any:
    """The comment under the article found by slug: no row back, no article."""
    rows = select(bindparam("body", type_=Text), Article.id, author_id, _NOW, _NOW).where(
        Article.slug == article_slug
    )
    if from_ is not None:  # one caller row: the article's, joined to it
        rows = rows.select_from(from_).join(Article, true())
    columns = ["body", "article_id", "author_id", "created_at", "updated_at"]
    return insert(_COMMENTS).from_select(columns, rows).returning(_COMMENTS.c.id)


_SLUG = bindparam("slug", type_=String)
_ADD_COMMENT = _insert_under(_SLUG, VIEWER)


_CREATED_SHAPE = Audience((0,), None, "").shape()  # whom: the commenter, the article's author


def _created_event(viewer: Viewer, slug: str, now: datetime) -> dict[str, Any]:
    """The values of `comment.created` (the comment's id is the statement's)."""
    audience = Audience((viewer.user_id,), None, slug)
    ref = {"slug": slug}
    return event_params("comment.created", audience, ref, "comment_id", now=now)


@cache
def _add_in_one_statement(checked: bool) -> Any:
    """PostgreSQL: the caller's check, its profile, the comment and its event, in one
    statement; a row with no comment id means no such article, no row a dead session."""
    caller = _caller(checked).cte("caller")
    added = _insert_under(_SLUG, caller.c.id, from_=caller).cte("added")
    written = exists(select(added.c.id))
    event = recorded_when(_CREATED_SHAPE, written, written_id=select(added.c.id).scalar_subquery())
    event = event.returning(literal(1)).cte("event")
    return select(
        caller,
        select(added.c.id).scalar_subquery().label("comment_id"),
        select(func.count()).select_from(event).scalar_subquery().label("events"),
    )


async def add_comment(session: AsyncSession, slug: str, viewer: Viewer, body: str) -> CommentView:
    """The caller's session is checked by the write itself (a dead one: Unauthorized)."""
    now = utc_now()
    params = {**viewer_params(viewer), "body": body, "now": now, "slug": slug}
    checked = auth.checks_session(viewer)
    try:
        if session.get_bind().dialect.name == "postgresql":
            values = {**params, **_created_event(viewer, slug, now)}
            written = await run_alone(session, _add_in_one_statement(checked), values)
            author = written[0] if written else None
            comment_id = None if author is None else author.comment_id
            if author is not None and author.events:
                mark_enqueued(session)
        else:  # SQLite cannot write in a CTE: the caller, then the comment, then its event
            conn = await session.connection()
            author = (await conn.execute(_caller(checked), params)).first()
            added = None if author is None else await conn.execute(_ADD_COMMENT, params)
            comment_id = None if added is None else added.scalar()
            if comment_id is not None:
                ref = {"slug": slug, "comment_id": comment_id}
                await record_event(session, "comment.created", [viewer.user_id], ref, None, slug)
        if author is None:
            raise Unauthorized(messages.TOKEN_INVALID, field="token")
        await commit(session)
    except IntegrityError:
        # The article was deleted between our lookup and the insert: its foreign key refuses us.
        await session.rollback()
        raise NotFound(messages.NOT_FOUND, field="article") from None
    if comment_id is None:
        raise NotFound(messages.NOT_FOUND, field="article")
    # What a read would return, known without one: the author never follows themself.
    profile = ProfileView(author.username, author.bio, author.image, following=False)
    return CommentView(id=comment_id, created_at=now, updated_at=now, body=body, author=profile)


_SLUG = bindparam("slug", type_=String)


def _page_of_comments(after: bool) -> Any:
    """One page of the article's comments, newest first: a range of
    `ix_comments_article_id_created_at_id` from its start or from a cursor on, as long as the
    page (migration 0018). The article is found by slug inside it, so the range is read once."""
    article_id = select(Article.id).where(Article.slug == _SLUG).scalar_subquery()
    query = select(Comment).where(Comment.article_id == article_id)
    if after:
        query = query.where(past_cursor(Comment.created_at, Comment.id))
    page = query.order_by(Comment.created_at.desc(), Comment.id.desc()).limit(LIMIT)
    return page.subquery("comments")


@cache
def _article_comments(
    with_viewer: bool, checked: bool, paged: bool = False, after: bool = False
) -> AnySelect:
    """The article (by slug) with its comments, outer-joined: no row means no such article, a
    row without a comment id an article without comments. Signed in, the caller's session is
    checked in the same statement (auth.viewer_live). `paged`: only the first `limit` comments
    (past a cursor when `after`), read in index order before the join, so a page costs its
    own length whatever the article's number of comments."""
    source: Any = _page_of_comments(after) if paged else Comment
    comments = source.c if paged else Comment
    columns = _comment_columns(comments, VIEWER if with_viewer else None)
    query: AnySelect = (
        select(Article.id.label("article_id"), *columns)
        .select_from(Article)
        .outerjoin(source, comments.article_id == Article.id)
        .outerjoin(User, User.id == comments.author_id)
        .where(Article.slug == _SLUG)
        .order_by(comments.created_at.desc(), comments.id.desc())
    )
    return query.add_columns(viewer_live()) if checked else query


async def list_comments(
    reads: Reads,
    slug: str,
    viewer: Viewer | None,
    limit: int | None = None,
    after: Keyset | None = None,
) -> CommentPage:
    """Newest first, in one statement whatever the number of comments: all of them (the
    spec's list), or a page of `limit` past `after` with the position of the next one."""
    checked = auth.checks_session(viewer)
    paged = limit is not None
    query = _article_comments(viewer is not None, checked, paged, after is not None)
    params = {**viewer_params(viewer), **cursor_params(after), "slug": slug}
    if limit is not None:
        params["limit"] = limit + 1  # one more: whether a next page follows
    rows = await reads.all(query, params)
    if not rows:
        await auth.ensure_live(reads, viewer)  # a dead session: 401, not 404
        raise NotFound(messages.NOT_FOUND, field="article")
    refuse_dead_session(viewer, rows[0])
    found = [_to_view(row) for row in rows if row["id"] is not None]
    if limit is None or len(found) <= limit:
        return CommentPage(found)
    last = found[limit - 1]
    return CommentPage(found[:limit], Keyset(last.created_at, last.id))


async def delete_comment(session: AsyncSession, slug: str, comment_id: int, user: User) -> None:
    """The comment's author or the article's author may delete it."""
    article = await find_article(session, slug)
    comment = await session.scalar(
        select(Comment).where(Comment.id == comment_id, Comment.article_id == article.id)
    )
    if comment is None:
        raise NotFound(messages.NOT_FOUND, field="comment")
    if user.id not in (comment.author_id, article.author_id) and not is_admin(user):
        raise Forbidden(messages.FORBIDDEN, field="comment")
    ref = {"slug": slug, "comment_id": comment_id}
    await record_event(session, "comment.deleted", [comment.author_id, article.author_id], ref)
    await session.delete(comment)
    await session.commit()
