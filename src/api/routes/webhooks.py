"""The signed-in user's webhook endpoints and their deliveries (docs/webhooks.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from src.api.deps import SessionDep, SettingsDep, WebhookWriter
from src.api.error_docs import error_responses
from src.api.http_headers import LOCATION, location
from src.api.query_params import IntParam, QueryParams, QueryValues
from src.api.schemas.webhooks import (
    ArticleDeletedEvent,
    ArticleEvent,
    CommentCreatedEvent,
    CommentDeletedEvent,
    CreatedWebhookOut,
    CreatedWebhookResponse,
    DeliveryListResponse,
    DeliveryOut,
    DeliveryResponse,
    FavoritedEvent,
    FollowedEvent,
    NewWebhookRequest,
    WebhookListResponse,
    WebhookOut,
    WebhookResponse,
    WebhookUpdateRequest,
)
from src.services.webhooks import endpoints

router = APIRouter(prefix="/user/webhooks", tags=["Webhooks"])

MAX_PAGE_SIZE = 100
LIMIT = IntParam(
    "limit", f"How many deliveries to return (1-{MAX_PAGE_SIZE}).", default=20, ge=1, le=100
)
OFFSET = IntParam("offset", "How many deliveries to skip first.", default=0, ge=0, le=10_000)
DELIVERY_PARAMS = QueryParams(LIMIT, OFFSET)
WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DeliveryId = Annotated[int, Path(alias="deliveryId", ge=1, le=2**63 - 1)]


@router.post(
    "",
    operation_id="CreateWebhook",
    summary="Subscribe an endpoint to events",
    status_code=status.HTTP_201_CREATED,
    response_model=CreatedWebhookResponse,
    responses=error_responses(401, 413, 422),
)
async def create_webhook(
    payload: NewWebhookRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    user: WebhookWriter,
) -> CreatedWebhookResponse:
    """Subscribe an HTTPS endpoint to event types; a `ping` delivery follows at once. The
    answer holds the signing secret, shown only here; `Location` is the endpoint's URL."""
    given = payload.webhook
    created = await endpoints.create_endpoint(
        session, settings, user.id, given.url, list(dict.fromkeys(given.events))
    )
    response.headers[LOCATION] = location(request, get_webhook, id=created.id)
    return CreatedWebhookResponse(webhook=CreatedWebhookOut.model_validate(created))


@router.get(
    "",
    operation_id="ListWebhooks",
    summary="List your webhook endpoints",
    response_model=WebhookListResponse,
    responses=error_responses(401),
)
async def list_webhooks(session: SessionDep, user: WebhookWriter) -> WebhookListResponse:
    """Your endpoints, oldest first, with whether each is enabled and why not."""
    found = await endpoints.list_endpoints(session, user.id)
    return WebhookListResponse(webhooks=[WebhookOut.model_validate(one) for one in found])


@router.get(
    "/{id}",
    operation_id="GetWebhook",
    summary="Get a webhook endpoint",
    response_model=WebhookResponse,
    responses=error_responses(401, 404, about="webhook"),
)
async def get_webhook(id: WebhookId, session: SessionDep, user: WebhookWriter) -> WebhookResponse:
    """One of your endpoints."""
    found = await endpoints.get_endpoint(session, user.id, id)
    return WebhookResponse(webhook=WebhookOut.model_validate(found))


@router.put(
    "/{id}",
    operation_id="UpdateWebhook",
    summary="Change, disable or re-enable a webhook endpoint",
    response_model=WebhookResponse,
    responses=error_responses(401, 404, 413, 422, about="webhook"),
)
async def update_webhook(
    id: WebhookId,
    payload: WebhookUpdateRequest,
    session: SessionDep,
    settings: SettingsDep,
    user: WebhookWriter,
) -> WebhookResponse:
    """Change the URL or the events, or set `enabled` (re-enabling clears `disabledReason`)."""
    given = payload.webhook
    events = list(dict.fromkeys(given.events)) if given.events is not None else None
    changed = await endpoints.update_endpoint(
        session, settings, user.id, id, url=given.url, events=events, enabled=given.enabled
    )
    return WebhookResponse(webhook=WebhookOut.model_validate(changed))


@router.delete(
    "/{id}",
    operation_id="DeleteWebhook",
    summary="Delete a webhook endpoint",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 404, about="webhook"),
)
async def delete_webhook(id: WebhookId, session: SessionDep, user: WebhookWriter) -> Response:
    """Delete the endpoint with its deliveries; nothing more is sent to it."""
    await endpoints.delete_endpoint(session, user.id, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{id}/deliveries",
    operation_id="ListWebhookDeliveries",
    summary="List an endpoint's deliveries and their attempts",
    response_model=DeliveryListResponse,
    responses=error_responses(401, 404, about="webhook"),
)
async def list_deliveries(
    id: WebhookId,
    session: SessionDep,
    user: WebhookWriter,
    query: QueryValues = DELIVERY_PARAMS.depends,
) -> DeliveryListResponse:
    """Newest first: each event sent to the endpoint, its state, and its latest attempts."""
    found = await endpoints.list_deliveries(session, user.id, id, LIMIT.of(query), OFFSET.of(query))
    return DeliveryListResponse(deliveries=[DeliveryOut.model_validate(one) for one in found])


@router.post(
    "/{id}/deliveries/{deliveryId}/redeliver",
    operation_id="RedeliverWebhookDelivery",
    summary="Send a delivery again",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryResponse,
    responses=error_responses(401, 404, 409, about="delivery"),
)
async def redeliver(
    id: WebhookId, delivery_id: DeliveryId, session: SessionDep, user: WebhookWriter
) -> DeliveryResponse:
    """Queue a delivered or given-up delivery again: same event id and body, a new retry
    window. 409 while it still waits for its next attempt."""
    moved = await endpoints.redeliver(session, user.id, id, delivery_id)
    return DeliveryResponse(delivery=DeliveryOut.model_validate(moved))


# The events, as the OpenAPI document's `webhooks` declares them (installed on `app.webhooks`
# in src/main.py): each is a POST to the subscriber's URL with the Standard Webhooks headers.
events = APIRouter(tags=["Webhooks"])
_EVENT_DOCS: tuple[tuple[str, type, str], ...] = (
    ("article.published", ArticleEvent, "An article by you or by an author you follow."),
    ("article.updated", ArticleEvent, "An article by you or by an author you follow changed."),
    ("article.deleted", ArticleDeletedEvent, "An article by you or an author you follow."),
    ("comment.created", CommentCreatedEvent, "A comment by you, or on one of your articles."),
    ("comment.deleted", CommentDeletedEvent, "A comment by you, or on one of your articles."),
    ("article.favorited", FavoritedEvent, "Someone favorited one of your articles."),
    ("profile.followed", FollowedEvent, "Someone followed you."),
)


_FAILED_ATTEMPT = (
    "Any answer but 2xx fails the attempt: a 429 (its Retry-After honoured) or 5xx is retried, "
    "as are network errors and timeouts; others are not."
)


def _declare(name: str, body: type, description: str) -> None:
    async def receive(event: body) -> None:  # type: ignore[valid-type]
        """Answer 2xx within the timeout; verify the signature first (docs/webhooks.md)."""

    receive.__name__ = name.replace(".", "_")
    receive.__annotations__ = {"event": body, "return": None}  # a real class, not a string
    events.post(
        name,
        operation_id=f"Webhook_{receive.__name__}",
        summary=description,
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        responses={"default": {"description": _FAILED_ATTEMPT}},
    )(receive)


for _name, _body, _description in _EVENT_DOCS:
    _declare(_name, _body, _description)
