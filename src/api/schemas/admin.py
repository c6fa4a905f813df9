"""Bodies for the admin routes."""

from __future__ import annotations

from src.api.schemas import examples as ex
from src.api.schemas.base import CamelModel

ADMIN_USER = {"username": "jake", "email": "jake@jake.jake", "role": "user", "active": False}


class AdminUserOut(CamelModel):
    username: str
    email: str
    role: str
    active: bool


class AdminUserResponse(CamelModel):
    model_config = ex.examples({"user": ADMIN_USER})

    user: AdminUserOut
