"""Password hashing and access tokens, behind a few small functions.

Swapping the JWT library or the hash scheme touches only this module.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from jose import JWTError, jwt
from passlib.context import CryptContext

from src.core.config import Settings

T = TypeVar("T")


# The hashing threads' nice value: when they and the event loop want the same core, the loop
# gets most of it (docs/performance.md, "The request path").
HASHING_NICENESS = 10


def _yield_to_requests() -> None:
    """Lower this (hashing) thread's priority. Linux keeps a nice value per thread; elsewhere
    it is the whole process's, so there the threads keep the loop's priority."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):
        niceness = max(os.getpriority(os.PRIO_PROCESS, thread), HASHING_NICENESS)
        os.setpriority(os.PRIO_PROCESS, thread, niceness)


class PasswordHasher:
    """argon2id for new hashes; bcrypt (imported accounts) still verifies and is marked for
    rehashing. Work runs in this hasher's own few threads: hashing is CPU-heavy by design, and
    a burst of logins queues there instead of holding one argon2 buffer per login in a
    40-thread pool (docs/performance.md, "The request path")."""

    def __init__(
        self, *, time_cost: int, memory_cost_kib: int, parallelism: int, threads: int = 2
    ) -> None:
        self._threads = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="password", initializer=_yield_to_requests
        )
        self._context = CryptContext(
            schemes=["argon2", "bcrypt"],
            deprecated=["bcrypt"],
            argon2__type="ID",
            argon2__time_cost=time_cost,
            argon2__memory_cost=memory_cost_kib,
            argon2__parallelism=parallelism,
        )
        # A real hash of a random string: verifying against it when the account does not
        # exist keeps login time the same either way (no user enumeration by timing).
        self._dummy_hash = self._context.hash(uuid.uuid4().hex)

    async def _off_loop(self, work: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)

    async def hash(self, password: str) -> str:
        return await self._off_loop(self._context.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Check a password; a missing hash still costs one verification."""
        ok, _ = await self.verify_and_update(password, password_hash)
        return ok

    async def verify_and_update(
        self, password: str, password_hash: str | None
    ) -> tuple[bool, str | None]:
        """(matches, new hash or None): a new hash when the stored one uses an old scheme or
        old parameters, so the caller can store it."""
        if password_hash is None:
            await self._off_loop(self._context.verify, password, self._dummy_hash)
            return False, None
        try:
            ok, new_hash = await self._off_loop(
                self._context.verify_and_update, password, password_hash
            )
        except (ValueError, TypeError):  # an unknown or corrupt stored hash never matches
            return False, None
        return bool(ok), new_hash


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_cost_kib: int, parallelism: int, threads: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost,
        memory_cost_kib=memory_cost_kib,
        parallelism=parallelism,
        threads=threads,
    )


def password_hasher(settings: Settings | None = None) -> PasswordHasher:
    """The hasher for these settings' argon2 parameters (built once per parameter set)."""
    settings = settings or Settings()
    return _hasher(
        settings.argon2_time_cost,
        settings.argon2_memory_cost_kib,
        settings.argon2_parallelism,
        settings.password_hash_threads,
    )


async def hash_password(password: str, settings: Settings | None = None) -> str:
    return await password_hasher(settings).hash(password)


async def verify_password(
    password: str, password_hash: str | None, settings: Settings | None = None
) -> bool:
    return await password_hasher(settings).verify(password, password_hash)


def new_refresh_token() -> str:
    """An opaque, unguessable refresh token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored for a refresh token: its SHA-256 (the token itself has full entropy)."""
    return hashlib.sha256(token.encode()).hexdigest()


def successor_refresh_token(token: str, settings: Settings) -> str:
    """The refresh token that replaces `token` when it is rotated: an HMAC of it under the
    secret key, so a repeated rotation can answer with the same one without storing it. As
    unguessable as a random one without both the key and the predecessor."""
    key = b"conduit refresh successor:" + settings.secret_key.get_secret_value().encode()
    mac = hmac.new(key, token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


# User ids are 32-bit integer keys; a larger subject cannot name a user (and would overflow).
MAX_USER_ID = 2**31 - 1

# Far above any token we sign (a few hundred characters): the bound every token meets before
# anything decodes, verifies or caches it.
MAX_ACCESS_TOKEN_LENGTH = 4096
MAX_REFRESH_TOKEN_LENGTH = 128  # ours are new_refresh_token()'s 43 characters
# The last second a datetime can hold (9999-12-31T23:59:59Z): the largest NumericDate we accept.
MAX_NUMERIC_DATE = 253_402_300_799

_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SEXTET = {char: value for value, char in enumerate(_BASE64URL)}
# One character class per segment, none of them matching the dot: fullmatch runs in linear time.
_SEGMENT = "[A-Za-z0-9_-]+"
_COMPACT_JWS = re.compile(rf"({_SEGMENT})\.{_SEGMENT}\.({_SEGMENT})")
_OPAQUE = re.compile(_SEGMENT)
# Low bits of a segment's last character that carry no data, by the segment's length mod 4
# (1 is never a whole number of bytes). They must be zero: otherwise two spellings, one token.
_UNUSED_BITS = {0: 0, 2: 0b1111, 3: 0b11}


class InvalidTokenError(Exception):
    """The token is malformed, expired, tampered with or otherwise unacceptable."""


def _canonical(segment: str) -> bool:
    unused = _UNUSED_BITS.get(len(segment) % 4)
    return unused is not None and _SEXTET[segment[-1]] & unused == 0


@lru_cache(maxsize=4)
def _header_segment(algorithm: str) -> str:
    """The header of every token we sign with this algorithm, as it appears in the token."""
    return jwt.encode({}, "key", algorithm=algorithm).split(".", 1)[0]


def check_access_token_shape(token: str, algorithm: str) -> None:
    """InvalidTokenError unless the token has exactly the shape of the ones we sign: three
    unpadded base64url segments, the first our own header, the signature canonical, the whole at
    most MAX_ACCESS_TOKEN_LENGTH characters. Length first, then one linear match: the decoder
    gets bounded base64 only, and no JSON of an attacker's before the signature verifies (the
    header is compared, never parsed)."""
    if len(token) > MAX_ACCESS_TOKEN_LENGTH:
        raise InvalidTokenError("token is too long")
    shape = _COMPACT_JWS.fullmatch(token)
    if shape is None or shape[1] != _header_segment(algorithm) or not _canonical(shape[2]):
        raise InvalidTokenError("token is not a compact JWS of ours")


def refresh_token_is_well_formed(token: str) -> bool:
    """Whether a refresh token could be one of ours (bounded, base64url) before it is hashed."""
    return len(token) <= MAX_REFRESH_TOKEN_LENGTH and _OPAQUE.fullmatch(token) is not None


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    user_id: int
    token_id: str
    session_id: str
    issued_at: datetime
    expires_at: datetime


def create_access_token(
    user_id: int,
    settings: Settings,
    now: datetime | None = None,
    *,
    session_id: str | None = None,
) -> str:
    """A signed access token for this user and session (`sid`, checked on every request)."""
    issued_at = now or datetime.now(UTC)
    claims = {
        "sid": session_id or uuid.uuid4().hex,
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
    """Check the token's shape, then its signature and every claim; the algorithm is pinned,
    never read from the token.

    A token whose signature and claims verified is remembered (per process) with its validity
    window: they are a pure function of the token and the key, so the next request with it
    checks only the clock, which every request does, remembered or not. The memory is bounded
    in entries (_verified_claims' maxsize) and, since only tokens within
    MAX_ACCESS_TOKEN_LENGTH get there, in bytes: at most maxsize x MAX_ACCESS_TOKEN_LENGTH
    characters of keys, and in practice only tokens this service signed (nothing else
    verifies). Whether its session is still live is the database's answer on every request
    (src/services/auth.py).
    """
    check_access_token_shape(token, settings.jwt_algorithm)
    key = settings.secret_key.get_secret_value()
    verified = _verified_claims(
        token, key, settings.jwt_algorithm, settings.jwt_audience, settings.jwt_issuer
    )
    now = time.time()
    if not verified.not_before <= now < verified.expires:
        raise InvalidTokenError("token is expired or not yet valid")
    return verified.claims


@dataclass(frozen=True, slots=True)
class _Verified:
    claims: AccessTokenClaims
    not_before: float
    expires: float


def _numeric_date(claims: Mapping[str, Any], name: str) -> int | None:
    """A NumericDate claim as we write them (whole seconds a datetime holds); None if absent."""
    if name not in claims:
        return None
    value = claims[name]
    if type(value) is not int or not 0 <= value <= MAX_NUMERIC_DATE:  # bool is not a date
        raise InvalidTokenError(f"{name} is not a date")
    return value


@lru_cache(maxsize=4096)
def _verified_claims(token: str, key: str, algorithm: str, audience: str, issuer: str) -> _Verified:
    """The token's claims if its signature and claims verify, the clock aside (the caller's)."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options={
                # Dates are required and checked below, typed and bounded: jose's own checks
                # let a string or a date beyond datetime's range through (its require_* turn
                # them back on).
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require_sub": True,
                "require_jti": True,
                "require_aud": True,
                "require_iss": True,
            },
        )
    # Past the signature only our own key's claims are parsed; still, no claim is a 500.
    except (JWTError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InvalidTokenError(str(exc)) from None
    subject, token_id, session_id = claims.get("sub"), claims.get("jti"), claims.get("sid")
    # isdigit() alone admits "²" (int() refuses it) and "٣" (int() reads it as 3): ASCII only.
    if (
        not isinstance(subject, str)
        or not (subject.isascii() and subject.isdigit())
        or len(subject) > len(str(MAX_USER_ID))
        or int(subject) > MAX_USER_ID
        or not isinstance(token_id, str)
        or not isinstance(session_id, str)
        or not session_id
    ):
        raise InvalidTokenError("token subject is not a user id")
    issued_at, expires, not_before = (_numeric_date(claims, name) for name in ("iat", "exp", "nbf"))
    if issued_at is None or expires is None:
        raise InvalidTokenError("token has no iat or exp")
    access = AccessTokenClaims(
        user_id=int(subject),
        token_id=token_id,
        session_id=session_id,
        issued_at=datetime.fromtimestamp(issued_at, UTC),
        expires_at=datetime.fromtimestamp(expires, UTC),
    )
    # As jose counts, at whole seconds: valid from nbf (when present) through the second of exp.
    return _Verified(
        access,
        float("-inf") if not_before is None else float(not_before),
        float(expires) + 1.0,
    )
