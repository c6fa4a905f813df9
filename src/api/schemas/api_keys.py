"""Bodies for API keys (src/api/routes/api_keys.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from src.api.schemas import examples as ex
from src.api.schemas.base import CamelModel, NotBlank, Timestamp
from src.models.api_key import API_KEY_NAME_MAX_LENGTH
from src.services import scopes

# Checked by the service (an unknown one is 422 under `scopes`); the document lists them from
# their one declaration, src/services/scopes.py.
ScopeName = Annotated[
    str,
    StringConstraints(max_length=max(len(name) for name in scopes.ALL)),
    WithJsonSchema({"type": "string", "enum": list(scopes.ALL)}),
]
KeyName = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=API_KEY_NAME_MAX_LENGTH), NotBlank()
]
MAX_EXPIRY_DAYS = 366


def _json_integer(value: object) -> object:
    """What JSON Schema calls an integer: a number with no fraction (30 or 30.0), never "30"
    or true, which Pydantic's lax mode would turn into one."""
    if isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


ExpiryDays = Annotated[int, Field(ge=1, le=MAX_EXPIRY_DAYS), BeforeValidator(_json_integer)]

KEY = {
    "id": "4Fq9ZbW2kLmN",
    "name": "deploy bot",
    "scopes": ["read", "articles:write"],
    "prefix": "cdt_4Fq9ZbW2kLmN",
    "createdAt": ex.TIMESTAMP,
    "lastUsedAt": None,
    "expiresAt": None,
}
SECRET = "cdt_4Fq9ZbW2kLmN" + "x" * 32 + "0A1b2C"


class NewApiKey(CamelModel):
    name: KeyName
    scopes: list[ScopeName] = Field(
        min_length=1,
        max_length=len(scopes.ALL),
        description="What the key may do: "
        + "; ".join(f"`{name}`: {text}" for name, text in scopes.DESCRIPTIONS.items()),
    )
    expires_in_days: ExpiryDays | None = Field(
        default=None, description="Omitted or null: never expires."
    )


class NewApiKeyRequest(CamelModel):
    model_config = ex.examples({"key": {"name": "deploy bot", "scopes": ["read"]}})

    key: NewApiKey


class ApiKeyOut(CamelModel):
    id: str
    name: str
    scopes: list[str]
    prefix: str = Field(description="The key's first characters, to recognize it by.")
    created_at: Timestamp
    last_used_at: Timestamp | None = Field(
        description="To the minute: uses within a minute of the last one are not recorded."
    )
    expires_at: Timestamp | None


class CreatedApiKeyOut(ApiKeyOut):
    secret: str = Field(description="The key itself: shown only in this answer, never again.")


class CreatedApiKeyResponse(CamelModel):
    model_config = ex.examples({"key": {**KEY, "secret": SECRET}})

    key: CreatedApiKeyOut


class ApiKeyListResponse(CamelModel):
    model_config = ex.examples({"keys": [KEY]})

    keys: list[ApiKeyOut]
