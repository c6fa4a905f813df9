"""Accounts: registration, login, the current user and profile edits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy import update as update_rows  # `update` is this module's own
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from src.core import security
from src.core.config import Settings
from src.core.db import OpenSession
from src.core.reads import OpenReads
from src.models import User
from src.models.base import utc_now
from src.services import messages, sessions
from src.services.errors import Conflict, Invalid, Unauthorized
from src.services.sessions import IssuedTokens
from src.services.sql import AnySelect
from src.services.views import AuthenticatedUser


@dataclass(frozen=True, slots=True)
class UserChanges:
    """Fields to change. None leaves email/username/password alone; bio and image are
    changed (None clears them) only when named in `provided`."""

    email: str | None = None
    username: str | None = None
    password: str | None = None
    bio: str | None = None
    image: str | None = None
    provided: frozenset[str] = frozenset()


def normalize_email(email: str) -> str:
    return email.strip().lower()


def authenticated(user: User, issued: IssuedTokens) -> AuthenticatedUser:
    """The user with the access and refresh tokens of the session just opened or refreshed."""
    return AuthenticatedUser(
        id=user.id,
        email=user.email,
        username=user.username,
        bio=user.bio,
        image=user.image,
        token=issued.access_token,
        refresh_token=issued.refresh_token,
    )


async def _email_taken(session: AsyncSession, email: str, except_id: int | None = None) -> bool:
    query = select(User.id).where(User.email == email)
    if except_id is not None:
        query = query.where(User.id != except_id)
    return (await session.scalar(query.limit(1))) is not None


async def _username_taken(
    session: AsyncSession, username: str, except_id: int | None = None
) -> bool:
    query = select(User.id).where(func.lower(User.username) == username.lower())
    if except_id is not None:
        query = query.where(User.id != except_id)
    return (await session.scalar(query.limit(1))) is not None


# What a taken email or username is, per operation of spec 2.0.0: a registration conflicts
# (409); an update to a taken one is invalid input (422, the only refusal it lists).
TakenRefusal = type[Conflict] | type[Invalid]


async def _ensure_unique(
    session: AsyncSession,
    *,
    email: str | None,
    username: str | None,
    except_id: int | None,
    refusal: TakenRefusal,
) -> None:
    errors: dict[str, list[str]] = {}
    if email is not None and await _email_taken(session, email, except_id):
        errors["email"] = [messages.TAKEN]
    if username is not None and await _username_taken(session, username, except_id):
        errors["username"] = [messages.TAKEN]
    if errors:
        raise refusal.of_fields(errors)


async def _commit_unique(
    session: AsyncSession,
    *,
    email: str | None,
    username: str | None,
    except_id: int | None,
    refusal: TakenRefusal,
) -> None:
    """Commit; a unique violation that slipped past the pre-check (a race) is refused as the
    pre-check would have refused it."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        await _ensure_unique(
            session, email=email, username=username, except_id=except_id, refusal=refusal
        )
        raise refusal.of_fields({"email" if email else "username": [messages.TAKEN]}) from None


async def register(
    open_session: OpenSession, settings: Settings, *, username: str, email: str, password: str
) -> AuthenticatedUser:
    """A taken email or username is refused before the password is hashed, and no connection
    is held while it is (as in `login`)."""
    email = normalize_email(email)
    async with open_session() as session:
        await _ensure_unique(
            session, email=email, username=username, except_id=None, refusal=Conflict
        )
    password_hash = await security.hash_password(password, settings)
    async with open_session() as session:
        user = User(username=username, email=email, password_hash=password_hash)
        session.add(user)
        await _commit_unique(
            session, email=email, username=username, except_id=None, refusal=Conflict
        )
        return authenticated(user, await sessions.start(session, settings, user.id))


# The columns a login needs, read on the shared read path (src/core/reads.py): on PostgreSQL
# one plain statement, without the BEGIN and ROLLBACK round trips of a write session.
_LOGIN_LOOKUP: AnySelect = select(
    User.id,
    User.email,
    User.username,
    User.bio,
    User.image,
    User.password_hash,
    User.is_active,
).where(User.email == bindparam("email"))


async def login(
    open_session: OpenSession,
    open_reads: OpenReads,
    settings: Settings,
    *,
    email: str,
    password: str,
) -> AuthenticatedUser:
    """Same path and the same message whether or not the email exists (or is deactivated).
    A hash in an old scheme (bcrypt) or with old parameters is replaced on success.

    No connection is held while the password is checked: a burst of logins queued on the
    hashing threads must not take the connections the other requests need."""
    async with open_reads() as reads:
        user = await reads.first(_LOGIN_LOOKUP, {"email": normalize_email(email)})
    hasher = security.password_hasher(settings)
    password_ok, new_hash = await hasher.verify_and_update(
        password, user["password_hash"] if user else None
    )
    if user is None or not password_ok or not user["is_active"]:
        raise Unauthorized(messages.INVALID_CREDENTIALS, field="credentials")
    async with open_session() as session:
        if new_hash is not None:
            await session.execute(
                update_rows(User).where(User.id == user["id"]).values(password_hash=new_hash)
            )
        try:
            issued = await sessions.start(session, settings, user["id"])
        except IntegrityError:  # the account was deleted while its password was being checked
            await session.rollback()
            raise Unauthorized(messages.INVALID_CREDENTIALS, field="credentials") from None
    return AuthenticatedUser(
        id=user["id"],
        email=user["email"],
        username=user["username"],
        bio=user["bio"],
        image=user["image"],
        token=issued.access_token,
        refresh_token=issued.refresh_token,
    )


async def get_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


def current(user: User, token: str) -> AuthenticatedUser:
    """The current user, echoing back the token they authenticated with."""
    return AuthenticatedUser(
        id=user.id,
        email=user.email,
        username=user.username,
        bio=user.bio,
        image=user.image,
        token=token,
    )


async def update(
    session: AsyncSession,
    user: User,
    changes: UserChanges,
    token: str,
    *,
    settings: Settings | None = None,
    current_session_id: str | None = None,
) -> AuthenticatedUser:
    """Apply the changes; a new password ends every other session of the user."""
    new_email = normalize_email(changes.email) if changes.email is not None else None
    new_username = changes.username
    if new_email == user.email:
        new_email = None
    if new_username == user.username:
        new_username = None
    await _ensure_unique(
        session, email=new_email, username=new_username, except_id=user.id, refusal=Invalid
    )

    if new_email is not None:
        user.email = new_email
    if new_username is not None:
        user.username = new_username
    if changes.password is not None:
        user.password_hash = await security.hash_password(changes.password, settings)
        await sessions.end_all(session, user.id, keep=current_session_id)
    if "bio" in changes.provided:
        user.bio = changes.bio
    if "image" in changes.provided:
        user.image = changes.image
    user.updated_at = utc_now()
    await _commit_unique(
        session, email=new_email, username=new_username, except_id=user.id, refusal=Invalid
    )
    # Tokens carry the immutable id, so the one the caller holds stays valid.
    return current(user, token)
