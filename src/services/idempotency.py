"""Safe retries: a user's keyed write runs once, and its answer is replayed to its retries.

The state is the `idempotency_keys` table, so it holds across workers and machines. A request
claims its (user, key) with one conflict-ignoring insert; whoever comes second reads the row and
gets the stored answer (done), 409 (still running) or 422 (another request used the key).
A claim whose lease ran out (its process died) or a key past its expiry is taken over in place.
Design and its decisions: docs/architecture.md, "Safe retries".
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Integer,
    LargeBinary,
    String,
    bindparam,
    delete,
    exists,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from src.core.config import Settings
from src.models import IdempotencyKey, User
from src.models.base import UTCDateTime, utc_now
from src.services import auth, messages
from src.services.auth import Viewer
from src.services.errors import Conflict, Invalid
from src.services.sql import conflict_insert, rows_matched, table_of

RUNNING, DONE = "running", "done"
KEY_FIELD = "Idempotency-Key"
# Expired rows one new claim deletes: deletions keep pace with claims, no scheduler needed.
SWEEP_BATCH = 20
# Claim attempts when the row seen vanishes or is taken over between two statements.
_CLAIM_ATTEMPTS = 3

_TABLE = table_of(IdempotencyKey)
_ID = bindparam("row_id", type_=BigInteger())
_USER = bindparam("caller_id", type_=Integer())
_SESSION = bindparam("session_id", type_=String())
_KEY = bindparam("idempotency_key", type_=String())
_FINGERPRINT = bindparam("request_fingerprint", type_=String())
_OWNER = bindparam("claim_owner", type_=String())
_OLD_OWNER = bindparam("old_owner", type_=String())
_NOW = bindparam("now", type_=UTCDateTime())
_LOCKED_UNTIL = bindparam("lease_until", type_=UTCDateTime())
_EXPIRES = bindparam("expires", type_=UTCDateTime())


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """A write sent with an Idempotency-Key: who, the key, and what was asked (fingerprint)."""

    viewer: Viewer
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Claim:
    """This request holds the key: it runs, then stores or releases its answer."""

    id: int
    owner: str


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The first request's answer, to replay."""

    status: int
    headers: dict[str, str]
    body: bytes


# Answers a retry should not get again: bad credentials (fixed, then retried), a timeout,
# a conflict this service asks to retry, too early, too many; and every 5xx.
_RETRYABLE = frozenset({401, 408, 409, 425, 429})


def worth_keeping(status: int) -> bool:
    """Whether an answer is kept for the key's retries (docs/architecture.md, "Safe retries")."""
    return status < 500 and status not in _RETRYABLE


