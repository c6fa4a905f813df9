"""Log setup: one JSON object a line in production, readable lines in development.

Every line written while a request is being served carries its request id (and the user id
and trace id once known), through a context variable the request middleware sets. Nothing here
ever logs a request body or a header value other than the request id and the user agent (that
one bounded and escaped, like the path of an unmatched request: see `loggable`).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import trace

from src.core.config import Settings

# Attributes every LogRecord has; anything else passed with `extra=` is a structured field.
_STANDARD_ATTRS = frozenset(
    set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
    | {"message", "asctime", "request_id", "user_id", "trace_id", "taskName", "color_message"}
)
_CONDUIT_HANDLER = "_conduit_handler"
_IN_ACCESS_MESSAGE = frozenset({"method", "route", "status", "duration_ms"})  # console: once
LOGGED_TEXT_MAX_CHARS = 200  # a client-supplied text (path, user agent) is cut here in the logs
# Control characters (C0, DEL, C1, line separators) and the backslash escaped: a client's text
# cannot start a forged log line or move a terminal's cursor, and an escape is always ours.
_ESCAPES = {
    **{code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0), ord("\\"))},
    **{code: f"\\u{code:04x}" for code in (0x2028, 0x2029)},
}


@dataclass(slots=True)
class RequestContext:
    """What the log lines of one request share; mutable so dependencies can add the user."""

    request_id: str
    user_id: int | None = None
    # The keys of the error envelope the request was answered with: which check refused it.
    refused: tuple[str, ...] | None = None


request_context: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def set_user_id(user_id: int) -> None:
    """Record the authenticated user on the current request's log context."""
    context = request_context.get()
    if context is not None:
        context.user_id = user_id


def loggable(text: str, limit: int = LOGGED_TEXT_MAX_CHARS) -> str:
    """A client-supplied text fit for a log line: cut to `limit` characters, then escaped."""
    cut = text[:limit].translate(_ESCAPES)
    return cut + "..." if len(text) > limit else cut


def record_refusal(fields: Iterable[str]) -> None:
    """Note which fields or checks refused the current request (names only, never values)."""
    context = request_context.get()
    if context is not None:
        context.refused = tuple(fields)


def current_trace_id() -> str | None:
    """The OpenTelemetry trace id when tracing is on, else the request id (correlates a 500)."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        return format(span_context.trace_id, "032x")
    context = request_context.get()
    return context.request_id if context else None


class ContextFilter(logging.Filter):
    """Stamps each record with the request id, user id and trace id of the request, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = request_context.get()
        record.request_id = context.request_id if context else None
        record.user_id = context.user_id if context else None
        if record.exc_info:
            record.trace_id = current_trace_id()
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "user_id"):
            if getattr(record, key, None) is not None:
                line[key] = getattr(record, key)
        line.update(_fields(record))
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["trace_id"] = getattr(record, "trace_id", None)
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        text = super().format(record)
        fields = {k: v for k, v in _fields(record).items() if k not in _IN_ACCESS_MESSAGE}
        user_id = getattr(record, "user_id", None)
        if user_id is not None:
            fields = {"user_id": user_id, **fields}
        if fields:
            text += " " + " ".join(f"{key}={_console_value(v)}" for key, v in fields.items())
        return text


def _console_value(value: object) -> str:
    # A text with spaces (a user agent) is quoted, so the next key=value stays readable.
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if " " in text or not text else text


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the time (so test capture and redirects work)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(settings: Settings) -> None:
    """Install Conduit's handler on the root logger (replacing a previous one, keeping others)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _CONDUIT_HANDLER, False):
            root.removeHandler(handler)
    handler = _StderrHandler()
    setattr(handler, _CONDUIT_HANDLER, True)
    handler.setFormatter(JsonFormatter() if settings.log_json else ConsoleFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # uvicorn's own loggers go through the root handler; its access log is replaced by ours.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
