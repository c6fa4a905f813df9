from __future__ import annotations

import re
from typing import Annotated

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import (
    AfterValidator,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from src.api.schemas import examples as ex
from src.api.schemas.base import (
    WHITESPACE,
    WHITESPACE_CLASS,
    CamelModel,
    NotBlank,
    is_blank,
    sent_as,
    sent_at_most,
)
from src.models.user import EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH
from src.services import messages

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256  # argon2 takes any length; the cap only bounds the work per request
BIO_MAX_LENGTH = 2000
IMAGE_MAX_LENGTH = 2048


def _username_charset(value: str) -> str:
    if not all(c.isascii() and (c.isalnum() or c in "_-") for c in value):
        raise PydanticCustomError(
            "username_charset", "may contain only letters, digits, underscores and hyphens"
        )
    return value


def _http_url(value: str) -> str:
    if not value.lower().startswith(("http://", "https://")) or any(c in WHITESPACE for c in value):
        raise PydanticCustomError("image_url", "must be an http(s) URL")
    return value


def _any_case(name: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in name)


# The charset rule in the document too, so clients and generated data know it (schema fuzzing
# found the document admitting any string); surrounding whitespace is stripped, not refused.
USERNAME_PATTERN = f"^[{WHITESPACE_CLASS}]*[A-Za-z0-9_-]+[{WHITESPACE_CLASS}]*$"

Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=USERNAME_MAX_LENGTH),
    AfterValidator(_username_charset),
    sent_at_most(USERNAME_MAX_LENGTH),
    Field(json_schema_extra={"pattern": USERNAME_PATTERN}),
]
# email-validator refuses special-use domains (`.test`, `.local`, ...): no mail can reach them.
# The document says so too (JSON Schema patterns have no case-insensitive flag).
SPECIAL_USE_DOMAIN_PATTERN = (
    "[.@](?:"
    + "|".join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES)
    + rf")\.?[{WHITESPACE_CLASS}]*$"
)
# NotBlank runs first (the outermost validator): an empty email or password is `can't be
# blank`, on every operation, as the spec says, not `is invalid` or `is too short`.
Email = Annotated[
    EmailStr,
    StringConstraints(max_length=EMAIL_MAX_LENGTH),
    sent_at_most(EMAIL_MAX_LENGTH),
    NotBlank(),
    Field(json_schema_extra={"not": {"pattern": SPECIAL_USE_DOMAIN_PATTERN}}),
]
Password = Annotated[
    str,
    StringConstraints(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH),
    NotBlank(),
]
LoginPassword = Annotated[str, StringConstraints(max_length=PASSWORD_MAX_LENGTH), NotBlank()]
Bio = Annotated[str, StringConstraints(max_length=BIO_MAX_LENGTH)]
# The URL rule in the document too; a blank image clears it (see UserUpdate).
_SPACES = f"[{WHITESPACE_CLASS}]*"
IMAGE_URL_PATTERN = f"^{_SPACES}(?:[Hh][Tt][Tt][Pp][Ss]?://[^{WHITESPACE_CLASS}]*)?{_SPACES}$"
ImageUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=IMAGE_MAX_LENGTH),
    AfterValidator(_http_url),
    sent_at_most(IMAGE_MAX_LENGTH),
    Field(json_schema_extra={"pattern": IMAGE_URL_PATTERN}),
]


class LoginUser(CamelModel):
    email: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=EMAIL_MAX_LENGTH),
        sent_at_most(EMAIL_MAX_LENGTH),
        NotBlank(),
    ]
    password: LoginPassword


class LoginRequest(CamelModel):
    model_config = ex.examples({"user": {"email": "jake@jake.jake", "password": "jakejake"}})

    user: LoginUser = Field(examples=[{"email": "jake@jake.jake", "password": "jakejake"}])


class NewUser(CamelModel):
    username: Username
    email: Email
    password: Password


class NewUserRequest(CamelModel):
    model_config = ex.examples(
        {"user": {"username": "jake", "email": "jake@jake.jake", "password": "jakejake"}}
    )

    user: NewUser = Field(
        examples=[{"username": "Jacob", "email": "jake@jake.jake", "password": "jakejake"}]
    )


class UserUpdate(CamelModel):
    """Only the fields sent are changed; `bio` and `image` may be null (or "") to clear them."""

    email: Annotated[Email | None, sent_as(Email)] = None
    username: Annotated[Username | None, sent_as(Username)] = None
    password: Annotated[Password | None, sent_as(Password)] = None
    bio: Bio | None = None
    image: ImageUrl | None = None
    # Needed with a new email or password unless the session proved the password recently.
    current_password: LoginPassword | None = None

    @field_validator("email", "username", "password", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError("blank", messages.BLANK)
        return value

    @field_validator("bio", "image", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        return None if isinstance(value, str) and is_blank(value) else value


class UserUpdateRequest(CamelModel):
    model_config = ex.examples({"user": {"bio": "I like to skateboard", "image": None}})

    user: UserUpdate = Field(
        examples=[
            {
                # Not registration's example: an update to an email another account holds
                # is refused, and the two examples must be able to succeed side by side.
                "email": "jake.new@jake.jake",
                "bio": "I like to skateboard",
                "image": "https://i.stack.imgur.com/xHWG8.jpg",
            }
        ]
    )


class UserOut(CamelModel):
    email: str
    token: str
    username: str
    bio: str | None
    image: str | None
    # Beside the spec's fields: whether `email` was confirmed by a link sent to it.
    email_verified: bool = Field(
        description="Whether the address was confirmed by the link sent to it "
        "(`POST /api/users/verify-email`)."
    )


class UserResponse(CamelModel):
    model_config = ex.examples({"user": ex.USER})

    user: UserOut
