"""Single-use tokens sent by e-mail: issued, looked at, and redeemed once.

A token is an HMAC, under the secret key, of a random nonce: the job that sends the message
carries only the nonce and derives the token again (so a retried send mails the same link),
and the table holds only the token's SHA-256. A token is bound to its purpose and to the
account state it was issued for (the password hash for a reset, the address for the others):
when that changes, the token no longer matches and is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.core.config import Settings
from src.models import AccountToken, User
from src.models.account_token import PURPOSE_RESET_PASSWORD
from src.models.base import utc_now
from src.services import messages
from src.services.errors import Invalid
from src.services.sql import rows_matched

# Ours are 43 characters; anything longer or outside base64url is refused before hashing.
MAX_TOKEN_LENGTH = 128
_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A token just marked used, and the account it was for (read in the same transaction)."""

    purpose: str
    email: str
    user: User


def token_from_nonce(nonce: str, settings: Settings) -> str:
    """The token a nonce stands for: only the holder of the secret key can derive it."""
    key = b"conduit account token:" + settings.secret_key.get_secret_value().encode()
    mac = hmac.new(key, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bound_state(purpose: str, user: User) -> str:
    """The account state a token of this purpose is bound to: the password hash for a reset,
    the current address for the others."""
    return user.password_hash if purpose == PURPOSE_RESET_PASSWORD else user.email


def _binding(purpose: str, state: str) -> str:
    return hashlib.sha256(f"{purpose}\0{state}".encode()).hexdigest()


def _well_formed(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_LENGTH and _BASE64URL.issuperset(token)


def _refused() -> Invalid:
    return Invalid(messages.ACCOUNT_TOKEN_INVALID, field="token")


async def issue(
    session: AsyncSession,
    settings: Settings,
    *,
    user_id: int,
    purpose: str,
    email: str,
    bound_to: str,
    ttl_seconds: int,
) -> str:
    """Store a new token in the session's transaction, sent to `email` and valid while the
    account's bound_state is `bound_to`; return its nonce, for the job that mails it
    (token_from_nonce gives the token back)."""
    nonce = secrets.token_urlsafe(32)
    now = utc_now()
    session.add(
        AccountToken(
            digest=_digest(token_from_nonce(nonce, settings)),
            user_id=user_id,
            purpose=purpose,
            email=email,
            binding=_binding(purpose, bound_to),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    await session.flush()
    return nonce


async def _find(
    session: AsyncSession, token: str, purposes: frozenset[str], now: datetime
) -> tuple[AccountToken, User]:
    if not _well_formed(token):
        raise _refused()
    row = (
        await session.execute(
            select(AccountToken, User)
            .join(User, User.id == AccountToken.user_id)
            .where(AccountToken.digest == _digest(token))
        )
    ).one_or_none()
    if row is None:
        raise _refused()
    stored, user = row
    if (
        stored.purpose not in purposes
        or stored.used_at is not None
        or stored.expires_at <= now
        or not user.is_active
        or not hmac.compare_digest(
            stored.binding, _binding(stored.purpose, bound_state(stored.purpose, user))
        )
    ):
        raise _refused()
    return stored, user


async def check(session: AsyncSession, token: str, purposes: frozenset[str]) -> None:
    """Invalid unless the token could be redeemed now (nothing is written): lets a caller
    refuse a bad token before costly work such as hashing a new password."""
    await _find(session, token, purposes, utc_now())


async def redeem(session: AsyncSession, token: str, purposes: frozenset[str]) -> Redeemed:
    """Mark the token used in the session's transaction (the caller commits, with the change
    the token allows); Invalid when unknown, of another purpose, expired, used, or no longer
    matching the account. Two concurrent redemptions: one wins, the other is refused."""
    now = utc_now()
    stored, user = await _find(session, token, purposes, now)
    marked = await session.execute(
        update(AccountToken)
        .where(AccountToken.digest == stored.digest, AccountToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_matched(marked) != 1:
        raise _refused()
    return Redeemed(stored.purpose, stored.email, user)