def fingerprint(
    method: str, path: str, query: bytes, body: bytes, *, precondition: bytes, credential: str
) -> str:
    """What a retry must repeat exactly (SHA-256, hex): method, path, query and body, its
    If-Match, and the kind of credential (an access token, or which API key)."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body, precondition, credential.encode()):
        digest.update(len(part).to_bytes(8, "big"))  # lengths first: no two splits collide
        digest.update(part)
    return digest.hexdigest()


def _caller_live(checks_session: bool) -> Any:
    """SQL: the caller may still write (a live session; without one, an active user)."""
    if checks_session:
        return auth.session_is_live(_USER, _SESSION, _NOW)
    return exists().where(User.id == _USER, User.is_active.is_(True))


@cache
def _insert_claim(dialect: str, checks_session: bool) -> Any:
    row = select(
        _USER,
        _KEY,
        _FINGERPRINT,
        literal(RUNNING, String()),
        _OWNER,
        _NOW,
        _LOCKED_UNTIL,
        _EXPIRES,
    ).where(_caller_live(checks_session))
    columns = [
        "user_id",
        "key",
        "fingerprint",
        "state",
        "owner",
        "created_at",
        "locked_until",
        "expires_at",
    ]
    return (
        conflict_insert(dialect)(_TABLE)
        .from_select(columns, row)
        .on_conflict_do_nothing()
        .returning(_TABLE.c.id)
    )


@cache
def _find(checks_session: bool) -> Any:
    c = _TABLE.c
    live = _caller_live(checks_session).label("live")
    columns = (c.id, c.fingerprint, c.state, c.owner, c.status, c.headers, c.body)
    return select(*columns, c.locked_until, c.expires_at, live).where(
        c.user_id == _USER, c.key == _KEY
    )


_TAKE_OVER = (
    update(_TABLE)
    .where(_TABLE.c.id == _ID, _TABLE.c.owner == _OLD_OWNER)
    .values(
        fingerprint=_FINGERPRINT,
        state=RUNNING,
        owner=_OWNER,
        status=None,
        headers=None,
        body=None,
        created_at=_NOW,
        locked_until=_LOCKED_UNTIL,
        expires_at=_EXPIRES,
    )
)
_OURS = (_TABLE.c.id == _ID, _TABLE.c.owner == _OWNER)
_STORE = (
    update(_TABLE)
    .where(*_OURS)
    .values(
        state=DONE,
        status=bindparam("answer_status", type_=Integer()),
        headers=bindparam("answer_headers", type_=JSON()),
        body=bindparam("answer_body", type_=LargeBinary()),
    )
)
_RELEASE = delete(_TABLE).where(*_OURS)


@cache
def _sweep(dialect: str) -> Any:
    expired = (
        select(_TABLE.c.id)
        .where(_TABLE.c.expires_at <= _NOW)
        .order_by(_TABLE.c.expires_at)
        .limit(SWEEP_BATCH)
    )
    if dialect == "postgresql":
        expired = expired.with_for_update(skip_locked=True)  # never wait for another sweeper
    return delete(_TABLE).where(_TABLE.c.id.in_(expired.scalar_subquery()))


async def claim(
    session: AsyncSession, settings: Settings, request: KeyedRequest
) -> Claim | StoredAnswer | None:
    """Claim the key for this request, or the first request's stored answer; None when the
    caller can no longer write (the route answers its 401). Conflict while the first request
    runs, Invalid when the key came with another request. The caller commits."""
    dialect = session.get_bind().dialect.name
    viewer = request.viewer
    checks_session = viewer.session_id is not None
    now = utc_now()
    params: dict[str, Any] = {
        "caller_id": viewer.user_id,
        "session_id": viewer.session_id,
        "idempotency_key": request.key,
        "request_fingerprint": request.fingerprint,
        "claim_owner": uuid.uuid4().hex,
        "now": now,
        "lease_until": now + timedelta(seconds=settings.idempotency_lease_seconds),
        "expires": now + timedelta(seconds=settings.idempotency_ttl_seconds),
    }
    for _ in range(_CLAIM_ATTEMPTS):
        try:
            new_id = await session.scalar(_insert_claim(dialect, checks_session), params)
        except IntegrityError:  # the user went between the check and the insert
            await session.rollback()
            return None
        if new_id is not None:
            await session.execute(_sweep(dialect), {"now": now})
            return Claim(int(new_id), params["claim_owner"])
        row = (await session.execute(_find(checks_session), params)).first()
        if row is None:  # released meanwhile: claim again
            continue
        if not row.live:
            return None
        if row.expires_at <= now or (row.state == RUNNING and row.locked_until <= now):
            taken = await session.execute(
                _TAKE_OVER, {**params, "row_id": row.id, "old_owner": row.owner}
            )
            if rows_matched(taken):
                return Claim(int(row.id), params["claim_owner"])
            continue
        if row.fingerprint != request.fingerprint:
            raise Invalid(messages.IDEMPOTENCY_KEY_REUSED, field=KEY_FIELD)
        if row.state == RUNNING:
            raise Conflict(messages.IDEMPOTENCY_KEY_RUNNING, field=KEY_FIELD)
        return StoredAnswer(int(row.status), dict(row.headers or {}), bytes(row.body or b""))
    raise Conflict(messages.IDEMPOTENCY_KEY_RUNNING, field=KEY_FIELD)


async def store(session: AsyncSession, held: Claim, answer: StoredAnswer) -> bool:
    """Keep the answer for the key's retries; False if the claim was taken over meanwhile."""
    params = {
        "row_id": held.id,
        "claim_owner": held.owner,
        "answer_status": answer.status,
        "answer_headers": answer.headers,
        "answer_body": answer.body,
    }
    return rows_matched(await session.execute(_STORE, params)) > 0


async def release(session: AsyncSession, held: Claim) -> None:
    """Give the key back (the request failed in a way worth retrying)."""
    await session.execute(_RELEASE, {"row_id": held.id, "claim_owner": held.owner})
