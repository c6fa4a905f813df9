"""Build test data through the public API, the way a client would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from httpx import AsyncClient, Response

_counter = itertools.count(1)
DEFAULT_PASSWORD = "correct-horse-battery"


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


@dataclass
class RegisteredUser:
    """A signed-up user and one of their sessions (its access and refresh token)."""

    username: str
    email: str
    password: str
    token: str
    refresh_token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.token)


def auth(token: str, scheme: str = "Token") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


async def register(
    client: AsyncClient,
    username: str | None = None,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
) -> RegisteredUser:
    """Sign up through the API: the one way tests make a user."""
    username = username or unique("user")
    email = email or f"{username}@example.com"
    response = await client.post(
        "/api/users", json={"user": {"username": username, "email": email, "password": password}}
    )
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    return RegisteredUser(username, email.lower(), password, user["token"], user["refreshToken"])


async def log_in(client: AsyncClient, email: str, password: str) -> Response:
    return await client.post(
        "/api/users/login", json={"user": {"email": email, "password": password}}
    )


async def sign_in(client: AsyncClient, who: RegisteredUser) -> RegisteredUser:
    """A second session of the same user (another device)."""
    response = await log_in(client, who.email, who.password)
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    return RegisteredUser(
        who.username, who.email, who.password, user["token"], user["refreshToken"]
    )


def article_payload(**fields: Any) -> dict[str, Any]:
    article = {
        "title": unique("How to train your dragon "),
        "description": "Ever wonder how?",
        "body": "You have to believe",
        "tagList": ["dragons", "training"],
    }
    article.update(fields)
    return {"article": article}


async def create_article(
    client: AsyncClient, author: RegisteredUser, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/articles", json=article_payload(**fields), headers=author.headers
    )
    assert response.status_code == 201, response.text
    article: dict[str, Any] = response.json()["article"]
    return article


async def follow(client: AsyncClient, follower: RegisteredUser, username: str) -> Response:
    response = await client.post(f"/api/profiles/{username}/follow", headers=follower.headers)
    assert response.status_code == 200, response.text
    return response


async def favorite(client: AsyncClient, user: RegisteredUser, slug: str) -> Response:
    response = await client.post(f"/api/articles/{slug}/favorite", headers=user.headers)
    assert response.status_code == 200, response.text
    return response


async def comment(
    client: AsyncClient, user: RegisteredUser, slug: str, body: str = "Nice!"
) -> dict[str, Any]:
    response = await client.post(
        f"/api/articles/{slug}/comments", json={"comment": {"body": body}}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["comment"]
    return created
