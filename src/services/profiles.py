"""Profiles and the follow graph."""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from sqlalchemy import CursorResult, String, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.core.reads import Reads
from src.models import Follow, User
from src.services import auth, counters, feeds, messages
from src.services.auth import VIEWER, Viewer, refuse_dead_session, viewer_live, viewer_params
from src.services.errors import Invalid, NotFound
from src.services.read_models import ProfileView
from src.services.sql import AnySelect, insert_ignoring_duplicates, is_following

USERNAME = bindparam("username", type_=String)  # lower-cased by the caller


async def _find_user(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None:
        raise NotFound(messages.NOT_FOUND, field="profile")
    return user


async def _lock_target(session: AsyncSession, target: User) -> None:
    """The author's row lock, which its article writers hold too (feeds.py: "Ordering"). A
    deletion of the author that committed since `_find_user` leaves nothing to lock: 404, as
    a request a moment later would get (and not a foreign-key error on the insert)."""
    if not await counters.lock_user(session, target.id):
        raise NotFound(messages.NOT_FOUND, field="profile")


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
    target = await _find_user(session, username)
    if target.id == follower.id:
        raise Invalid(messages.CANNOT_FOLLOW_SELF, field="username")
    await _lock_target(session, target)
    if await insert_ignoring_duplicates(
        session, Follow, {"follower_id": follower.id, "followee_id": target.id}
    ):
        await feeds.follow(session, follower.id, target.id)
    await session.commit()
    return ProfileView(username=target.username, bio=target.bio, image=target.image, following=True)


async def unfollow(session: AsyncSession, username: str, follower: User) -> ProfileView:
    """Idempotent: unfollowing someone you don't follow succeeds and changes nothing."""
    target = await _find_user(session, username)
    await _lock_target(session, target)
    unfollowed = cast(
        CursorResult[Any],
        await session.execute(
            delete(Follow).where(Follow.follower_id == follower.id, Follow.followee_id == target.id)
        ),
    )
    if unfollowed.rowcount:
        await feeds.unfollow(session, follower.id, target.id)
    await session.commit()
    return ProfileView(
        username=target.username, bio=target.bio, image=target.image, following=False
    )
