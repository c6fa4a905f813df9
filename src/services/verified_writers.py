"""Who may write content when the operator keeps unverified accounts from it
(UNVERIFIED_ACCOUNTS_CAN_WRITE=false): only accounts whose address is verified. Account
management, signing in and verification itself stay open to everyone."""

from __future__ import annotations

from src.core.config import Settings
from src.models import User
from src.services import messages, scopes
from src.services.errors import Forbidden

# The writes behind these scopes (an access token's as an API key's) are the content writes.
CONTENT_SCOPES = frozenset({scopes.ARTICLES_WRITE, scopes.COMMENTS_WRITE, scopes.SOCIAL_WRITE})


def restricts(settings: Settings, scope: str) -> bool:
    """Whether a write with this scope needs its caller's address to be verified."""
    return not settings.unverified_accounts_can_write and scope in CONTENT_SCOPES


def require_verified(settings: Settings, scope: str, user: User) -> None:
    """Forbidden, under `email`, for an unverified caller of a restricted write."""
    if user.email_verified_at is None and restricts(settings, scope):
        raise Forbidden(messages.EMAIL_UNVERIFIED, field="email")
