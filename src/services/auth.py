"""Who is calling: turning a bearer token into a user."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.core import security
from src.core.config import Settings
from src.models import AuthSession, User
from src.models.base import utc_now
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


async def user_from_token(session: AsyncSession, settings: Settings, token: str) -> User:
    """The token's user, in one query that also checks the token's session is live and the
    user active: a logout, a password change elsewhere, a deactivation or a deletion takes
    effect on the next request, on every worker."""
    claims = claims_of(token, settings)
    user = await session.scalar(
        select(User)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(
            User.id == claims.user_id,
            User.is_active.is_(True),
            AuthSession.id == claims.session_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utc_now(),
        )
    )
    if user is None:
        raise _invalid_token()
    return user
