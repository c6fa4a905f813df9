"""The camelCase base every body extends, and the field types shared by several resources."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from src.services import messages


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


def not_blank(value: str) -> str:
    """For free text kept verbatim (markdown keeps its whitespace): it must say something."""
    if not value.strip():
        raise PydanticCustomError("blank", messages.BLANK)
    return value


def blank_first(value: object) -> object:
    """A before-validator: an empty or blank string is `can't be blank`, whatever else the
    field's type checks (an email's format, a password's length) would have said of it."""
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("blank", messages.BLANK)
    return value


class CamelModel(BaseModel):
    """Accepts and emits camelCase (tagList, createdAt); unknown input keys are ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        from_attributes=True,
    )
