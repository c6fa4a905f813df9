"""Login sessions: refresh-token families with rotation, theft detection and revocation.

Every access token names its session (`sid`); a session revoked here stops all of its access
and refresh tokens at once, for every worker, because the check is a database read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import BindParameter, Integer, String, Table, bindparam, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from src.core import security
from src.core.config import Settings
from src.models import AuthSession, RefreshToken, User
from src.models.base import UTCDateTime, utc_now
from src.services import messages
from src.services.errors import Unauthorized


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    session_id: str
    access_token: str
    refresh_token: str


def _invalid_refresh() -> Unauthorized:
    return Unauthorized(messages.REFRESH_TOKEN_INVALID, field="refreshToken")


def _issue_refresh(session: AsyncSession, session_id: str, now: datetime) -> str:
    token = security.new_refresh_token()
    session.add(
        RefreshToken(token_hash=security.token_digest(token), session_id=session_id, created_at=now)
    )
    return token


# Built once: building an INSERT ... RETURNING CTE per login costs more than running it.
_NEW_SESSION: dict[str, BindParameter[Any]] = {
    "id": bindparam("session_id", type_=String()),
    "user_id": bindparam("user_id", type_=Integer()),
    "created_at": bindparam("created_at", type_=UTCDateTime()),
    "expires_at": bindparam("expires_at", type_=UTCDateTime()),
}
_NEW_TOKEN: dict[str, BindParameter[Any]] = {
    "token_hash": bindparam("token_hash", type_=String()),
    "session_id": bindparam("session_id", type_=String()),
    "created_at": bindparam("token_created_at", type_=UTCDateTime()),
}
# On the tables, not the entities: an ORM insert given parameters becomes a bulk insert.
_SESSIONS = cast(Table, AuthSession.__table__)
_TOKENS = cast(Table, RefreshToken.__table__)
_INSERT_SESSION = insert(_SESSIONS).values(_NEW_SESSION)
_INSERT_TOKEN = insert(_TOKENS).values(_NEW_TOKEN)
# PostgreSQL: both rows in one statement.
_opened = insert(_SESSIONS).values(_NEW_SESSION).returning(_SESSIONS.c.id).cte("opened")
_INSERT_SESSION_AND_TOKEN = insert(_TOKENS).from_select(
    ["token_hash", "session_id", "created_at"],
    select(_NEW_TOKEN["token_hash"], _opened.c.id, _NEW_TOKEN["created_at"]),
)


async def start(session: AsyncSession, settings: Settings, user_id: int) -> IssuedTokens:
    """Open a session for a user who just proved who they are; commits.

    On PostgreSQL, outside a transaction (a login, a registration after its user is committed),
    the session and its first refresh token are written by one autocommitted statement: one
    round trip instead of BEGIN, two INSERTs and COMMIT. Every login pays this on the event
    loop, beside the reads (issue 4)."""
    now = utc_now()
    session_id = uuid.uuid4().hex
    refresh = security.new_refresh_token()
    params = {
        "session_id": session_id,
        "user_id": user_id,
        "created_at": now,
        "expires_at": now + timedelta(seconds=settings.refresh_token_ttl_seconds),
        "token_hash": security.token_digest(refresh),
        "token_created_at": now,
    }
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        await session.execute(_INSERT_SESSION_AND_TOKEN, params)
    else:  # SQLite, or inside the caller's transaction (a login storing a rehash): together
        await session.execute(_INSERT_SESSION, params)
        await session.execute(_INSERT_TOKEN, params)
    await session.commit()
    access = security.create_access_token(user_id, settings, session_id=session_id)
    return IssuedTokens(session_id, access, refresh)


async def _revoke(session: AsyncSession, session_id: str) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )


async def refresh(
    session: AsyncSession, settings: Settings, refresh_token: str
) -> tuple[User, IssuedTokens]:
    """Trade a refresh token for a new pair. A token used twice revokes its whole session:
    one of the two callers is a thief, and we cannot tell which."""
    digest = security.token_digest(refresh_token)
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
    now = utc_now()
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
    if not isinstance(result, CursorResult) or result.rowcount != 1:
        await _revoke(session, auth_session.id)
        await session.commit()
        raise _invalid_refresh()
    new_refresh = _issue_refresh(session, auth_session.id, now)
    await session.commit()
    access = security.create_access_token(user.id, settings, session_id=auth_session.id)
    return user, IssuedTokens(auth_session.id, access, new_refresh)


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
