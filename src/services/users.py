"""Accounts: registration, login, the current user and profile edits."""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import idna
from sqlalchemy import bindparam, func, select
from sqlalchemy import update as update_rows  # `update` is this module's own
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from src.core import security
from src.core.config import Settings
from src.core.db import OpenSession
from src.core.reads import OpenReads
from src.models import AuthSession, User
from src.models.base import utc_now
from src.models.user import EMAIL_MAX_LENGTH
from src.services import account_email, auth, messages, sessions
from src.services.errors import Conflict, Forbidden, Invalid, Unauthorized
from src.services.mail import notices
from src.services.media import user_images
from src.services.preconditions import Precondition, require
from src.services.read_models import AuthenticatedUser
from src.services.sessions import IssuedTokens
from src.services.sql import AnySelect, rows_matched


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
    # The caller's proof of the password, needed for a new email or password unless the
    # session proved it recently (REAUTH_WINDOW_SECONDS).
    current_password: str | None = None


def normalize_email(email: str) -> str:
    """The one form an email is stored, compared and looked up in: Unicode NFC, lower-cased,
    the domain in its IDNA A-label (punycode) form. Too long, before or after: Invalid."""
    email = email.strip()
    if len(email) > EMAIL_MAX_LENGTH:  # bounded before any normalizer sees it
        raise Invalid(messages.TOO_LONG.format(maximum=EMAIL_MAX_LENGTH), field="email")
    if email.isascii():  # nearly every address: nothing to compose, and its A-label is itself
        return email.lower()
    local, at, domain = unicodedata.normalize("NFC", email).rpartition("@")
    if not at:
        local, domain = domain, ""
    try:
        domain = idna.encode(domain, uts46=True).decode("ascii")
    except UnicodeError:  # not a valid domain: no stored address has it, compare it as text
        domain = domain.lower()
    normalized = unicodedata.normalize("NFC", local.lower()) + at + domain
    if len(normalized) > EMAIL_MAX_LENGTH:
        raise Invalid(messages.TOO_LONG.format(maximum=EMAIL_MAX_LENGTH), field="email")
    return normalized


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
        email_verified=user.email_verified_at is not None,
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
    before_commit: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Commit; a unique violation that slipped past the pre-check (a race) is refused as the
    pre-check would have refused it. `before_commit` runs in the transaction once the rows are
    flushed (registration's verification mail needs the new user's id)."""
    try:
        if before_commit is not None:
            await session.flush()
            await before_commit()
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

        async def verification() -> None:
            await account_email.send_verification(
                session, settings, user_id=user.id, email=email, username=username
            )

        await _commit_unique(
            session,
            email=email,
            username=username,
            except_id=None,
            refusal=Conflict,
            before_commit=verification,
        )
        return authenticated(user, await sessions.start(session, settings, user.id, password_hash))


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
    User.email_verified_at,
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
        if new_hash is not None:  # only over the hash verified, or the session is refused
            await session.execute(
                update_rows(User)
                .where(User.id == user["id"], User.password_hash == user["password_hash"])
                .values(password_hash=new_hash)
            )
        try:
            # Opened only if the account still has the hash verified and is active: a password
            # change or deactivation during the check leaves this login without a session.
            issued = await sessions.start(
                session, settings, user["id"], new_hash or user["password_hash"]
            )
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
        email_verified=user["email_verified_at"] is not None,
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
        email_verified=user.email_verified_at is not None,
    )


async def update(
    open_session: OpenSession,
    open_reads: OpenReads,
    settings: Settings,
    user: User,
    changes: UserChanges,
    token: str,
    *,
    session_id: str,
    precondition: Precondition[User] | None = None,
) -> AuthenticatedUser:
    """Apply the changes. A new email or password needs a recent proof of the password
    (prove_password); a new password ends every other session of the user.

    `user` was loaded when the token was checked, on a connection since returned: none is held
    while a password is checked or hashed. The write then holds only if the account still has
    the password that was proven and the session is still live."""
    require(precondition, user)  # stale already: refused before any password work
    new_email = normalize_email(changes.email) if changes.email is not None else None
    new_username = changes.username
    if new_email == user.email:
        new_email = None
    if new_username == user.username:
        new_username = None
    sensitive = new_email is not None or changes.password is not None
    # EMAIL_CHANGE_REQUIRES_CONFIRMATION: the new address takes effect once its link is followed.
    email_waits = new_email is not None and settings.email_change_requires_confirmation
    proven_now = sensitive and await prove_password(
        open_reads, settings, user, session_id, changes.current_password
    )
    new_hash = None
    if changes.password is not None:
        new_hash = await security.hash_password(changes.password, settings)

    now = utc_now()
    values: dict[str, Any] = {"updated_at": now}
    if new_email is not None and not email_waits:
        values["email"] = new_email
        values["email_verified_at"] = None
    if new_username is not None:
        values["username"] = new_username
    if new_hash is not None:
        values["password_hash"] = new_hash
    for name in ("bio", "image"):
        if name in changes.provided:
            values[name] = getattr(changes, name)
    # Another URL in place of an uploaded picture: its stored object goes once this commits.
    replaced = "image" in changes.provided and changes.image != user.image
    dropped_key = user.image_key if replaced else None
    if dropped_key is not None:
        values["image_key"] = None
    guard = [User.id == user.id]
    if sensitive:
        guard += [
            User.password_hash == user.password_hash,
            auth.session_is_live(User.id, session_id, now),
        ]
    async with open_session() as session:
        await require_current(session, precondition, user.id)
        await _ensure_unique(
            session, email=new_email, username=new_username, except_id=user.id, refusal=Invalid
        )
        written = await session.execute(
            update_rows(User)
            .where(*guard)
            .values(values)
            .execution_options(synchronize_session=False)
        )
        if rows_matched(written) != 1:
            await session.rollback()
            raise await _why_not_written(session, user.id, session_id, sensitive=sensitive)
        if dropped_key is not None:
            await user_images.forget(session, dropped_key)
        if new_hash is not None:
            await sessions.end_all(session, user.id, keep=session_id)
            await notices.password_changed(
                session, email=user.email, username=new_username or user.username
            )
        if new_email is not None:
            await account_email.email_change(
                session,
                settings,
                user,
                new_email,
                username=new_username or user.username,
                applied=not email_waits,
            )
        if proven_now:
            await session.execute(
                update_rows(AuthSession)
                .where(AuthSession.id == session_id)
                .values(password_verified_at=now)
            )
        await _commit_unique(
            session, email=new_email, username=new_username, except_id=user.id, refusal=Invalid
        )
    # Tokens carry the immutable id, so the one the caller holds stays valid.
    return AuthenticatedUser(
        id=user.id,
        email=values.get("email", user.email),
        username=values.get("username", user.username),
        bio=values.get("bio", user.bio),
        image=values.get("image", user.image),
        token=token,
        email_verified=values.get("email_verified_at", user.email_verified_at) is not None,
    )


_PASSWORD_VERIFIED_AT: AnySelect = select(AuthSession.password_verified_at).where(
    AuthSession.id == bindparam("session_id")
)


async def prove_password(
    open_reads: OpenReads,
    settings: Settings,
    user: User,
    session_id: str,
    current_password: str | None,
    required: str = messages.CURRENT_PASSWORD_REQUIRED,
) -> bool:
    """Forbidden unless the caller proves the password: by `current_password`, checked now
    (True: a fresh proof, to record on the session), or by a session that proved it within
    REAUTH_WINDOW_SECONDS (False). A stolen access token alone cannot take the account over."""
    if current_password is not None:
        if not await security.verify_password(current_password, user.password_hash, settings):
            raise Forbidden(messages.CURRENT_PASSWORD_INVALID, field="currentPassword")
        return True
    async with open_reads() as reads:
        verified_at = await reads.scalar(_PASSWORD_VERIFIED_AT, {"session_id": session_id})
    window = timedelta(seconds=settings.reauth_window_seconds)
    if verified_at is None or utc_now() - verified_at > window:
        raise Forbidden(required, field="currentPassword")
    return False


async def require_current(
    session: AsyncSession, precondition: Precondition[User] | None, user_id: int
) -> None:
    """The client's If-Match, checked on the account's row locked for this write: no other
    change to it can come between the check and the write."""
    if precondition is None:
        return
    locked = await session.scalar(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is not None:  # gone: the write itself refuses the token
        precondition.require(locked)


async def _why_not_written(
    session: AsyncSession, user_id: int, session_id: str, *, sensitive: bool
) -> Unauthorized | Forbidden:
    """Why the update's guard matched no row: the session ended (or the account is gone or
    deactivated) while the request ran, or the password proven is no longer the account's."""
    if sensitive:
        live = await session.scalar(select(auth.session_is_live(user_id, session_id, utc_now())))
        if live:
            return Forbidden(messages.CURRENT_PASSWORD_INVALID, field="currentPassword")
    return Unauthorized(messages.TOKEN_INVALID, field="token")
