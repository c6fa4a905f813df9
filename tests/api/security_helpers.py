"""Helpers for the security tests: sessions with their refresh tokens, admins."""

from __future__ import annotations

from dataclasses import dataclass

from httpx import AsyncClient, Response
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from src.models import User
from tests.factories import DEFAULT_PASSWORD, auth, unique


@dataclass
class Session:
    username: str
    email: str
    password: str
    token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.token)


async def sign_up(client: AsyncClient, password: str = DEFAULT_PASSWORD) -> Session:
    username = unique("sess")
    email = f"{username}@example.com"
    response = await client.post(
        "/api/users", json={"user": {"username": username, "email": email, "password": password}}
    )
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    return Session(username, email, password, user["token"], user["refreshToken"])


async def log_in(client: AsyncClient, email: str, password: str) -> Response:
    return await client.post(
        "/api/users/login", json={"user": {"email": email, "password": password}}
    )


async def sign_in(client: AsyncClient, who: Session) -> Session:
    response = await log_in(client, who.email, who.password)
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    return Session(who.username, who.email, who.password, user["token"], user["refreshToken"])


async def refresh(client: AsyncClient, refresh_token: str) -> Response:
    return await client.post("/api/users/refresh", json={"user": {"refreshToken": refresh_token}})


async def me(client: AsyncClient, token: str) -> Response:
    return await client.get("/api/user", headers=auth(token))


async def make_admin(engine: AsyncEngine, username: str) -> None:
    """Promote directly in the database (what `conduit create-admin` does; tested in CLI tests)."""
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.username == username).values(role="admin"))
