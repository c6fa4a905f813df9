"""Idempotency-Key in the OpenAPI document: the request header on every write a signed-in
caller makes, the replay's response header, and the answers a key can get (400, 409, 422),
so a generated client can send it (src/api/asgi/idempotency.py does the work)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from src.api.asgi.idempotency import KEY_CHARACTERS, MAX_KEY_LENGTH
from src.services import idempotency, messages
from src.services.idempotency import KEY_FIELD

REPLAYED_HEADER = "Idempotent-Replayed"
# Bare, or quoted as an sf-string: the document admits exactly what the server takes.
_TOKEN = f"{KEY_CHARACTERS}{{1,{MAX_KEY_LENGTH}}}"
PARAMETER = {
    "name": KEY_FIELD,
    "in": "header",
    "required": False,
    "description": "Makes a retry safe (IETF draft-ietf-httpapi-idempotency-key-header): a "
    "unique value per request, e.g. a UUID, sent again unchanged with each retry of it. The "
    "first answer (any but 401, 408, 409, 425, 429 and 5xx) is kept for `IDEMPOTENCY_TTL_SECONDS` "
    f"(a day by default) and replayed with `{REPLAYED_HEADER}: true`; nothing is written again. "
    "The same key with another request is 422; a retry while the first still runs is 409. "
    "Bare or quoted as a structured-field string.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH + 2,
        "pattern": f'^(?:{_TOKEN}|"{_TOKEN}")$',
    },
}
HEADER = {
    "description": "`true` when this answer is the stored first answer to a request sent "
    "with the same `Idempotency-Key`; absent otherwise.",
    "required": False,
    "schema": {"type": "string", "enum": ["true"]},
}
_ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
# Per status: how the key can refuse a request, added to what the operation already says.
REFUSALS = {
    "400": ("Malformed Idempotency-Key", messages.IDEMPOTENCY_KEY_INVALID),
    "409": (
        "Or: a request with this Idempotency-Key is still running",
        messages.IDEMPOTENCY_KEY_RUNNING,
    ),
    "422": ("Or: this Idempotency-Key came with another request", messages.IDEMPOTENCY_KEY_REUSED),
}


def declare_idempotency(
    document: dict[str, Any], operations: dict[str, dict[str, Any]], keyed: Iterable[str]
) -> None:
    """Declare the header on the `keyed` operations (signed-in writes) of the document."""
    for operation_id in keyed:
        operation = operations.get(operation_id)
        if operation is None:
            continue
        operation.setdefault("parameters", []).append(dict(PARAMETER))  # inline, as FastAPI's
        responses = operation["responses"]
        for status, (description, message) in REFUSALS.items():
            if status in responses:
                responses[status]["description"] += f". {description}"
                continue
            responses[status] = {
                "description": description,
                "content": {
                    "application/json": {
                        "schema": _ENVELOPE,
                        "example": {"errors": {KEY_FIELD: [message]}},
                    }
                },
            }
        for status, response in responses.items():
            if status.isdigit() and idempotency.worth_keeping(int(status)):
                headers = response.setdefault("headers", {})
                headers[REPLAYED_HEADER] = {"$ref": f"#/components/headers/{REPLAYED_HEADER}"}
    components = document.setdefault("components", {})
    components.setdefault("headers", {})[REPLAYED_HEADER] = HEADER
