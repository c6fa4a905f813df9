"""Password hashing and access tokens, behind a few small functions.

Swapping the JWT library or the hash scheme touches only this module.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from jose import JWTError, jwt
from passlib.context import CryptContext

from src.core.config import Settings

_password_context = CryptContext(schemes=["argon2"], deprecated="auto")

# A real argon2id hash of a random string: verifying against it when the account does not
# exist keeps login time the same either way (no user enumeration by timing).
_DUMMY_HASH = _password_context.hash(uuid.uuid4().hex)


# User ids are 32-bit integer keys; a larger subject cannot name a user (and would overflow).
MAX_USER_ID = 2**31 - 1


class InvalidTokenError(Exception):
    """The token is malformed, expired, tampered with or otherwise unacceptable."""


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    user_id: int
    token_id: str
    issued_at: datetime
    expires_at: datetime


async def hash_password(password: str) -> str:
    """Hash with argon2id in a worker thread: hashing is CPU-heavy by design."""
    return await anyio.to_thread.run_sync(_password_context.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password; a missing hash still costs one verification."""
    if password_hash is None:
        await anyio.to_thread.run_sync(_password_context.verify, password, _DUMMY_HASH)
        return False
    return await anyio.to_thread.run_sync(_password_context.verify, password, password_hash)


def create_access_token(user_id: int, settings: Settings, now: datetime | None = None) -> str:
    issued_at = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iat": int(issued_at.timestamp()),
        "nbf": int(issued_at.timestamp()),
        "exp": int((issued_at + timedelta(seconds=settings.access_token_ttl_seconds)).timestamp()),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(
        claims, settings.secret_key.get_secret_value(), algorithm=settings.jwt_algorithm
    )


def decode_access_token(token: str, settings: Settings) -> AccessTokenClaims:
    """Decode and check every claim; the algorithm is pinned, never read from the token."""
    try:
        claims = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={
                "require_exp": True,
                "require_iat": True,
                "require_sub": True,
                "require_jti": True,
                "require_aud": True,
                "require_iss": True,
            },
        )
    except JWTError as exc:
        raise InvalidTokenError(str(exc)) from None
    subject, token_id = claims.get("sub"), claims.get("jti")
    # isdigit() alone admits "²" (int() refuses it) and "٣" (int() reads it as 3): ASCII only.
    if (
        not isinstance(subject, str)
        or not (subject.isascii() and subject.isdigit())
        or int(subject) > MAX_USER_ID
        or not isinstance(token_id, str)
    ):
        raise InvalidTokenError("token subject is not a user id")
    return AccessTokenClaims(
        user_id=int(subject),
        token_id=token_id,
        issued_at=datetime.fromtimestamp(claims["iat"], UTC),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )
