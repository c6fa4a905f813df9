"""The error envelope in the OpenAPI document: per status, its description and example."""

from __future__ import annotations

from typing import Any

from src.api.errors import status_of
from src.api.schemas.errors import ErrorEnvelope
from src.services import messages
from src.services.errors import DomainError

# Per status: the description and the example body for the OpenAPI document. `{about}` is the
# resource the operation declares (`article`, `profile`, ...); 422's example is built from the
# operation's own inputs when the document is served (src/api/openapi.py).
OWN_INPUT = "{input}"
ERROR_DOCS: dict[int, tuple[str, dict[str, list[str]]]] = {
    401: ("Missing, malformed, expired or revoked token", {"token": [messages.AUTH_REQUIRED]}),
    403: ("Authenticated, but not allowed to do this", {"{about}": [messages.FORBIDDEN]}),
    404: ("Not found", {"{about}": [messages.NOT_FOUND]}),
    409: ("Conflict with the current state; retry", {"slug": [messages.SLUG_EXHAUSTED]}),
    412: (
        "`If-Match` names a version that is no longer current; read it again",
        {"{about}": [messages.PRECONDITION_FAILED]},
    ),
    413: ("Request body too large", {"body": [messages.BODY_TOO_LARGE]}),
    415: ("Not a kind of body this operation takes", {"body": [messages.UNSUPPORTED_MEDIA_TYPE]}),
    422: ("Invalid input; messages grouped by field", {OWN_INPUT: [messages.BLANK]}),
    429: (
        "Too many requests; retry after `Retry-After` seconds",
        {"body": [messages.TOO_MANY_REQUESTS.format(seconds=30)]},
    ),
    503: (
        "Temporarily unavailable (e.g. the database); retry after `Retry-After` seconds",
        {"database": [messages.DATABASE_UNAVAILABLE.format(seconds=5)]},
    ),
}
# Statuses any route can answer: invalid input, rate limits, a database outage. Routes that take
# a body add 413 (the body size limit) themselves.
COMMON_ERRORS = (422, 429, 503)


def error_responses(
    *errors: int | DomainError, about: str | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries declaring the error envelope, with an example, per status.

    A status takes its example from ERROR_DOCS, 403 and 404 naming the resource `about`; a
    domain error stands for its own status and is its own example (login's `credentials`)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        if isinstance(error, DomainError):
            code = status_of(error)
            example = error.errors
        else:
            code = error
            example = ERROR_DOCS[code][1]
        if "{about}" in example:
            if about is None:
                raise ValueError(f"error_responses({code}) needs about=<the resource>")
            example = {about: example["{about}"]}
        responses[code] = {
            "model": ErrorEnvelope,
            "description": ERROR_DOCS[code][0],
            "content": {"application/json": {"example": {"errors": example}}},
        }
    return responses
