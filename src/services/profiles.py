"""Profiles and the follow graph."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.models import Follow, User
from src.services import messages
from src.services.errors import Invalid, NotFound
from src.services.sql import insert_ignoring_duplicates, is_following
from src.services.views import ProfileView


async def _find_user(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None:
        raise NotFound(messages.PROFILE_NOT_FOUND, field="profile")
    return user


async def get_profile(session: AsyncSession, username: str, viewer_id: int | None) -> ProfileView:
    query = select(User.username, User.bio, User.image, is_following(viewer_id, User.id)).where(
        func.lower(User.username) == username.lower()
    )
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(messages.PROFILE_NOT_FOUND, field="profile")
    return ProfileView(username=row[0], bio=row[1], image=row[2], following=bool(row[3]))


async def follow(session: AsyncSession, username: str, follower: User) -> ProfileView:
    """Idempotent: following twice is the same as following once."""
    target = await _find_user(session, username)
    if target.id == follower.id:
        raise Invalid(messages.CANNOT_FOLLOW_SELF, field="username")
    await insert_ignoring_duplicates(
        session, Follow, {"follower_id": follower.id, "followee_id": target.id}
    )
    await session.commit()
    return ProfileView(username=target.username, bio=target.bio, image=target.image, following=True)


async def unfollow(session: AsyncSession, username: str, follower: User) -> ProfileView:
    """Idempotent: unfollowing someone you don't follow succeeds and changes nothing."""
    target = await _find_user(session, username)
    await session.execute(
        delete(Follow).where(Follow.follower_id == follower.id, Follow.followee_id == target.id)
    )
    await session.commit()
    return ProfileView(
        username=target.username, bio=target.bio, image=target.image, following=False
    )
