from __future__ import annotations

from src.api.schemas import examples as ex
from src.api.schemas.base import CamelModel


class ProfileOut(CamelModel):
    username: str
    bio: str | None
    image: str | None
    following: bool


class ProfileResponse(CamelModel):
    model_config = ex.examples({"profile": ex.PROFILE})

    profile: ProfileOut
