"""Who is calling: turning a bearer token into a user."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from src.core import security
from src.core.config import Settings
from src.models import User
from src.services import messages
from src.services.errors import Unauthorized


async def user_from_token(session: AsyncSession, settings: Settings, token: str) -> User:
    """The token's user; any defect in the token, or a user that is gone, is Unauthorized."""
    try:
        claims = security.decode_access_token(token, settings)
    except security.InvalidTokenError:
        raise Unauthorized(messages.TOKEN_INVALID, field="token") from None
    user = await session.get(User, claims.user_id)
    if user is None:
        raise Unauthorized(messages.TOKEN_INVALID, field="token")
    return user
