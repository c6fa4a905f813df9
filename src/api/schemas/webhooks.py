"""Webhook endpoints and their deliveries; the events' payloads for the document's `webhooks`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StringConstraints

from src.api.schemas import examples as ex
from src.api.schemas.articles import ArticleOut
from src.api.schemas.base import CamelModel, NotBlank, Timestamp
from src.api.schemas.comments import CommentOut
from src.api.schemas.profiles import ProfileOut
from src.models.webhook import URL_MAX_LENGTH

EventType = Literal[
    "article.published",
    "article.updated",
    "article.deleted",
    "comment.created",
    "comment.deleted",
    "article.favorited",
    "profile.followed",
]
Url = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=URL_MAX_LENGTH), NotBlank()
]
Events = Annotated[list[EventType], Field(min_length=1, max_length=7)]

WEBHOOK = {
    "id": 1,
    "url": "https://hooks.example.com/conduit",
    "events": ["article.published", "comment.created"],
    "enabled": True,
    "disabledReason": None,
    "failingSince": None,
    "createdAt": ex.TIMESTAMP,
    "updatedAt": ex.TIMESTAMP,
}
DELIVERY = {
    "id": 1,
    "eventId": "evt_2hXk9QmR4tPz7Lc1",
    "eventType": "article.published",
    "state": "succeeded",
    "attempts": 1,
    "nextAttemptAt": None,
    "createdAt": ex.TIMESTAMP,
    "payload": '{"type":"article.published","data":{}}',
    "attemptLog": [
        {
            "attemptedAt": ex.TIMESTAMP,
            "statusCode": 200,
            "error": None,
            "durationMs": 42,
            "responseExcerpt": "ok",
        }
    ],
}


class NewWebhook(CamelModel):
    url: Url = Field(examples=["https://hooks.example.com/conduit"])
    events: Events


class NewWebhookRequest(CamelModel):
    model_config = ex.examples(
        {"webhook": {"url": WEBHOOK["url"], "events": ["article.published"]}}
    )
    webhook: NewWebhook


class WebhookChanges(CamelModel):
    url: Url | None = None
    events: Events | None = None
    enabled: StrictBool | None = None  # `true` or `false`, never 0 or "no"


class WebhookUpdateRequest(CamelModel):
    model_config = ex.examples({"webhook": {"enabled": False}})
    webhook: WebhookChanges


class WebhookOut(CamelModel):
    id: int
    url: str
    events: list[str]
    enabled: bool
    # Why the endpoint was disabled (by its owner, or after failing for too long).
    disabled_reason: str | None
    # The first failed attempt since the last success; none while it succeeds.
    failing_since: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class CreatedWebhookOut(WebhookOut):
    # The signing secret, shown once: verify each delivery with it (docs/webhooks.md).
    secret: str


class WebhookResponse(CamelModel):
    model_config = ex.examples({"webhook": WEBHOOK})
    webhook: WebhookOut


class CreatedWebhookResponse(CamelModel):
    model_config = ex.examples({"webhook": {**WEBHOOK, "secret": "whsec_" + "A" * 43}})
    webhook: CreatedWebhookOut


class WebhookListResponse(CamelModel):
    model_config = ex.examples({"webhooks": [WEBHOOK]})
    webhooks: list[WebhookOut]


class AttemptOut(CamelModel):
    attempted_at: Timestamp
    status_code: int | None
    error: str | None
    duration_ms: int
    response_excerpt: str | None


class DeliveryOut(CamelModel):
    id: int
    event_id: str
    event_type: str
    state: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: Timestamp | None
    created_at: Timestamp
    # The exact body sent (and signed) on every attempt.
    payload: str
    # The latest attempts, newest first.
    attempt_log: list[AttemptOut]


class DeliveryResponse(CamelModel):
    model_config = ex.examples({"delivery": DELIVERY})
    delivery: DeliveryOut


class DeliveryListResponse(CamelModel):
    model_config = ex.examples({"deliveries": [DELIVERY]})
    deliveries: list[DeliveryOut]


# --- the events' bodies (the OpenAPI document's `webhooks`)


class ArticleRef(CamelModel):
    slug: str


class CommentRef(CamelModel):
    id: int


class ArticleData(CamelModel):
    article: ArticleOut


class ArticleDeletedData(CamelModel):
    article: ArticleRef


class CommentCreatedData(CamelModel):
    article: ArticleRef
    comment: CommentOut


class CommentDeletedData(CamelModel):
    article: ArticleRef
    comment: CommentRef


class FavoritedData(CamelModel):
    article: ArticleOut
    profile: ProfileOut


class FollowedData(CamelModel):
    profile: ProfileOut


class _Event(CamelModel):
    # The event id: also the `webhook-id` header, the same on every attempt.
    id: str
    timestamp: Timestamp


class ArticleEvent(_Event):
    type: Literal["article.published", "article.updated"]
    data: ArticleData


class ArticleDeletedEvent(_Event):
    type: Literal["article.deleted"]
    data: ArticleDeletedData


class CommentCreatedEvent(_Event):
    type: Literal["comment.created"]
    data: CommentCreatedData


class CommentDeletedEvent(_Event):
    type: Literal["comment.deleted"]
    data: CommentDeletedData


class FavoritedEvent(_Event):
    type: Literal["article.favorited"]
    data: FavoritedData


class FollowedEvent(_Event):
    type: Literal["profile.followed"]
    data: FollowedData
