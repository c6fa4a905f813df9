"""API keys (personal access tokens): created, listed and revoked by their owner or an admin,
and turned back into their owner on every request (docs/api-keys.md).

Every request with a key reads its row: a revocation, an expiry, or the owner's deactivation
takes effect on the next request, on every worker. `last_used_at` is written at most once per
TOUCH_INTERVAL per key, by a conditional UPDATE that never waits for a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.core import api_key_tokens, security
from src.core.reads import Reads
from src.models import ApiKey, User
from src.models.base import UTCDateTime, utc_now
from src.services import messages, scopes
from src.services.errors import Conflict, NotFound
from src.services.mail import notices
from src.services.sql import AnySelect, rows_matched

# A key's last use is recorded to this precision: one write per key per interval at most.
TOUCH_INTERVAL = timedelta(minutes=1)
# Bounds a user's list (one page, no paging needed) and what one account can accumulate.
MAX_KEYS_PER_USER = 50


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key as its owner and admins see it: never the secret."""

    id: str
    name: str
    scopes: tuple[str, ...]
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: KeyView
    secret: str  # shown once, in the creation's answer


@dataclass(frozen=True, slots=True)
class KeyCaller:
    """Who a key speaks for, and what it may do."""

    key_id: str
    user_id: int
    scopes: tuple[str, ...]
    needs_touch: bool


def _view(key: ApiKey) -> KeyView:
    return KeyView(
        id=key.id,
        name=key.name,
        scopes=scopes.decode(key.scopes),
        prefix=api_key_tokens.display_prefix(key.id),
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        expires_at=key.expires_at,
    )


# --- Using a key -------------------------------------------------------------------------

_NOW = bindparam("now", type_=UTCDateTime())


def _usable(query: AnySelect) -> AnySelect:
    """The key with this id and digest, unrevoked, unexpired, its owner active."""
    return query.where(
        ApiKey.id == bindparam("key_id", type_=String()),
        ApiKey.secret_digest == bindparam("digest", type_=String()),
        ApiKey.revoked_at.is_(None),
        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > _NOW),
        User.id == ApiKey.user_id,
        User.is_active.is_(True),
    )


# Built once (docs/performance.md, "The request path").
_CALLER = _usable(select(ApiKey.user_id, ApiKey.scopes, ApiKey.last_used_at))
_OWNER = _usable(select(User, ApiKey.scopes, ApiKey.last_used_at))
_TOUCH = (
    update(ApiKey)
    .where(
        ApiKey.id.in_(
            select(ApiKey.id)
            .where(
                ApiKey.id == bindparam("key_id", type_=String()),
                or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at < bindparam("stale", type_=UTCDateTime()),
                ),
            )
            # Another request touching the same key holds its lock: that one records the use.
            .with_for_update(skip_locked=True)
        )
    )
    .values(last_used_at=_NOW)
    .execution_options(synchronize_session=False)
)


def _params(key_id: str, secret: str, now: datetime) -> dict[str, Any]:
    return {"key_id": key_id, "digest": security.token_digest(secret), "now": now}


def _needs_touch(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or last_used_at < now - TOUCH_INTERVAL


async def caller_of(reads: Reads, key_id: str, secret: str) -> KeyCaller | None:
    """The key's caller, if the key is usable now; one statement by primary key."""
    now = utc_now()
    row = await reads.first(_CALLER, _params(key_id, secret, now))
    if row is None:
        return None
    granted = scopes.decode(row["scopes"])
    return KeyCaller(key_id, row["user_id"], granted, _needs_touch(row["last_used_at"], now))


async def owner_of(
    session: AsyncSession, key_id: str, secret: str
) -> tuple[User, KeyCaller] | None:
    """The key's owner (in this session) and caller, if the key is usable now."""
    now = utc_now()
    row = (await session.execute(_OWNER, _params(key_id, secret, now))).first()
    if row is None:
        return None
    user, stored_scopes, last_used_at = row
    granted = scopes.decode(stored_scopes)
    return user, KeyCaller(key_id, user.id, granted, _needs_touch(last_used_at, now))


async def touch(session: AsyncSession, key_id: str) -> None:
    """Record a use, unless one was recorded within TOUCH_INTERVAL. The caller commits."""
    now = utc_now()
    await session.execute(_TOUCH, {"key_id": key_id, "stale": now - TOUCH_INTERVAL, "now": now})


# --- Managing keys -----------------------------------------------------------------------


async def create(
    session: AsyncSession,
    owner: User,
    *,
    name: str,
    requested_scopes: Sequence[str],
    expires_in_days: int | None,
) -> CreatedKey:
    """A new key for `owner`; its secret exists only in the answer. The owner is told by
    e-mail, in the same transaction."""
    granted = scopes.normalized(requested_scopes)
    count = await session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.user_id == owner.id, ApiKey.revoked_at.is_(None))
    )
    if (count or 0) >= MAX_KEYS_PER_USER:
        raise Conflict(messages.API_KEY_LIMIT.format(maximum=MAX_KEYS_PER_USER), field="key")
    key_id, secret = api_key_tokens.new_key()
    now = utc_now()
    key = ApiKey(
        id=key_id,
        user_id=owner.id,
        name=name,
        scopes=scopes.encode(granted),
        secret_digest=security.token_digest(secret),
        created_at=now,
        expires_at=None if expires_in_days is None else now + timedelta(days=expires_in_days),
    )
    session.add(key)
    await notices.api_key_created(
        session, email=owner.email, username=owner.username, key_name=name
    )
    await session.commit()
    return CreatedKey(_view(key), secret)


async def list_for(session: AsyncSession, user_id: int) -> list[KeyView]:
    """The user's unrevoked keys (expired ones included, so they can be told apart), newest
    first."""
    keys = await session.scalars(
        select(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    return [_view(key) for key in keys]


async def revoke(session: AsyncSession, user_id: int, key_id: str) -> None:
    """The key stops working at once; someone else's key or an unknown id is NotFound."""
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    if rows_matched(result) != 1:
        raise NotFound(messages.NOT_FOUND, field="key")
    await session.commit()


async def user_id_of(session: AsyncSession, username: str) -> int:
    """For an admin: the id of the user with this username (any case), or NotFound."""
    user_id = await session.scalar(
        select(User.id).where(func.lower(User.username) == username.lower())
    )
    if user_id is None:
        raise NotFound(messages.NOT_FOUND, field="user")
    return int(user_id)
