"""The camelCase base every body extends, and the field types shared by several resources."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from src.services import cursors, messages


@lru_cache(maxsize=8192)
def format_timestamp(value: datetime) -> str:
    # Twice per listed article, and the same hot pages' timestamps again on every request: a
    # bounded cache of a pure function. isoformat, not strftime: several times faster.
    utc = value.astimezone(UTC).isoformat(timespec="milliseconds")  # ...T12:00:00.123+00:00
    return utc[:-6] + "Z"


# ISO-8601 in UTC with milliseconds and "Z", as the RealWorld clients expect.
Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2016-02-18T03:22:56.637Z"}
    ),
]


# A list's next page (src/api/paging.py): in the body only when another page follows.
NextCursor = Annotated[
    str | None,
    Field(
        exclude_if=lambda value: value is None,
        description="Pass as `cursor` for the next page; absent on the last page.",
    ),
    WithJsonSchema({"type": "string", "maxLength": cursors.MAX_LENGTH}),
]


# Whitespace as Unicode's White_Space property has it: what `strip_whitespace` removes, and what
# every blank check and document pattern here means by it (`str.strip()` also removes
# U+001C-U+001F, and JSON Schema's `\s` differs again: hence one explicit set).
WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
# The same as a regular-expression class body (JSON Schema, Python and Rust read it alike).
WHITESPACE_CLASS = r"\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def is_blank(value: str) -> bool:
    return not value.strip(WHITESPACE)


def blank_first(value: object) -> object:
    """A before-validator: an empty or blank string is `can't be blank`, whatever else the
    field's type checks (an email's format, a password's length) would have said of it."""
    if isinstance(value, str) and is_blank(value):
        raise PydanticCustomError("blank", messages.BLANK)
    return value


# The document's word for "not blank": some character that is not whitespace.
NOT_BLANK_PATTERN = f"[^{WHITESPACE_CLASS}]"


class NotBlank:
    """Text that must say something, declared once for the app and the document.

    The app refuses an empty or whitespace-only value as `can't be blank` (before the field's
    other checks, see `blank_first`); the document says the same as `minLength` 1 and a
    pattern. The pattern is the document's only: a pattern check in the app would answer its
    own message where the spec wants `can't be blank`. Put it last in `Annotated[...]`."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(blank_first, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["minLength"] = max(int(json_schema.get("minLength", 0)), 1)
        json_schema["pattern"] = NOT_BLANK_PATTERN
        return json_schema


def sent_at_most(maximum: int) -> BeforeValidator:
    """For a field whose surrounding whitespace is stripped: its bound holds for the value as
    sent, as the document's `maxLength` says, not only for what is left after stripping."""

    def check(value: object) -> object:
        if isinstance(value, str) and len(value) > maximum:
            raise PydanticCustomError(
                "string_too_long",
                "String should have at most {max_length} characters",
                {"max_length": maximum},
            )
        return value

    return BeforeValidator(check)


def sent_as(kind: Any) -> WithJsonSchema:
    """An update field's schema: the value's own, without null (for a field whose null is
    refused: sent, it must be a value; left out, it is left alone)."""
    return WithJsonSchema(TypeAdapter(kind).json_schema())


class CamelModel(BaseModel):
    """Accepts and emits camelCase (tagList, createdAt); unknown input keys are ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        from_attributes=True,
    )
