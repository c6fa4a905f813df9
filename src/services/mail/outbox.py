"""The `mail.send` job: a message enqueued in the writer's transaction, rendered and sent after
the response, retried by the job engine when the server fails; the request never waits for it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from src.core.config import Settings
from src.services import account_tokens
from src.services.jobs import JobContext, Payload, enqueue, job
from src.services.mail import render, sender

SEND = "mail.send"
# Where each tokened message's link leads, on the frontend at PUBLIC_URL.
LINK_PATHS = {
    "verify_email": "/verify-email",
    "change_email": "/verify-email",
    "password_reset": "/password-reset",
}


async def enqueue_message(
    session: AsyncSession,
    template: str,
    to: str,
    context: dict[str, Any],
    *,
    token_nonce: str | None = None,
) -> None:
    """Send `template` to `to` once the session commits. `context` is JSON (no secrets: it
    is stored in the jobs table); a token is passed as its nonce (account_tokens)."""
    if template not in render.template_names():
        raise LookupError(f"no mail template {template!r}")
    payload: Payload = {"template": template, "to": to, "context": context}
    if token_nonce is not None:
        payload["nonce"] = token_nonce
    await enqueue(session, SEND, payload)


def message_context(settings: Settings, payload: Payload) -> dict[str, Any]:
    """What the template sees: the service, the payload's context, and the token and its link."""
    public_url = settings.public_url.rstrip("/")
    context: dict[str, Any] = {
        "service_name": settings.service_name,
        "public_url": public_url,
        **payload["context"],
    }
    nonce = payload.get("nonce")
    if nonce is not None:
        token = account_tokens.token_from_nonce(nonce, settings)
        path = LINK_PATHS[payload["template"]]
        context.update(token=token, link=f"{public_url}{path}?token={token}")
    return context


@job(SEND)
async def send(context: JobContext, payload: Payload) -> None:
    """At least once: a send whose job is retried after the server took it arrives twice."""
    settings = context.settings
    rendered = render.render(payload["template"], message_context(settings, payload))
    await sender.deliver(settings, sender.build_message(settings, payload["to"], rendered))
