"""A user's webhook endpoints: subscribe (with a `ping`), list, change, disable, delete; their
deliveries with every attempt, and redelivery by hand."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.core.config import Settings
from src.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from src.models.base import utc_now
from src.services import messages
from src.services.errors import Conflict, Invalid, NotFound
from src.services.jobs import enqueue
from src.services.webhooks import payloads
from src.services.webhooks.delivery import DELIVER_JOB, PENDING, add_delivery
from src.services.webhooks.events import PING, mask_of, new_event_id, types_of
from src.services.webhooks.transport import TargetRefused, check_url

MAX_ENDPOINTS_PER_USER = 10
ATTEMPTS_SHOWN = 20  # per delivery, newest first


@dataclass(frozen=True, slots=True)
class EndpointView:
    id: int
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime
    secret: str | None = None  # only when just created


@dataclass(frozen=True, slots=True)
class AttemptView:
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    response_excerpt: str | None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    event_id: str
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    payload: str
    attempt_log: list[AttemptView]


def _view(endpoint: WebhookEndpoint, secret: str | None = None) -> EndpointView:
    return EndpointView(
        id=endpoint.id,
        url=endpoint.url,
        events=types_of(endpoint.events),
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        failing_since=endpoint.failing_since,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
        secret=secret,
    )


def _checked_url(url: str, settings: Settings) -> str:
    try:
        check_url(url, settings)
    except TargetRefused as exc:
        raise Invalid(exc.message, field="url") from None
    return url


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


async def _owned(session: AsyncSession, user_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.user_id == user_id
        )
    )
    if endpoint is None:
        raise NotFound(messages.NOT_FOUND, field="webhook")
    return endpoint


async def create_endpoint(
    session: AsyncSession, settings: Settings, user_id: int, url: str, events: Sequence[str]
) -> EndpointView:
    """Subscribe `url` to `events`; a `ping` delivery is on its way when this returns."""
    count = await session.scalar(select(func.count()).where(WebhookEndpoint.user_id == user_id))
    if (count or 0) >= MAX_ENDPOINTS_PER_USER:
        raise Invalid(messages.WEBHOOK_TOO_MANY.format(maximum=MAX_ENDPOINTS_PER_USER), "webhook")
    now = utc_now()
    endpoint = WebhookEndpoint(
        user_id=user_id,
        url=_checked_url(url, settings),
        events=mask_of(events),
        secret=new_secret(),
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    event_id = new_event_id()
    body = payloads.body_bytes(event_id, PING, now, {"webhook": {"id": endpoint.id, "url": url}})
    await add_delivery(session, endpoint.id, event_id, PING, body)
    view = _view(endpoint, secret=endpoint.secret)
    await session.commit()
    return view


async def list_endpoints(session: AsyncSession, user_id: int) -> list[EndpointView]:
    found = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.user_id == user_id)
        .order_by(WebhookEndpoint.id)
    )
    return [_view(endpoint) for endpoint in found]


async def get_endpoint(session: AsyncSession, user_id: int, endpoint_id: int) -> EndpointView:
    return _view(await _owned(session, user_id, endpoint_id))


async def update_endpoint(
    session: AsyncSession,
    settings: Settings,
    user_id: int,
    endpoint_id: int,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    enabled: bool | None = None,
) -> EndpointView:
    """Change what is given; enabling a disabled endpoint clears why it was disabled."""
    endpoint = await _owned(session, user_id, endpoint_id)
    if url is not None:
        endpoint.url = _checked_url(url, settings)
    if events is not None:
        endpoint.events = mask_of(events)
    if enabled is not None:
        if enabled and not endpoint.enabled:
            endpoint.disabled_reason = None
            endpoint.failing_since = None
        elif not enabled and endpoint.enabled:
            endpoint.disabled_reason = "disabled by its owner"
        endpoint.enabled = enabled
    endpoint.updated_at = utc_now()
    view = _view(endpoint)
    await session.commit()
    return view


async def delete_endpoint(session: AsyncSession, user_id: int, endpoint_id: int) -> None:
    await _owned(session, user_id, endpoint_id)
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))
    await session.commit()


async def _attempts(session: AsyncSession, delivery_ids: list[int]) -> dict[int, list[AttemptView]]:
    by_delivery: dict[int, list[AttemptView]] = {delivery_id: [] for delivery_id in delivery_ids}
    if not delivery_ids:
        return by_delivery
    rows = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.id.desc())
    )
    for row in rows:
        shown = by_delivery[row.delivery_id]
        if len(shown) < ATTEMPTS_SHOWN:
            shown.append(
                AttemptView(
                    row.attempted_at,
                    row.status_code,
                    row.error,
                    row.duration_ms,
                    row.response_excerpt,
                )
            )
    return by_delivery


def _delivery_view(row: WebhookDelivery, attempts: list[AttemptView]) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.state == PENDING else None,
        created_at=row.created_at,
        payload=row.payload,
        attempt_log=attempts,
    )


async def list_deliveries(
    session: AsyncSession, user_id: int, endpoint_id: int, limit: int, offset: int
) -> list[DeliveryView]:
    """The endpoint's deliveries, newest first, each with its latest attempts."""
    await _owned(session, user_id, endpoint_id)
    rows = list(
        await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    attempts = await _attempts(session, [row.id for row in rows])
    return [_delivery_view(row, attempts[row.id]) for row in rows]


async def redeliver(
    session: AsyncSession, user_id: int, endpoint_id: int, delivery_id: int
) -> DeliveryView:
    """Send a delivery again, same event id and body, with a fresh retry window."""
    await _owned(session, user_id, endpoint_id)
    now = utc_now()
    moved = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.state != PENDING,
        )
        .values(state=PENDING, round_started_at=now, next_attempt_at=now)
        .returning(WebhookDelivery)
    )
    row = moved.scalar()
    if row is None:
        exists = await session.scalar(
            select(WebhookDelivery.id).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id
            )
        )
        if exists is None:
            raise NotFound(messages.NOT_FOUND, field="delivery")
        raise Conflict(messages.WEBHOOK_DELIVERY_PENDING, field="delivery")
    await enqueue(session, DELIVER_JOB, {"delivery_id": delivery_id})
    view = _delivery_view(row, (await _attempts(session, [delivery_id]))[delivery_id])
    await session.commit()
    return view
