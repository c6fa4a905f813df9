"""The one place where failures become HTTP: the error envelope for domain errors, validation
and the unexpected (their OpenAPI documentation: src/api/error_docs.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from src.api import http_headers
from src.core.db import is_database_unavailable
from src.core.integrations import report_exception
from src.core.logging import record_refusal
from src.services import messages
from src.services.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
)

logger = logging.getLogger("conduit.errors")

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    Invalid: 422,
    NotFound: 404,
    Forbidden: 403,
    Unauthorized: 401,
    Conflict: 409,
    PreconditionFailed: 412,
    UnsupportedMediaType: 415,
    RateLimited: 429,
}
WWW_AUTHENTICATE = {"WWW-Authenticate": "Token"}
REQUEST_WRAPPERS = frozenset({"user", "article", "comment", "key", "webhook"})


def error_response(
    status_code: int, errors: dict[str, list[str]], headers: dict[str, str] | None = None
) -> JSONResponse:
    record_refusal(errors)  # the access log names the keys that refused the request
    return JSONResponse({"errors": errors}, status_code=status_code, headers=headers)


def status_of(error: DomainError) -> int:
    return next((code for kind, code in STATUS_BY_ERROR.items() if isinstance(error, kind)), 400)


# ------------------------------------------------------------ validation messages


def _field_name(loc: Sequence[int | str]) -> str:
    """('body', 'user', 'email') -> 'email'; ('query', 'limit') -> 'limit'; ('body',) -> 'body'."""
    parts = list(loc)
    source = parts.pop(0) if parts else "body"
    if source == "body" and len(parts) > 1 and parts[0] in REQUEST_WRAPPERS:
        parts.pop(0)
    names = [p for p in parts if isinstance(p, str)]
    return names[0] if names else str(source)


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing" or (error.get("input", "") is None and kind.endswith("_type")):
        return messages.BLANK
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return messages.BLANK
        return f"is too short (minimum is {ctx.get('min_length')} characters)"
    if kind == "string_too_long":
        return f"is too long (maximum is {ctx.get('max_length')} characters)"
    if kind == "too_long":
        return f"has too many items (maximum is {ctx.get('max_length')})"
    if kind in {"string_type", "string_unicode"}:
        return "must be a string"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return "must be an integer"
    if kind == "int_parsing_size":  # thousands of digits: never Pydantic's own wording
        return "has too many digits"
    if kind == "list_type":
        return "must be an array"
    if kind in {"model_type", "dict_type", "model_attributes_type"}:
        return "must be an object"
    if kind == "greater_than_equal":
        return f"must be greater than or equal to {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be less than or equal to {ctx.get('le')}"
    if kind == "json_invalid":
        return "is not valid JSON"
    if kind == "value_error" and "email" in str(error.get("msg", "")).lower():
        return "is invalid"
    return str(error.get("msg", "is invalid"))


def validation_errors(errors: Sequence[Any]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for error in errors:
        field = "body" if error.get("type") == "json_invalid" else _field_name(error["loc"])
        message = _message(error)
        if message not in grouped.setdefault(field, []):
            grouped[field].append(message)
    return grouped


# ------------------------------------------------------------ handlers


async def _on_domain_error(_request: Request, exc: DomainError) -> JSONResponse:
    return domain_error_response(exc)


def domain_error_response(exc: DomainError) -> JSONResponse:
    """A service's refusal as HTTP: its status, the envelope, and the headers it calls for."""
    status_code = status_of(exc)
    headers = WWW_AUTHENTICATE if status_code == 401 else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(status_code, exc.errors, headers)


async def _on_validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(422, validation_errors(exc.errors()))


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405:  # the methods of every route of the path, not the first one's
        headers = {**(headers or {}), http_headers.ALLOW: http_headers.allowed_methods(request)}
    return error_response(exc.status_code, {"body": [detail.lower()]}, headers)


def database_unavailable_response(retry_after: int) -> JSONResponse:
    """503 with Retry-After, in the envelope: the database is away, the client should retry."""
    return error_response(
        503,
        {"database": [messages.DATABASE_UNAVAILABLE.format(seconds=retry_after)]},
        {"Retry-After": str(retry_after)},
    )


async def unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    if is_database_unavailable(exc):
        # An outage, not a bug: fail fast with 503 and let the client retry.
        logger.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            exc,
            extra={"exc_type": type(exc).__name__},
        )
        settings = getattr(request.app.state, "settings", None)
        return database_unavailable_response(settings.retry_after_seconds if settings else 5)
    # Never leak a stack trace or SQL to the client; the log keeps the details.
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    report_exception(exc)  # to Sentry, when SENTRY_DSN is set
    return error_response(500, {"body": ["internal server error"]})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected_error_response)
