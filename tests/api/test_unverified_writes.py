"""UNVERIFIED_ACCOUNTS_CAN_WRITE=false: an account whose address is not verified may not write
content (articles, comments, favorites, follows), through either door (the hot writes and
FastAPI's routes) and with a token or an API key alike; it may still manage its account and
verify its address, after which it writes. The default (on) is in test_email_verification.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from src.core.config import Settings
from src.services import messages
from tests.api.security_helpers import me
from tests.apps import app_client
from tests.factories import (
    RegisteredUser,
    article_payload,
    auth,
    comment,
    create_article,
    favorite,
    follow,
    log_in,
    register,
)
from tests.smtp import Mailbox, deliver_mail, token_in

REFUSED = {"errors": {"email": [messages.EMAIL_UNVERIFIED]}}


@pytest.fixture(params=[True, False], ids=["hot-writes", "router-only"])
async def restricted(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[AsyncClient]:
    """The service with unverified accounts kept from writing, with the hot writes on and off."""
    update = {"unverified_accounts_can_write": False, "hot_writes_enabled": request.param}
    async with app_client(settings.model_copy(update=update)) as http:
        yield http


async def verify_address(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, who: RegisteredUser
) -> None:
    """Follow the verification link mailed to `who`, as its owner would."""
    await deliver_mail(app, mailbox)
    token = token_in(mailbox.to(who.email)[-1])
    response = await client.post("/api/users/verify-email", json={"user": {"token": token}})
    assert response.status_code == 204, response.text


def refused(response: Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == REFUSED


async def content_writes(
    client: AsyncClient, who: dict[str, str], slug: str, author: str
) -> list[Response]:
    """Every content write, once each, on someone else's article and profile."""
    return [
        await client.post("/api/articles", json=article_payload(), headers=who),
        await client.post(
            f"/api/articles/{slug}/comments", json={"comment": {"body": "hi"}}, headers=who
        ),
        await client.post(f"/api/articles/{slug}/favorite", headers=who),
        await client.delete(f"/api/articles/{slug}/favorite", headers=who),
        await client.post(f"/api/profiles/{author}/follow", headers=who),
        await client.delete(f"/api/profiles/{author}/follow", headers=who),
    ]


async def test_an_unverified_account_cannot_write_content_and_nothing_is_written(
    restricted: AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    author = await register(restricted)
    await verify_address(restricted, app, mailbox, author)
    slug = (await create_article(restricted, author))["slug"]
    jake = await register(restricted)

    for response in await content_writes(restricted, jake.headers, slug, author.username):
        refused(response)

    article = (await restricted.get(f"/api/articles/{slug}")).json()["article"]
    assert article["favoritesCount"] == 0
    assert (await restricted.get(f"/api/articles/{slug}/comments")).json()["comments"] == []
    listed = await restricted.get("/api/articles", params={"author": jake.username})
    assert listed.json()["articlesCount"] == 0
    profile = await restricted.get(f"/api/profiles/{author.username}", headers=jake.headers)
    assert profile.json()["profile"]["following"] is False


async def test_an_unverified_author_cannot_change_articles_written_before_the_restriction(
    client: AsyncClient, restricted: AsyncClient
) -> None:
    jake = await register(client)
    slug = (await create_article(client, jake))["slug"]
    own_comment = await comment(client, jake, slug)
    update = {"article": {"description": "changed"}}

    refused(await restricted.put(f"/api/articles/{slug}", json=update, headers=jake.headers))
    refused(
        await restricted.delete(
            f"/api/articles/{slug}/comments/{own_comment['id']}", headers=jake.headers
        )
    )
    refused(await restricted.delete(f"/api/articles/{slug}", headers=jake.headers))

    article = (await restricted.get(f"/api/articles/{slug}")).json()["article"]
    assert article["description"] != "changed"
    assert len((await restricted.get(f"/api/articles/{slug}/comments")).json()["comments"]) == 1


async def test_account_management_and_verification_stay_open_and_then_writes_work(
    restricted: AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    author = await register(restricted)
    await verify_address(restricted, app, mailbox, author)
    slug = (await create_article(restricted, author))["slug"]
    jake = await register(restricted)

    assert (await log_in(restricted, jake.email, jake.password)).status_code == 200
    assert (await me(restricted, jake.token)).status_code == 200
    bio = await restricted.put("/api/user", json={"user": {"bio": "hi"}}, headers=jake.headers)
    assert bio.status_code == 200, bio.text
    resent = await restricted.post("/api/user/verify-email", headers=jake.headers)
    assert resent.status_code == 202, resent.text
    await verify_address(restricted, app, mailbox, jake)

    await create_article(restricted, jake)
    await comment(restricted, jake, slug)
    await favorite(restricted, jake, slug)
    await follow(restricted, jake, author.username)


async def test_an_unverified_accounts_api_key_is_refused_alike(
    restricted: AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    author = await register(restricted)
    await verify_address(restricted, app, mailbox, author)
    slug = (await create_article(restricted, author))["slug"]
    jake = await register(restricted)
    body = {"key": {"name": "bot", "scopes": ["articles:write", "comments:write", "social:write"]}}
    created = await restricted.post("/api/user/keys", json=body, headers=jake.headers)
    assert created.status_code == 201, created.text
    key = auth(created.json()["key"]["secret"], "Bearer")

    for response in await content_writes(restricted, key, slug, author.username):
        refused(response)

    article = (await restricted.get(f"/api/articles/{slug}")).json()["article"]
    assert article["favoritesCount"] == 0


async def test_a_bad_token_is_still_401_before_the_address_is_looked_at(
    restricted: AsyncClient,
) -> None:
    response = await restricted.post(
        "/api/articles", json=article_payload(), headers=auth("not-a-jwt")
    )

    assert response.status_code == 401
    assert response.json() == {"errors": {"token": [messages.TOKEN_INVALID]}}
