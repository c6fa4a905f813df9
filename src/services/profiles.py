"""Profiles and the follow graph."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Integer, String, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from src.core.reads import Reads
from src.models import Follow, User
from src.models.base import UTCDateTime, utc_now
from src.services import auth, feeds, messages
from src.services.auth import VIEWER, Viewer, refuse_dead_session, viewer_live, viewer_params
from src.services.errors import Invalid, NotFound
from src.services.read_models import ProfileView
from src.services.sql import AnySelect, insert_once, is_following, table_of
from src.services.webhooks import record_event

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


async def _find_target(conn: AsyncConnection, username: str) -> Any:
    """The author, or 404."""
    target = (await conn.execute(_TARGET, {"username": username.lower()})).first()
    if target is None:
        raise NotFound(messages.NOT_FOUND, field="profile")
    return target


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


async def follow(session: AsyncSession, username: str, follower: User) -> ProfileView:
    """Idempotent: following twice is the same as following once."""
    conn = await session.connection()
    target = await _find_target(conn, username)
    if target.id == follower.id:
        raise Invalid(messages.CANNOT_FOLLOW_SELF, field="username")
    params = {"follower_id": follower.id, "followee_id": target.id, "created_at": utc_now()}
    try:
        inserted = (await conn.execute(_follow(conn.dialect.name), params)).rowcount == 1
    except IntegrityError:
        # The author's deletion committed after the lookup: 404, as a moment later.
        await session.rollback()
        raise NotFound(messages.NOT_FOUND, field="profile") from None
    if inserted:
        await feeds.follow(session, follower.id, target.id, pulled=bool(target.pulled))
        await record_event(session, "profile.followed", [target.id], {"user_id": follower.id})
    await session.commit()
    return ProfileView(username=target.username, bio=target.bio, image=target.image, following=True)


async def unfollow(session: AsyncSession, username: str, follower: User) -> ProfileView:
    """Idempotent: unfollowing someone you don't follow succeeds and changes nothing."""
    conn = await session.connection()
    target = await _find_target(conn, username)
    params = {"follower_id": follower.id, "followee_id": target.id}
    if (await conn.execute(_UNFOLLOW, params)).rowcount:
        await feeds.unfollow(session, follower.id, target.id)
    await session.commit()
    return ProfileView(
        username=target.username, bio=target.bio, image=target.image, following=False
    )
