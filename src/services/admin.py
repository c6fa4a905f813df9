"""Account administration: deactivating and reactivating users, creating administrators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.core import security
from src.core.config import Settings
from src.models import User
from src.models.base import utc_now
from src.models.user import ROLE_ADMIN
from src.services import messages, sessions
from src.services.errors import Invalid, NotFound
from src.services.users import normalize_email, register


@dataclass(frozen=True, slots=True)
class AccountView:
    username: str
    email: str
    role: str
    active: bool


def _view(user: User) -> AccountView:
    return AccountView(user.username, user.email, user.role, user.is_active)


async def _by_username(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None:
        raise NotFound(messages.USER_NOT_FOUND, field="user")
    return user


async def set_active(
    session: AsyncSession, admin: User, username: str, *, active: bool
) -> AccountView:
    """Deactivation ends every session of the user at once; reactivation lets them log in."""
    user = await _by_username(session, username)
    if user.id == admin.id and not active:
        raise Invalid(messages.CANNOT_DEACTIVATE_SELF, field="user")
    user.is_active = active
    user.updated_at = utc_now()
    if not active:
        await sessions.end_all(session, user.id)
    await session.commit()
    return _view(user)


@asynccontextmanager
async def _this_session(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """The command line's one session, lent to `register` (which opens sessions as it goes)."""
    yield session


async def create_or_promote_admin(
    session: AsyncSession, settings: Settings, *, email: str, username: str, password: str | None
) -> tuple[AccountView, bool]:
    """Promote the user with this email, or register one (password needed). Returns the
    account and whether it was created."""
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    created = user is None
    if user is None:
        if not password:
            raise Invalid(messages.BLANK, field="password")
        registered = await register(
            partial(_this_session, session),
            settings,
            username=username,
            email=email,
            password=password,
        )
        user = await session.get_one(User, registered.id)
    elif password:
        user.password_hash = await security.hash_password(password, settings)
    user.role = ROLE_ADMIN
    user.is_active = True
    await session.commit()
    return _view(user), created
