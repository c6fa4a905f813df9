"""Who is calling: turning a bearer token into a user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Exists, Integer, Label, Select, String, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from src.core import security
from src.core.config import Settings
from src.core.reads import Reads, Row
from src.models import AuthSession, User
from src.models.base import UTCDateTime, utc_now
from src.services import messages
from src.services.errors import Unauthorized


def _invalid_token() -> Unauthorized:
    return Unauthorized(messages.TOKEN_INVALID, field="token")


def claims_of(token: str, settings: Settings) -> security.AccessTokenClaims:
    """The token's checked claims; any defect in the token is Unauthorized."""
    try:
        return security.decode_access_token(token, settings)
    except security.InvalidTokenError:
        raise _invalid_token() from None


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who reads a page: a user id, and for a caller known only by an access token its session,
    which the read's own statement checks is still live (docs/performance.md, "One statement
    per page"). Without a session (a write that already loaded its verified author), the id is
    trusted as it is."""

    user_id: int
    session_id: str | None = None


def checks_session(viewer: Viewer | None) -> bool:
    """Whether a read for this viewer must check its session (`viewer_live`)."""
    return viewer is not None and viewer.session_id is not None


def viewer_of(token: str, settings: Settings) -> Viewer:
    """The token's viewer, its signature and claims checked; its session is checked by the
    statement that reads for it."""
    claims = claims_of(token, settings)
    return Viewer(claims.user_id, claims.session_id)


def session_is_live(user_id: Any, session_id: Any, now: Any) -> Exists:
    """SQL: the session is live and its user active - the rule of _live, usable inside another
    statement (over an alias of users, so it never correlates with an outer users table)."""
    account = aliased(User)
    return exists().where(
        account.id == user_id,
        account.is_active.is_(True),
        AuthSession.user_id == account.id,
        AuthSession.id == session_id,
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > now,
    )


# Bound parameters of a read's own session check (viewer_live), shared by the statements that
# read for a viewer: article pages and articles, profiles, comments.
VIEWER = bindparam("viewer_id", type_=Integer)
SESSION_ID = bindparam("session_id", type_=String)
NOW = bindparam("now", type_=UTCDateTime())


def live_caller(checked: bool, users: Any, *columns: Any) -> Select[Any]:
    """The caller's row of `users` (the table) with `columns`, only while the account is
    active and, when `checked`, its session live: a write's own check of its caller, as a CTE
    of the write's statement."""
    condition = [users.c.id == VIEWER, users.c.is_active.is_(True)]
    if checked:
        condition.append(session_is_live(VIEWER, SESSION_ID, NOW))
    return select(*columns).where(*condition)


def viewer_live() -> Label[bool]:
    """The column `viewer_live`: is the viewer's session (SESSION_ID) live?"""
    return session_is_live(VIEWER, SESSION_ID, NOW).label("viewer_live")


def viewer_params(viewer: Viewer | None) -> dict[str, Any]:
    """The values for VIEWER, SESSION_ID and NOW."""
    if viewer is None:
        return {"viewer_id": None}
    return {"viewer_id": viewer.user_id, "session_id": viewer.session_id, "now": utc_now()}


def refuse_dead_session(viewer: Viewer | None, row: Row) -> None:
    """Unauthorized when the row's own check (viewer_live) found the session dead."""
    if checks_session(viewer) and not row["viewer_live"]:
        raise _invalid_token()


def _live(query: Select[Any]) -> Select[Any]:
    """Only when the token's session is live and the user active: a logout, a password change
    elsewhere, a deactivation or a deletion takes effect on the next request, on every worker."""
    return query.join(AuthSession, AuthSession.user_id == User.id).where(
        User.id == bindparam("user_id"),
        User.is_active.is_(True),
        AuthSession.id == bindparam("session_id"),
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > bindparam("now"),
    )


# Built once (cheaper to reuse than to build): docs/performance.md, "The request path".
_USER: Select[User] = _live(select(User))
_USER_ID: Select[int] = _live(select(User.id))


def _params(claims: security.AccessTokenClaims) -> dict[str, Any]:
    return {"user_id": claims.user_id, "session_id": claims.session_id, "now": utc_now()}


async def user_from_token(session: AsyncSession, settings: Settings, token: str) -> User:
    """The token's user, in one query that also checks the token is still good (_live)."""
    user = await session.scalar(_USER, _params(claims_of(token, settings)))
    if user is None:
        raise _invalid_token()
    return user


async def ensure_live(reads: Reads, viewer: Viewer | None) -> None:
    """Unauthorized unless the viewer's session is live: for reads whose own statement could
    not say (no row came back to carry the answer), so a dead session is a 401 before a 404.
    Anonymous and trusted viewers need no check."""
    if viewer is None or viewer.session_id is None:
        return
    params = {"user_id": viewer.user_id, "session_id": viewer.session_id, "now": utc_now()}
    if await reads.scalar(_USER_ID, params) is None:
        raise _invalid_token()
