"""Profiles and the follow graph."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Integer, String, bindparam, delete, exists, func, literal, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from src.core.reads import Reads, SessionReads
from src.models import Follow, User
from src.models.base import UTCDateTime
from src.services import auth, feeds, messages
from src.services.auth import NOW, VIEWER, Viewer, refuse_dead_session, viewer_live, viewer_params
from src.services.errors import Invalid, NotFound, Unauthorized
from src.services.jobs.queue import mark_enqueued
from src.services.read_models import ProfileView
from src.services.sql import AnySelect, commit, insert_once, is_following, run_alone, table_of
from src.services.webhooks import record_event
from src.services.webhooks.events import Audience, event_params, recorded_when

USERNAME = bindparam("username", type_=String)  # lower-cased by the caller


_FOLLOWS = table_of(Follow)
_FOLLOWER_ID = bindparam("follower_id", type_=Integer)
_FOLLOWEE_ID = bindparam("followee_id", type_=Integer)
# The author by name, and whether the feed reads their articles at read time (feeds.py,
# "Pulled authors"). No lock: a follow must not queue on its author's row behind other
# followers (the follows row's foreign key holds off the author's deletion meanwhile).
_TARGET = select(
    User.id, User.username, User.bio, User.image, feeds.is_pulled(User.id).label("pulled")
).where(func.lower(User.username) == USERNAME)
_UNFOLLOW = delete(_FOLLOWS).where(
    _FOLLOWS.c.follower_id == _FOLLOWER_ID, _FOLLOWS.c.followee_id == _FOLLOWEE_ID
)


@cache
def _follow(dialect: str) -> Any:
    """The follows row; nothing when it exists (following twice is following once)."""
    created_at = bindparam("created_at", type_=UTCDateTime())
    values = {"follower_id": _FOLLOWER_ID, "followee_id": _FOLLOWEE_ID, "created_at": created_at}
    return insert_once(dialect, _FOLLOWS, values)


@cache
def _profile_query(with_viewer: bool, checked: bool) -> AnySelect:
    """Built once per shape; signed in, the statement also checks the caller's session."""
    following = is_following(VIEWER if with_viewer else None, User.id).label("following")
    query: AnySelect = select(User.username, User.bio, User.image, following).where(
        func.lower(User.username) == USERNAME
    )
    return query.add_columns(viewer_live()) if checked else query


async def get_profile(reads: Reads, username: str, viewer: Viewer | None) -> ProfileView:
    checked = auth.checks_session(viewer)
    query = _profile_query(viewer is not None, checked)
    row = await reads.first(query, {**viewer_params(viewer), "username": username.lower()})
    if row is None:
        await auth.ensure_live(reads, viewer)  # a dead session: 401, not 404
        raise NotFound(messages.NOT_FOUND, field="profile")
    refuse_dead_session(viewer, row)
    return ProfileView(row["username"], row["bio"], row["image"], bool(row["following"]))


_USERS = table_of(User)


def _event(target_id: int, follower_id: int, now: datetime) -> dict[str, Any]:
    """The values of `profile.followed`: the followed hears who follows them."""
    audience = Audience((target_id,))
    return event_params("profile.followed", audience, {"user_id": follower_id}, now=now)


_FOLLOWED_SHAPE = Audience((0,)).shape()  # whom: the followed user (their id is a value)


@cache
def _caller_id(checked: bool) -> Any:
    """The caller's id while they may write (`auth.live_caller`), built once per shape."""
    return auth.live_caller(checked, _USERS, _USERS.c.id)


def _counted(part: Any) -> Any:
    return select(func.count()).select_from(part).scalar_subquery()


@cache
def _follow_in_one_statement(checked: bool, pulled: bool) -> Any:
    """PostgreSQL: the caller's check, the follows row (nothing when it exists), the feed's
    part (the pull row, or the follow job) and the event, in one statement. `live`: false
    for a dead session; `followed`: whether the row is new."""
    caller = _caller_id(checked).cte("caller")
    rows = select(caller.c.id, _FOLLOWEE_ID, NOW)
    followed = (
        postgresql.insert(_FOLLOWS)
        .from_select(["follower_id", "followee_id", "created_at"], rows)
        .on_conflict_do_nothing()
        .returning(_FOLLOWS.c.follower_id, _FOLLOWS.c.followee_id)
        .cte("followed")
    )
    feed = feeds.follow_each(followed, pulled=pulled).returning(literal(1)).cte("feed")
    written = exists(select(followed.c.follower_id))
    event = recorded_when(_FOLLOWED_SHAPE, written).returning(literal(1)).cte("event")
    return select(
        exists(select(caller.c.id)).label("live"),
        written.label("followed"),
        _counted(feed).label("feed"),
        _counted(event).label("events"),
    )


