"""Bodies for the account's address: password reset and e-mail verification."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from src.api.schemas import examples as ex
from src.api.schemas.base import CamelModel, NotBlank, sent_at_most
from src.api.schemas.users import Password
from src.models.user import EMAIL_MAX_LENGTH
from src.services.account_tokens import MAX_TOKEN_LENGTH

TOKEN_EXAMPLE = "Yc3v1mQ0r8dN2kW7sT4bZ6uH9aJ5eL1xP0gF3iK8oR2"  # noqa: S105 - an example

# Any text as long as an address can be: the answer is the same whatever it names.
ResetEmail = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=EMAIL_MAX_LENGTH),
    sent_at_most(EMAIL_MAX_LENGTH),
    NotBlank(),
]
MailedToken = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TOKEN_LENGTH),
    sent_at_most(MAX_TOKEN_LENGTH),
    NotBlank(),
]


class PasswordResetBody(CamelModel):
    email: ResetEmail


class PasswordResetRequest(CamelModel):
    model_config = ex.examples({"user": {"email": "jake@jake.jake"}})

    user: PasswordResetBody = Field(examples=[{"email": "jake@jake.jake"}])


class PasswordResetConfirmBody(CamelModel):
    token: MailedToken
    password: Password


class PasswordResetConfirmRequest(CamelModel):
    model_config = ex.examples({"user": {"token": TOKEN_EXAMPLE, "password": "a-new-password"}})

    user: PasswordResetConfirmBody = Field(
        examples=[{"token": TOKEN_EXAMPLE, "password": "a-new-password"}]
    )


class VerifyEmailBody(CamelModel):
    token: MailedToken


class VerifyEmailRequest(CamelModel):
    model_config = ex.examples({"user": {"token": TOKEN_EXAMPLE}})

    user: VerifyEmailBody = Field(examples=[{"token": TOKEN_EXAMPLE}])
