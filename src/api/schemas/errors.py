from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorEnvelope(BaseModel):
    """The RealWorld error body: messages grouped by the field they are about."""

    errors: dict[str, list[str]] = Field(
        examples=[{"email": ["has already been taken"]}, {"body": ["can't be blank"]}]
    )
