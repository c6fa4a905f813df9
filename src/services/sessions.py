"""Login sessions: refresh-token families with rotation, theft detection and revocation.

Every access token names its session (`sid`); a session revoked here stops all of its access
and refresh tokens at once, for every worker, because the check is a database read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Integer,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from src.core import security
from src.core.config import Settings
from src.core.db import OpenSession
from src.core.reads import OpenReads
from src.models import AuthSession, RefreshToken, User
from src.models.base import UTCDateTime, utc_now
from src.services import messages
from src.services.errors import Unauthorized
from src.services.sql import AnySelect, rows_matched


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    session_id: str
    access_token: str
    refresh_token: str


def _invalid_refresh() -> Unauthorized:
    return Unauthorized(messages.REFRESH_TOKEN_INVALID, field="refreshToken")


# Built once: building an INSERT ... SELECT ... RETURNING CTE per login costs more than running it.
_NEW_TOKEN: dict[str, BindParameter[Any]] = {
    "token_hash": bindparam("token_hash", type_=String()),
    "session_id": bindparam("session_id", type_=String()),
    "created_at": bindparam("token_created_at", type_=UTCDateTime()),
}
# On the tables, not the entities: an ORM insert given parameters becomes a bulk insert.
_SESSIONS = cast(Table, AuthSession.__table__)
_TOKENS = cast(Table, RefreshToken.__table__)
_USERS = cast(Table, User.__table__)
# The session row, written only while the account still has the password hash just verified
# and is active: a password change or a deactivation that lands while the password is being
# checked leaves the login without a session. FOR SHARE (PostgreSQL; SQLite's writers are
# serial) waits for such a change in flight and reads the row it leaves.
_SESSION_IF_CREDENTIALS_HOLD = (
    select(
        bindparam("session_id", type_=String()),
        _USERS.c.id,
        bindparam("created_at", type_=UTCDateTime()),
        bindparam("expires_at", type_=UTCDateTime()),
        bindparam("password_verified_at", type_=UTCDateTime()),
    )
    .where(
        _USERS.c.id == bindparam("user_id", type_=Integer()),
        _USERS.c.password_hash == bindparam("password_hash", type_=String()),
        _USERS.c.is_active.is_(True),
    )
    .with_for_update(read=True)
)
_SESSION_COLUMNS = ["id", "user_id", "created_at", "expires_at", "password_verified_at"]
_INSERT_SESSION = insert(_SESSIONS).from_select(_SESSION_COLUMNS, _SESSION_IF_CREDENTIALS_HOLD)
_INSERT_TOKEN = insert(_TOKENS).values(_NEW_TOKEN)
# PostgreSQL: both rows in one statement (the token only if the session was written).
_opened = (
    insert(_SESSIONS)
    .from_select(_SESSION_COLUMNS, _SESSION_IF_CREDENTIALS_HOLD)
    .returning(_SESSIONS.c.id)
    .cte("opened")
)
_INSERT_SESSION_AND_TOKEN = insert(_TOKENS).from_select(
    ["token_hash", "session_id", "created_at"],
    select(_NEW_TOKEN["token_hash"], _opened.c.id, _NEW_TOKEN["created_at"]),
)


async def start(
    session: AsyncSession, settings: Settings, user_id: int, password_hash: str
) -> IssuedTokens:
    """Open a session for a user who just proved their password, whose stored hash is
    `password_hash`; commits. Unauthorized (invalid credentials) when the account no longer
    has that hash or is no longer active: it changed while the password was being checked.

    On PostgreSQL, outside a transaction (a login, a registration after its user is committed),
    the session and its first refresh token are written by one autocommitted statement: one
    round trip instead of BEGIN, two INSERTs and COMMIT. Every login pays this on the event
    loop, beside the reads."""
    now = utc_now()
    session_id = uuid.uuid4().hex
    refresh = security.new_refresh_token()
    params = {
        "session_id": session_id,
        "user_id": user_id,
        "password_hash": password_hash,
        "created_at": now,
        "expires_at": now + timedelta(seconds=settings.refresh_token_ttl_seconds),
        "password_verified_at": now,
        "token_hash": security.token_digest(refresh),
        "token_created_at": now,
    }
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        opened = rows_matched(await session.execute(_INSERT_SESSION_AND_TOKEN, params)) == 1
    else:  # SQLite, or inside the caller's transaction (a login storing a rehash): together
        opened = rows_matched(await session.execute(_INSERT_SESSION, params)) == 1
        if opened:
            await session.execute(_INSERT_TOKEN, params)
    await session.commit()
    if not opened:
        raise Unauthorized(messages.INVALID_CREDENTIALS, field="credentials")
    access = security.create_access_token(user_id, settings, session_id=session_id)
    return IssuedTokens(session_id, access, refresh)


async def _revoke(session: AsyncSession, session_id: str) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )


_SESSION_OF_TOKEN: AnySelect = select(RefreshToken.session_id).where(
    RefreshToken.token_hash == bindparam("digest")
)


async def session_of(open_reads: OpenReads, refresh_token: str) -> str | None:
    """The session a refresh token belongs to (None if unknown): what its rate limit counts,
    read before any write connection is taken."""
    if not security.refresh_token_is_well_formed(refresh_token):
        return None
    async with open_reads() as reads:
        row = await reads.first(_SESSION_OF_TOKEN, {"digest": security.token_digest(refresh_token)})
    return None if row is None else str(row["session_id"])


async def refresh(
    open_session: OpenSession, settings: Settings, refresh_token: str
) -> tuple[User, IssuedTokens]:
    """Trade a refresh token for a new pair. A token used twice revokes its whole session:
    one of the two callers is a thief, and we cannot tell which. Except a repeat within
    REFRESH_REUSE_GRACE_SECONDS of the rotation, while its successor is still unused: a client
    retrying after a lost reply gets the same successor again (README, "Security model")."""
    if not security.refresh_token_is_well_formed(refresh_token):
        raise _invalid_refresh()
    digest = security.token_digest(refresh_token)
    # Derived, not random: a repeat can be answered with the same token without storing it.
    successor = security.successor_refresh_token(refresh_token, settings)
    now = utc_now()
    async with open_session() as session:
        row = (
            await session.execute(
                select(RefreshToken, AuthSession, User)
                .join(AuthSession, AuthSession.id == RefreshToken.session_id)
                .join(User, User.id == AuthSession.user_id)
                .where(RefreshToken.token_hash == digest)
            )
        ).one_or_none()
        if row is None:
            raise _invalid_refresh()
        stored, auth_session, user = row
        if auth_session.revoked_at is not None or auth_session.expires_at <= now:
            raise _invalid_refresh()
        if not user.is_active:
            raise _invalid_refresh()
        # Mark it used only if nobody did first: two concurrent uses cannot both win.
        result = await session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == stored.token_hash, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        if rows_matched(result) == 1:
            session.add(
                RefreshToken(
                    token_hash=security.token_digest(successor),
                    session_id=auth_session.id,
                    created_at=now,
                )
            )
            await session.commit()
        elif not await _repeat_within_grace(
            session, settings, auth_session.id, digest, successor, now
        ):
            await _revoke(session, auth_session.id)
            await session.commit()
            raise _invalid_refresh()
    access = security.create_access_token(user.id, settings, session_id=auth_session.id)
    return user, IssuedTokens(auth_session.id, access, successor)


async def _repeat_within_grace(
    session: AsyncSession,
    settings: Settings,
    session_id: str,
    digest: str,
    successor: str,
    now: datetime,
) -> bool:
    """Whether a used token is a retry: rotated within the grace window, into the successor
    derived from it, which nobody has used yet. Read afresh: the rotation may have committed
    after this request first read the token."""
    grace = settings.refresh_reuse_grace_seconds
    if grace <= 0:
        return False
    successor_digest = security.token_digest(successor)
    rows = await session.execute(
        select(RefreshToken.token_hash, RefreshToken.used_at).where(
            RefreshToken.session_id == session_id,
            RefreshToken.token_hash.in_([digest, successor_digest]),
        )
    )
    used_at: dict[str, datetime | None] = dict(rows.all())
    rotated = used_at.get(digest)
    return (
        rotated is not None
        and now - rotated <= timedelta(seconds=grace)
        and successor_digest in used_at
        and used_at[successor_digest] is None
    )


async def end(session: AsyncSession, session_id: str) -> None:
    """Log out: the session's access and refresh tokens stop working at once."""
    await _revoke(session, session_id)
    await session.commit()


async def end_all(session: AsyncSession, user_id: int, *, keep: str | None = None) -> None:
    """End every session of a user, except `keep` (the caller's own, after a password change).
    The caller commits."""
    query = update(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    await session.execute(query.values(revoked_at=utc_now()))
