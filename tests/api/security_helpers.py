"""Helpers for the security tests: refreshing and probing sessions, admins, forged tokens."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from jose import jwt
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from src.core.config import Settings
from src.models import User
from src.models.base import utc_now
from src.services import sessions, users
from tests.factories import RegisteredUser, auth


async def refresh(client: AsyncClient, refresh_token: str) -> Response:
    return await client.post("/api/users/refresh", json={"user": {"refreshToken": refresh_token}})


async def me(client: AsyncClient, token: str) -> Response:
    return await client.get("/api/user", headers=auth(token))


async def make_admin(engine: AsyncEngine, username: str) -> None:
    """Promote directly in the database (what `conduit create-admin` does; tested in CLI tests)."""
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.username == username).values(role="admin"))


def move_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """From here on, the services that judge how old a session or a used refresh token is
    read a clock `seconds` ahead: a window passes without sleeping."""

    def later() -> datetime:
        return utc_now() + timedelta(seconds=seconds)

    for module in (users, sessions):
        monkeypatch.setattr(module, "utc_now", later)


def b64_json(data: dict[str, Any]) -> str:
    """A JWT segment: the JSON, base64url without padding."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forged_claims(settings: Settings, who: RegisteredUser, **changes: Any) -> dict[str, Any]:
    """The victim's real claims (user and live session), fresh dates, some changed (None
    removes one): sign them with `signed`."""
    real = jwt.get_unverified_claims(who.token)
    now = int(datetime.now(UTC).timestamp())
    values = {**real, "iat": now, "nbf": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def signed(settings: Settings, claims: dict[str, Any], **kwargs: Any) -> str:
    """The claims signed with the service's own key (or `key=`, `algorithm=`)."""
    key = kwargs.pop("key", settings.secret_key.get_secret_value())
    return jwt.encode(claims, key, algorithm=kwargs.pop("algorithm", "HS256"))
