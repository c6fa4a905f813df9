"""The webhook jobs: `webhooks.dispatch` turns an event into one delivery per subscribed
endpoint; `webhooks.deliver` makes one signed attempt and records it, then schedules the
next attempt, gives up, or disables the endpoint. Guarantees: docs/webhooks.md, "Delivery".

An attempt's HTTP exchange runs outside any transaction (the delivery is read first on a
read-only session); its outcome, the next attempt's job and the job's own deletion commit
together. A worker lost mid-attempt leaves all of it undone and its job due after the lease:
the endpoint receives the delivery again, with the same `webhook-id`.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from src.core.config import Settings
from src.core.db import create_read_sessionmaker
from src.core.reads import SessionReads
from src.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from src.models.base import UTCDateTime, utc_now
from src.services.jobs import JobContext, Payload, enqueue, job
from src.services.sql import conflict_insert, rows_matched, table_of
from src.services.webhooks import payloads, transport
from src.services.webhooks.events import DISPATCH_JOB, EVENT_BITS, Audience, audience_condition

DELIVER_JOB = "webhooks.deliver"
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
USER_AGENT = "Conduit-Webhooks/1"
# An endpoint at its concurrency limit: the attempt waits about this long, holding no slot.
BUSY_WAIT_SECONDS = 1.0

_DELIVERIES = table_of(WebhookDelivery)
_DELIVERY_ID = bindparam("delivery_id", type_=Integer)
_TARGET = (
    select(
        WebhookDelivery.id,
        WebhookDelivery.event_id,
        WebhookDelivery.payload,
        WebhookDelivery.state,
        WebhookDelivery.attempts,
        WebhookDelivery.round_started_at,
        WebhookEndpoint.id.label("endpoint_id"),
        WebhookEndpoint.url,
        WebhookEndpoint.secret,
        WebhookEndpoint.enabled,
        WebhookEndpoint.failing_since,
    )
    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
    .where(WebhookDelivery.id == _DELIVERY_ID)
)
# Only the attempt this job read: a delivery moved on meanwhile is left as it is.
_SETTLE = (
    update(WebhookDelivery)
    .where(
        WebhookDelivery.id == _DELIVERY_ID,
        WebhookDelivery.state == PENDING,
        WebhookDelivery.attempts == bindparam("attempts_before", type_=Integer),
    )
    .values(
        state=bindparam("state"),
        attempts=bindparam("attempts_after", type_=Integer),
        next_attempt_at=bindparam("next_attempt_at", type_=UTCDateTime()),
    )
)

# Attempts in flight per endpoint in this process (WEBHOOKS_ENDPOINT_CONCURRENCY).
_in_flight: Counter[int] = Counter()
# Expired deliveries each attempt deletes: every delivery has an attempt, so deletion keeps
# pace with creation (as idempotency keys are swept by their claims; no periodic job).
PRUNE_BATCH = 20


def _prune(dialect: str) -> Any:
    # The oldest few by key, then their age: a bounded look, whatever the table's size.
    column = _DELIVERIES.c
    oldest = select(column.id).order_by(column.id).limit(PRUNE_BATCH)
    if dialect == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)  # never wait for another pruner
    return delete(_DELIVERIES).where(
        column.id.in_(oldest.scalar_subquery()),
        column.created_at < bindparam("cutoff", type_=UTCDateTime()),
        column.state != PENDING,
    )


_PRUNE = {dialect: _prune(dialect) for dialect in ("postgresql", "sqlite")}


def _add_delivery(dialect: str) -> Any:
    now = bindparam("now", type_=UTCDateTime())
    values = {
        "endpoint_id": bindparam("endpoint_id"),
        "event_id": bindparam("event_id"),
        "event_type": bindparam("event_type"),
        "payload": bindparam("payload"),
        "state": PENDING,
        "attempts": 0,
        "round_started_at": now,
        "next_attempt_at": now,
        "created_at": now,
    }
    statement = conflict_insert(dialect)(_DELIVERIES).values(values)
    return statement.on_conflict_do_nothing().returning(_DELIVERIES.c.id)


async def add_delivery(
    session: AsyncSession, endpoint_id: int, event_id: str, event_type: str, body: str
) -> None:
    """A delivery and its first attempt's job; nothing when the endpoint has this event."""
    conn = await session.connection()
    params = {
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "event_type": event_type,
        "payload": body,
        "now": utc_now(),
    }
    delivery_id = (await conn.execute(_add_delivery(conn.dialect.name), params)).scalar()
    if delivery_id is not None:
        await enqueue(session, DELIVER_JOB, {"delivery_id": int(delivery_id)})


@job(DISPATCH_JOB)
async def dispatch(context: JobContext, payload: Payload) -> None:
    """One delivery per endpoint subscribed (now) by someone the event concerns."""
    session = context.session
    event_type = str(payload["type"])
    given = payload["audience"]
    audience = Audience(tuple(given["user_ids"]), given["followers_of"], given["author_of_slug"])
    params = {**audience.params(), "bit": EVENT_BITS[event_type]}
    query = select(WebhookEndpoint.id).where(audience_condition(audience.shape()))
    endpoint_ids = list(await session.scalars(query.order_by(WebhookEndpoint.id), params))
    if not endpoint_ids:
        return
    data = await payloads.render_data(SessionReads(session), event_type, payload["resource"])
    occurred_at = datetime.fromisoformat(str(payload["occurred_at"]))
    body = payloads.body_bytes(str(payload["id"]), event_type, occurred_at, data)
    for endpoint_id in endpoint_ids:
        await add_delivery(session, endpoint_id, str(payload["id"]), event_type, body)


