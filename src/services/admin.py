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
from src.services.errors import Conflict, Forbidden, Invalid, NotFound
from src.services.users import normalize_email, register


@dataclass(frozen=True, slots=True)
class AccountView:
    username: str
    email: str
    role: str
    active: bool


def _view(user: User) -> AccountView:
    return AccountView(user.username, user.email, user.role, user.is_active)


async def lock_admins_and(session: AsyncSession, user_id: int) -> tuple[User | None, set[int]]:
    """Lock the user and every active admin, in id order (the order counters.lock_users
    takes), and return the user (None if there is none) with the ids of the active admins.

    Every change that can take an admin away checks under these locks, so two of them racing
    cannot each see the other admin still there and leave none."""
    rows = await session.scalars(
        select(User)
        .where((User.id == user_id) | ((User.role == ROLE_ADMIN) & User.is_active.is_(True)))
        .order_by(User.id)
        .with_for_update()
        # The caller's row is already in the session: read it again under the lock.
        .execution_options(populate_existing=True)
    )
    locked = list(rows)
    user = next((row for row in locked if row.id == user_id), None)
    return user, {row.id for row in locked if row.role == ROLE_ADMIN and row.is_active}


def refuse_last_admin(
    user: User, admins: set[int], message: str = messages.LAST_ACTIVE_ADMIN
) -> None:
    """Taking this user away (deactivation, deletion) must leave an active admin."""
    if admins == {user.id}:
        raise Conflict(message, field="user")


async def _lock_admins_and(session: AsyncSession, username: str) -> tuple[User, set[int]]:
    """lock_admins_and for the user with this username (any case); none -> NotFound."""
    user_id = await session.scalar(
        select(User.id).where(func.lower(User.username) == username.lower())
    )
    user, admins = (None, set()) if user_id is None else await lock_admins_and(session, user_id)
    if user is None:
        raise NotFound(messages.NOT_FOUND, field="user")
    return user, admins


async def set_active(
    session: AsyncSession, admin: User, username: str, *, active: bool
) -> AccountView:
    """Deactivation ends every session of the user at once; reactivation lets them log in.
    The last active admin cannot be deactivated, however many requests race for it."""
    user, admins = await _lock_admins_and(session, username)
    if not active and user.id == admin.id:
        raise Invalid(messages.CANNOT_DEACTIVATE_SELF, field="user")
    if not active:
        refuse_last_admin(user, admins)
    if admin.id not in admins:  # the caller lost the role while the request was in flight
        raise Forbidden(messages.NOT_ADMIN, field="user")
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
