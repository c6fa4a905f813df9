"""The event types, who each concerns, and `record_event`: the one call a write makes.

An event is one `webhooks.dispatch` job, inserted by one statement in the write's own
transaction only when an enabled endpoint of someone it concerns subscribes to its type (an
INSERT ... SELECT ... WHERE EXISTS): it exists if and only if the write commits, and costs one
indexed probe when nobody subscribes. Who each type concerns: docs/webhooks.md, "Events".
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from src.models import Article, Follow, Job, WebhookEndpoint
from src.models.base import UTCDateTime, utc_now
from src.services.jobs.queue import ENQUEUED, JOB_COLUMNS, job_row
from src.services.sql import member_of, rows_matched

DISPATCH_JOB = "webhooks.dispatch"
PING = "ping"

# Each type's bit in `webhook_endpoints.events`; append only (stored subscriptions use them).
EVENT_BITS: dict[str, int] = {
    "article.published": 1 << 0,
    "article.updated": 1 << 1,
    "article.deleted": 1 << 2,
    "comment.created": 1 << 3,
    "comment.deleted": 1 << 4,
    "article.favorited": 1 << 5,
    "profile.followed": 1 << 6,
}
EVENT_TYPES = tuple(EVENT_BITS)

# What a resource reference may hold: slugs, usernames, comment ids.
ResourceRef = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Audience:
    """Whom an event concerns: these users, the followers of `followers_of`, and the author
    of the article `author_of_slug`."""

    user_ids: tuple[int, ...] = ()
    followers_of: int | None = None
    author_of_slug: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "user_ids": list(self.user_ids),
            "followers_of": self.followers_of,
            "author_of_slug": self.author_of_slug,
        }

    def shape(self) -> tuple[bool, bool, bool]:
        return (bool(self.user_ids), self.followers_of is not None, self.author_of_slug is not None)


def mask_of(event_types: Sequence[str]) -> int:
    mask = 0
    for name in event_types:
        mask |= EVENT_BITS[name]
    return mask


def types_of(mask: int) -> list[str]:
    return [name for name, bit in EVENT_BITS.items() if mask & bit]


def new_event_id() -> str:
    """A stable, unguessable event id: the deliveries' `webhook-id`."""
    return f"evt_{secrets.token_hex(12)}"


def audience_condition(shape: tuple[bool, bool, bool]) -> ColumnElement[bool]:
    """An enabled endpoint subscribed to the `bit` whose owner the event concerns.

    The endpoints drive it (few) and each probes the follows by its primary key, so a popular
    author's followers are never scanned."""
    owner = WebhookEndpoint.user_id
    with_users, with_followers, with_author = shape
    whom: list[ColumnElement[bool]] = []
    if with_users:
        whom.append(member_of(owner, "user_ids"))
    if with_followers:
        followee = bindparam("followers_of", type_=Integer)
        whom.append(exists().where(Follow.follower_id == owner, Follow.followee_id == followee))
    if with_author:
        slug = bindparam("author_of_slug", type_=String)
        whom.append(
            owner == select(Article.author_id).where(Article.slug == slug).scalar_subquery()
        )
    return and_(
        WebhookEndpoint.enabled.is_(True),
        WebhookEndpoint.events.op("&")(bindparam("bit", type_=Integer)) != 0,
        or_(*whom),
    )


def recorded_when(shape: tuple[bool, bool, bool], *conditions: Any, written_id: Any = None) -> Any:
    """The dispatch job, only if someone subscribes and `conditions` hold: the event of a write
    that is one statement (a CTE of it; `event_params` gives its values). PostgreSQL:
    `written_id`, the id the write's statement gave its new row, goes into the payload's
    resource as `resource_id_key` names it (`event_params`)."""
    wanted = select(WebhookEndpoint.id).where(audience_condition(shape))
    payload: Any = bindparam("payload", type_=Job.payload.type)
    if written_id is not None:
        path = bindparam("resource_id_path", type_=postgresql.ARRAY(String))
        given = cast(bindparam("payload", type_=postgresql.JSONB), postgresql.JSONB)
        payload = cast(func.jsonb_set(given, path, func.to_jsonb(written_id)), Job.payload.type)
    job = job_row(
        literal(DISPATCH_JOB, String), payload, bindparam("now", type_=UTCDateTime())
    ).where(exists(wanted), *conditions)
    return insert(Job).from_select(JOB_COLUMNS, job)


def _recorded(shape: tuple[bool, bool, bool]) -> Any:
    return recorded_when(shape)


_record = cache(_recorded)  # built once per audience shape


def event_params(
    event_type: str,
    audience: Audience,
    resource: ResourceRef,
    resource_id_key: str = "",
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The values of an event's statement (`recorded_when`), its payload among them;
    `resource_id_key`: the resource's key for the id the write's statement gives its row;
    `now`: the write's own time when its statement shares the `now` value with the event."""
    now = now or utc_now()
    payload = {
        "id": new_event_id(),
        "type": event_type,
        "occurred_at": now.isoformat(),
        "resource": dict(resource),
        "audience": audience.params(),
    }
    params = {**audience.params(), "bit": EVENT_BITS[event_type], "payload": payload, "now": now}
    if not audience.user_ids:
        params["user_ids"] = []
    if resource_id_key:
        params["resource_id_path"] = ["resource", resource_id_key]
    return params


async def record_event(
    session: AsyncSession,
    event_type: str,
    subject_user_ids: Sequence[int],
    resource: ResourceRef,
    followers_of: int | None = None,
    author_of_slug: str | None = None,
) -> None:
    """Record that `event_type` happened to `resource`, in the session's transaction, for the
    subscribers among `subject_user_ids`, the followers of `followers_of` and the author of the
    article `author_of_slug`. Call it before the write commits."""
    audience = Audience(tuple(subject_user_ids), followers_of, author_of_slug)
    if not any(audience.shape()):
        return
    params = event_params(event_type, audience, resource)
    conn = await session.connection()
    if rows_matched(await conn.execute(_record(audience.shape()), params)):
        session.info[ENQUEUED] = True
