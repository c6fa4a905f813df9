"""Idempotency-Key with an API key: its keyed writes replay as a token's do, within the key's
owner's keys; a revoked key replays nothing; a key never gets another credential's answer."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from src.core.config import Settings
from src.models import Article, IdempotencyKey
from src.services import messages
from tests.api.article_helpers import count_rows
from tests.api.test_api_keys import bearer, new_key, unauthorized
from tests.api.test_idempotency import KEY, REPLAYED, assert_replay_of
from tests.apps import app_client
from tests.factories import RegisteredUser, article_payload, register


async def key_headers(client: AsyncClient, owner: RegisteredUser, key: str) -> dict[str, str]:
    created = await new_key(client, owner, "read", "articles:write")
    return {**bearer(created["secret"]), KEY: key}


@pytest.mark.parametrize("hot_writes", [True, False])
async def test_a_write_made_with_an_api_key_is_replayed_and_runs_once(
    settings: Settings, hot_writes: bool
) -> None:
    async with app_client(settings.model_copy(update={"hot_writes_enabled": hot_writes})) as http:
        owner = await register(http)
        headers = await key_headers(http, owner, "key-create-1")
        payload = article_payload(title="Sent by a script")

        first = await http.post("/api/articles", json=payload, headers=headers)
        again = await http.post("/api/articles", json=payload, headers=headers)

        assert first.status_code == 201, first.text
        assert_replay_of(first, again)
        listed = await http.get("/api/articles", params={"author": owner.username})
        assert listed.json()["articlesCount"] == 1


async def test_an_api_key_reusing_its_key_with_another_body_is_422(
    client: AsyncClient, app: FastAPI
) -> None:
    owner = await register(client)
    headers = await key_headers(client, owner, "key-body-1")
    await client.post("/api/articles", json=article_payload(title="One"), headers=headers)

    other = await client.post("/api/articles", json=article_payload(title="Two"), headers=headers)

    assert other.status_code == 422
    assert other.json() == {"errors": {KEY: [messages.IDEMPOTENCY_KEY_REUSED]}}
    assert await count_rows(app, Article) == 1


async def test_a_revoked_api_key_cannot_replay(client: AsyncClient) -> None:
    owner = await register(client)
    created = await new_key(client, owner, "articles:write")
    headers = {**bearer(created["secret"]), KEY: "key-revoked-1"}
    payload = article_payload(title="Before revocation")
    assert (await client.post("/api/articles", json=payload, headers=headers)).status_code == 201
    revoked = await client.delete(f"/api/user/keys/{created['id']}", headers=owner.headers)
    assert revoked.status_code == 204

    again = await client.post("/api/articles", json=payload, headers=headers)

    unauthorized(again)
    assert REPLAYED not in again.headers


async def test_a_token_and_a_key_share_the_users_keys_but_never_each_others_answers(
    client: AsyncClient, app: FastAPI
) -> None:
    owner = await register(client)
    first_key = bearer((await new_key(client, owner, "articles:write"))["secret"])
    second_key = bearer((await new_key(client, owner, "articles:write"))["secret"])
    by_token = article_payload(title="By token")
    by_script = article_payload(title="By script")

    token_first = await client.post(
        "/api/articles", json=by_token, headers=keyed(owner.headers, "a")
    )
    key_again = await client.post("/api/articles", json=by_token, headers=keyed(first_key, "a"))
    key_first = await client.post("/api/articles", json=by_script, headers=keyed(first_key, "b"))
    other_key = await client.post("/api/articles", json=by_script, headers=keyed(second_key, "b"))

    assert (token_first.status_code, key_first.status_code) == (201, 201)
    for refused in (key_again, other_key):
        assert refused.status_code == 422
        assert refused.json() == {"errors": {KEY: [messages.IDEMPOTENCY_KEY_REUSED]}}
    assert await count_rows(app, Article) == 2


def keyed(credential: dict[str, str], key: str) -> dict[str, str]:
    return {**credential, KEY: key}


async def test_creating_a_key_ignores_the_idempotency_key_so_no_secret_is_stored(
    client: AsyncClient, app: FastAPI
) -> None:
    owner = await register(client)
    body = {"key": {"name": "twice", "scopes": ["read"]}}
    headers = keyed(owner.headers, "key-secret-1")

    first = await client.post("/api/user/keys", json=body, headers=headers)
    second = await client.post("/api/user/keys", json=body, headers=headers)

    assert first.status_code == second.status_code == 201
    assert REPLAYED not in second.headers
    assert first.json()["key"]["secret"] != second.json()["key"]["secret"]
    assert await count_rows(app, IdempotencyKey) == 0
