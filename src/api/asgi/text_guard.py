"""Text a request may not carry: NUL characters anywhere, and bodies that are not UTF-8.

PostgreSQL text cannot hold NUL: SQLite would store it and PostgreSQL would fail the statement
(a 500); refusing it up front keeps both databases answering the same clean 422, naming the field
when it can. A body that is not UTF-8 would otherwise reach FastAPI's parser and come back as an
undocumented 400 (both found by schema fuzzing and the hostile-input tests). A JSON object with
the same key twice is refused too: parsers disagree on which one wins (first or last), and a
proxy or a client validating one of them must not be able to smuggle the other past us. An
integer too long for Python to convert would also fail FastAPI's parser with an undocumented
400: it is refused here by its length, before anything converts it.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Scope

NUL_MESSAGE = "must not contain NUL characters"
NOT_UTF8_MESSAGE = "is not valid UTF-8"
DUPLICATE_KEY_MESSAGE = "has the key {key!r} more than once"
NUMBER_TOO_LONG_MESSAGE = "has a number longer than {digits} digits"
# The lowest limit Python's int conversion can be set to: a shorter number always converts.
MAX_NUMBER_DIGITS = sys.int_info.str_digits_check_threshold
# "\u0000" in a JSON string, unless its backslash is itself escaped ("\\u0000" is plain text).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


def text_errors(scope: Scope, body: bytes = b"") -> dict[str, list[str]] | None:
    """The error envelope's fields for a request carrying bad text, or None when it has none."""
    if "\x00" in scope.get("path", ""):
        return {"path": [NUL_MESSAGE]}
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return {name.replace("\x00", "") or "query": [NUL_MESSAGE]}
    if not body:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"body": [NOT_UTF8_MESSAGE]}
    if _JSON_NUL.search(body):
        return {"body": [NUL_MESSAGE]}
    return _parse_errors(text)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _NumberTooLong(ValueError):
    pass


def _bounded_int(literal: str) -> int:
    if len(literal) - literal.startswith("-") > MAX_NUMBER_DIGITS:
        raise _NumberTooLong(literal[:20])
    return int(literal)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _parse_errors(text: str) -> dict[str, list[str]] | None:
    """Nesting depth is bounded before this runs (RequestGuardMiddleware), so parsing is safe;
    JSON that does not parse is left to the validation error FastAPI gives it."""
    try:
        json.loads(text, object_pairs_hook=_unique_pairs, parse_int=_bounded_int)
    except _DuplicateKey as exc:
        return {"body": [DUPLICATE_KEY_MESSAGE.format(key=exc.key[:40])]}
    except _NumberTooLong:
        return {"body": [NUMBER_TOO_LONG_MESSAGE.format(digits=MAX_NUMBER_DIGITS)]}
    except ValueError:
        return None
    return None