@cache
def _unfollow_in_one_statement(checked: bool) -> Any:
    """PostgreSQL: the caller's check, the follows row's deletion and the feed's part (the
    pull row's deletion, or the unfollow job), in one statement."""
    caller = _caller_id(checked).cte("caller")
    unfollowed = (
        delete(_FOLLOWS)
        .where(
            _FOLLOWS.c.follower_id.in_(select(caller.c.id)), _FOLLOWS.c.followee_id == _FOLLOWEE_ID
        )
        .returning(_FOLLOWS.c.follower_id, _FOLLOWS.c.followee_id)
        .cte("unfollowed")
    )
    gone_pull, job = feeds.unfollow_each(unfollowed)
    job = job.returning(literal(1)).cte("job")
    return select(
        exists(select(caller.c.id)).label("live"),
        _counted(gone_pull).label("pulls"),
        _counted(job).label("jobs"),
    )


async def _target_for(session: AsyncSession, username: str, viewer: Viewer) -> Any:
    """The author, or 404 (401 first for a dead session, as a moment earlier)."""
    found = await run_alone(session, _TARGET, {"username": username.lower()})
    target = found[0] if found else None
    if target is None:
        await auth.ensure_live(SessionReads(session), viewer)
        raise NotFound(messages.NOT_FOUND, field="profile")
    return target


async def _caller_is_live(conn: AsyncConnection, viewer: Viewer) -> None:
    """SQLite: the caller's own check, before the write's statements run in turn."""
    caller = _caller_id(auth.checks_session(viewer))
    if (await conn.execute(caller, viewer_params(viewer))).first() is None:
        raise Unauthorized(messages.TOKEN_INVALID, field="token")


async def follow(session: AsyncSession, username: str, viewer: Viewer) -> ProfileView:
    """Idempotent: following twice is the same as following once. The caller's session is
    checked by the write itself (a dead one: Unauthorized)."""
    target = await _target_for(session, username, viewer)
    if target.id == viewer.user_id:
        await auth.ensure_live(SessionReads(session), viewer)
        raise Invalid(messages.CANNOT_FOLLOW_SELF, field="username")
    params = {**viewer_params(viewer), "followee_id": target.id}
    now = params["now"]
    try:
        if session.get_bind().dialect.name == "postgresql":
            statement = _follow_in_one_statement(auth.checks_session(viewer), bool(target.pulled))
            event = _event(target.id, viewer.user_id, now)
            [row] = await run_alone(session, statement, {**params, **event})
            if not row.live:
                raise Unauthorized(messages.TOKEN_INVALID, field="token")
            if row.feed or row.events:
                mark_enqueued(session)
        else:  # SQLite cannot write in a CTE: the caller, the row, then the feed and the event
            conn = await session.connection()
            await _caller_is_live(conn, viewer)
            values = {
                "follower_id": viewer.user_id,
                "followee_id": target.id,
                "created_at": now,
            }
            if (await conn.execute(_follow(conn.dialect.name), values)).rowcount == 1:
                await feeds.follow(session, viewer.user_id, target.id, pulled=bool(target.pulled))
                await record_event(
                    session, "profile.followed", [target.id], {"user_id": viewer.user_id}
                )
    except IntegrityError:
        # The author's deletion committed after the lookup: 404, as a moment later.
        await session.rollback()
        raise NotFound(messages.NOT_FOUND, field="profile") from None
    await commit(session)
    return ProfileView(username=target.username, bio=target.bio, image=target.image, following=True)


async def unfollow(session: AsyncSession, username: str, viewer: Viewer) -> ProfileView:
    """Idempotent: unfollowing someone you don't follow succeeds and changes nothing."""
    target = await _target_for(session, username, viewer)
    params = {**viewer_params(viewer), "followee_id": target.id}
    if session.get_bind().dialect.name == "postgresql":
        statement = _unfollow_in_one_statement(auth.checks_session(viewer))
        [row] = await run_alone(session, statement, params)
        if not row.live:
            raise Unauthorized(messages.TOKEN_INVALID, field="token")
        if row.jobs:
            mark_enqueued(session)
    else:
        conn = await session.connection()
        await _caller_is_live(conn, viewer)
        values = {"follower_id": viewer.user_id, "followee_id": target.id}
        if (await conn.execute(_UNFOLLOW, values)).rowcount:
            await feeds.unfollow(session, viewer.user_id, target.id)
    await commit(session)
    return ProfileView(
        username=target.username, bio=target.bio, image=target.image, following=False
    )