def sign(secret: str, event_id: str, body: str, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (its timestamp is the attempt's)."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, body),
        "User-Agent": USER_AGENT,
    }


def retry_delay(settings: Settings, attempt: int, retry_after: float | None) -> float:
    """The wait before the next attempt: the endpoint's Retry-After if it sent one, else
    exponential backoff with jitter (half fixed, half random)."""
    if retry_after is not None:
        return float(min(retry_after, settings.webhooks_retry_window_seconds))
    ceiling = float(settings.webhooks_retry_base_seconds * 2 ** min(attempt - 1, 30))
    ceiling = min(ceiling, settings.webhooks_retry_max_seconds)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret


@job(DELIVER_JOB)
async def deliver(context: JobContext, payload: Payload) -> None:
    delivery_id = int(payload["delivery_id"])
    reader = create_read_sessionmaker(context.session.bind)  # type: ignore[arg-type]
    async with reader() as reads:
        target = (await reads.execute(_TARGET, {"delivery_id": delivery_id})).mappings().first()
    if target is None or target["state"] != PENDING:
        return
    settings = context.settings
    if not target["enabled"]:
        await _settle(context, target, FAILED, None, counted=False)
        return
    endpoint_id = int(target["endpoint_id"])
    if _in_flight[endpoint_id] >= settings.webhooks_endpoint_concurrency:
        wait = BUSY_WAIT_SECONDS * random.uniform(1, 2)  # noqa: S311 - jitter, not a secret
        await enqueue(context.session, DELIVER_JOB, payload, delay_seconds=wait)
        return
    _in_flight[endpoint_id] += 1
    try:
        # The real time: receivers refuse timestamps far from their own clock.
        headers = sign(target["secret"], target["event_id"], target["payload"], utc_now())
        body = target["payload"].encode()
        result = await transport.post(target["url"], body, headers, settings)
    finally:
        _in_flight[endpoint_id] -= 1
        if not _in_flight[endpoint_id]:
            del _in_flight[endpoint_id]
    await _record(context, target, result)


async def _record(context: JobContext, target: Any, result: transport.AttemptResult) -> None:
    settings, session, now = context.settings, context.session, context.clock()
    attempt = int(target["attempts"]) + 1
    cutoff = now - timedelta(days=settings.webhooks_retention_days)
    await session.execute(_PRUNE[session.get_bind().dialect.name], {"cutoff": cutoff})
    await session.execute(
        insert(WebhookAttempt).values(
            delivery_id=target["id"],
            attempted_at=now,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            error=result.error[:500] if result.error else None,
            response_excerpt=result.excerpt,
        )
    )
    endpoint = WebhookEndpoint.id == target["endpoint_id"]
    if result.succeeded:
        await _settle(context, target, SUCCEEDED, None)
        healthy = endpoint & WebhookEndpoint.failing_since.is_not(None)
        await session.execute(update(WebhookEndpoint).where(healthy).values(failing_since=None))
        return
    next_at = None
    if result.retryable:
        delay = retry_delay(settings, attempt, result.retry_after_seconds)
        window_ends = target["round_started_at"] + timedelta(
            seconds=settings.webhooks_retry_window_seconds
        )
        if now + timedelta(seconds=delay) <= window_ends:
            next_at = now + timedelta(seconds=delay)
    if await _settle(context, target, PENDING if next_at else FAILED, next_at) and next_at:
        # enqueue's delay is from the real now; the worker's clock may be ahead (tests).
        wait = (next_at - utc_now()).total_seconds()
        await enqueue(session, DELIVER_JOB, {"delivery_id": int(target["id"])}, delay_seconds=wait)
    failing_since = target["failing_since"] or now
    values: dict[str, Any] = {"failing_since": failing_since}
    if now - failing_since >= timedelta(seconds=settings.webhooks_disable_after_seconds):
        values["enabled"] = False
        values["disabled_reason"] = (
            f"disabled at {payloads.timestamp(now)}: every attempt failed since "
            f"{payloads.timestamp(failing_since)}; the last: {result.error}"
        )[:500]
    await session.execute(update(WebhookEndpoint).where(endpoint).values(**values))


async def _settle(
    context: JobContext,
    target: Any,
    state: str,
    next_at: datetime | None,
    *,
    counted: bool = True,
) -> bool:
    """The delivery's new state after this attempt; False if it moved on meanwhile."""
    attempts = int(target["attempts"])
    params = {
        "delivery_id": int(target["id"]),
        "attempts_before": attempts,
        "attempts_after": attempts + 1 if counted else attempts,
        "state": state,
        "next_attempt_at": next_at,
    }
    return bool(rows_matched(await context.session.execute(_SETTLE, params)))
