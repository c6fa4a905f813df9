"""Bodies for sessions: the refresh token issued at login/registration and traded on refresh."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from src.api.schemas import examples as ex
from src.api.schemas.base import CamelModel
from src.api.schemas.users import UserOut

REFRESH_TOKEN_EXAMPLE = "q8Vr3m7R0m2b0d0Qx4gS5vUeR1kZy9tJ3n6WcLh2aPo"  # noqa: S105
SESSION_USER = {**ex.USER, "refreshToken": REFRESH_TOKEN_EXAMPLE}


class SessionUserOut(UserOut):
    """The user with a fresh session: `token` (access) and `refreshToken` (trade it at
    `POST /api/users/refresh`; single use)."""

    refresh_token: str


class SessionUserResponse(CamelModel):
    model_config = ex.examples({"user": SESSION_USER})

    user: SessionUserOut


class RefreshBody(CamelModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class RefreshRequest(CamelModel):
    model_config = ex.examples({"user": {"refreshToken": REFRESH_TOKEN_EXAMPLE}})

    user: RefreshBody = Field(examples=[{"refreshToken": REFRESH_TOKEN_EXAMPLE}])
