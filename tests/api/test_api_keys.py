"""API keys through HTTP: created once and listed without their secret, used for reads on both
doors and for the writes their scopes allow, refused (403 naming the scope) for the rest and
for account changes, stopped at once by a revocation, an expiry or a deactivation, malformed
ones refused before any lookup, and rate-limited on their own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import select

from src.core import api_key_tokens
from src.core.config import Settings
from src.models import Job
from src.models.base import utc_now
from src.services import api_keys, messages
from tests.api.article_helpers import count_statements
from tests.api.security_helpers import make_admin
from tests.apps import app_client
from tests.factories import (
    RegisteredUser,
    article_payload,
    auth,
    create_article,
    follow,
    register,
)

SCOPE_MISSING = "this API key lacks the {scope} scope"


def bearer(secret: str) -> dict[str, str]:
    return auth(secret, "Bearer")


async def new_key(
    client: AsyncClient, owner: RegisteredUser, *scopes: str, **fields: Any
) -> dict[str, Any]:
    body = {"key": {"name": fields.pop("name", "script"), "scopes": list(scopes), **fields}}
    response = await client.post("/api/user/keys", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    key: dict[str, Any] = response.json()["key"]
    return key


def refused_scope(response: Response, scope: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == {"errors": {"scope": [SCOPE_MISSING.format(scope=scope)]}}


def unauthorized(response: Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"errors": {"token": [messages.TOKEN_INVALID]}}


async def test_created_key_is_shown_once_and_listed_without_its_secret(
    client: AsyncClient, app: Any
) -> None:
    owner = await register(client)
    key = await new_key(client, owner, "articles:write", "read", expiresInDays=30)

    secret = key["secret"]
    assert secret.startswith("cdt_")
    assert len(secret) == api_key_tokens.LENGTH
    assert api_key_tokens.key_id_of(secret) == key["id"]
    assert key["prefix"] == f"cdt_{key['id']}" and secret.startswith(key["prefix"])
    assert key["scopes"] == ["read", "articles:write"]  # canonical order
    assert key["lastUsedAt"] is None and key["expiresAt"] is not None

    listed = await client.get("/api/user/keys", headers=owner.headers)
    assert listed.status_code == 200
    [entry] = listed.json()["keys"]
    assert "secret" not in entry
    assert secret not in listed.text
    assert {k: v for k, v in key.items() if k != "secret"} == entry
    # Nobody else sees it.
    other = await register(client)
    assert (await client.get("/api/user/keys", headers=other.headers)).json() == {"keys": []}
    # The owner is told, by a mail job enqueued with the key.
    async with app.state.sessionmaker() as session:
        jobs = (await session.scalars(select(Job).where(Job.name == "mail.send"))).all()
    assert any(job.payload.get("template") == "api_key_created" for job in jobs)


async def test_unknown_or_missing_scopes_are_422(client: AsyncClient) -> None:
    owner = await register(client)
    for scopes in (["admin"], [], ["read", "users:write"]):
        body = {"key": {"name": "x", "scopes": scopes}}
        response = await client.post("/api/user/keys", json=body, headers=owner.headers)
        assert response.status_code == 422, response.text
        assert "scopes" in response.json()["errors"]
    body = {"key": {"name": "   ", "scopes": ["read"]}}
    response = await client.post("/api/user/keys", json=body, headers=owner.headers)
    assert response.status_code == 422


async def test_an_expiry_that_is_not_a_whole_number_of_days_in_range_is_422(
    client: AsyncClient,
) -> None:
    owner = await register(client)
    for days in ("30", True, 1.5, 0, 367, [], {}):
        body = {"key": {"name": "x", "scopes": ["read"], "expiresInDays": days}}
        response = await client.post("/api/user/keys", json=body, headers=owner.headers)
        assert response.status_code == 422, (days, response.text)
        assert "expiresInDays" in response.json()["errors"], response.text
    key = await new_key(client, owner, "read", expiresInDays=2.0)  # an integer to JSON Schema
    assert key["expiresAt"] is not None


async def _reads(client: AsyncClient, headers: dict[str, str], slug: str, name: str) -> None:
    for path in (
        "/api/articles",
        "/api/articles?author=" + name,
        "/api/articles/feed",
        f"/api/articles/{slug}",
        f"/api/articles/{slug}/comments",
        f"/api/profiles/{name}",
        "/api/tags",
        "/api/user",
    ):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)


@pytest.mark.parametrize("hot_reads", [True, False])
async def test_a_read_key_does_every_get_and_no_write(settings: Settings, hot_reads: bool) -> None:
    async with app_client(settings.model_copy(update={"hot_reads_enabled": hot_reads})) as http:
        owner = await register(http)
        author = await register(http)
        slug = (await create_article(http, author))["slug"]
        await follow(http, owner, author.username)
        secret = (await new_key(http, owner, "read"))["secret"]
        key = bearer(secret)

        await _reads(http, key, slug, author.username)
        feed = (await http.get("/api/articles/feed", headers=key)).json()
        assert [a["slug"] for a in feed["articles"]] in ([slug], [])  # fan-out may be queued
        profile = (await http.get(f"/api/profiles/{author.username}", headers=key)).json()
        assert profile["profile"]["following"] is True  # read as the key's owner
        assert (await http.get("/api/user", headers=key)).json()["user"]["username"] == (
            owner.username
        )

        refused_scope(
            await http.post("/api/articles", json=article_payload(), headers=key),
            "articles:write",
        )
        refused_scope(
            await http.post(
                f"/api/articles/{slug}/comments", json={"comment": {"body": "x"}}, headers=key
            ),
            "comments:write",
        )
        refused_scope(
            await http.post(f"/api/articles/{slug}/favorite", headers=key), "social:write"
        )
        refused_scope(
            await http.delete(f"/api/profiles/{author.username}/follow", headers=key),
            "social:write",
        )


async def test_a_key_without_read_cannot_read(client: AsyncClient) -> None:
    owner = await register(client)
    key = bearer((await new_key(client, owner, "social:write"))["secret"])
    refused_scope(await client.get("/api/articles", headers=key), "read")
    refused_scope(await client.get("/api/user", headers=key), "read")


async def test_write_scopes_allow_their_own_writes(client: AsyncClient) -> None:
    owner = await register(client)
    author = await register(client)
    other_slug = (await create_article(client, author))["slug"]
    key = bearer(
        (await new_key(client, owner, "articles:write", "comments:write", "social:write"))["secret"]
    )

    created = await client.post("/api/articles", json=article_payload(), headers=key)
    assert created.status_code == 201, created.text
    article = created.json()["article"]
    assert article["author"]["username"] == owner.username
    slug = article["slug"]
    updated = await client.put(
        f"/api/articles/{slug}", json={"article": {"description": "new"}}, headers=key
    )
    assert updated.status_code == 200, updated.text

    comment = await client.post(
        f"/api/articles/{other_slug}/comments", json={"comment": {"body": "hi"}}, headers=key
    )
    assert comment.status_code in (200, 201), comment.text
    comment_id = comment.json()["comment"]["id"]
    deleted = await client.delete(f"/api/articles/{other_slug}/comments/{comment_id}", headers=key)
    assert deleted.status_code in (200, 204), deleted.text

    favorited = await client.post(f"/api/articles/{other_slug}/favorite", headers=key)
    assert favorited.status_code == 200 and favorited.json()["article"]["favorited"] is True
    followed = await client.post(f"/api/profiles/{author.username}/follow", headers=key)
    assert followed.status_code == 200 and followed.json()["profile"]["following"] is True

    assert (await client.delete(f"/api/articles/{slug}", headers=key)).status_code == 204


async def test_account_changes_and_key_management_take_no_key(client: AsyncClient) -> None:
    owner = await register(client)
    every_scope = ["read", "articles:write", "comments:write", "social:write", "webhooks:write"]
    key = bearer((await new_key(client, owner, *every_scope))["secret"])
    refusals = [
        await client.put("/api/user", json={"user": {"bio": "x"}}, headers=key),
        await client.put("/api/user", json={"user": {"password": "new-password-1"}}, headers=key),
        await client.request("DELETE", "/api/user", json={"user": {}}, headers=key),
        await client.get("/api/user/export", headers=key),
        await client.post("/api/users/logout", headers=key),
        await client.get("/api/user/keys", headers=key),
        await client.post(
            "/api/user/keys", json={"key": {"name": "n", "scopes": ["read"]}}, headers=key
        ),
        await client.delete("/api/user/keys/whatever", headers=key),
    ]
    for response in refusals:
        assert response.status_code == 403, response.text
        assert response.json() == {"errors": {"token": [messages.API_KEY_NOT_ACCEPTED]}}
    assert (await client.get("/api/user", headers=owner.headers)).json()["user"]["bio"] is None


@pytest.mark.parametrize("hot_reads", [True, False])
async def test_a_revoked_key_is_refused_at_once(settings: Settings, hot_reads: bool) -> None:
    async with app_client(settings.model_copy(update={"hot_reads_enabled": hot_reads})) as http:
        owner = await register(http)
        created = await new_key(http, owner, "read", "social:write")
        key = bearer(created["secret"])
        assert (await http.get("/api/articles", headers=key)).status_code == 200

        revoked = await http.delete(f"/api/user/keys/{created['id']}", headers=owner.headers)
        assert revoked.status_code == 204

        unauthorized(await http.get("/api/articles", headers=key))
        unauthorized(await http.get("/api/user", headers=key))
        unauthorized(await http.post(f"/api/profiles/{owner.username}/follow", headers=key))
        assert (await http.get("/api/user/keys", headers=owner.headers)).json() == {"keys": []}
        again = await http.delete(f"/api/user/keys/{created['id']}", headers=owner.headers)
        assert again.status_code == 404


async def test_someone_elses_key_cannot_be_revoked(client: AsyncClient) -> None:
    owner, other = await register(client), await register(client)
    created = await new_key(client, owner, "read")
    response = await client.delete(f"/api/user/keys/{created['id']}", headers=other.headers)
    assert response.status_code == 404
    assert (await client.get("/api/tags", headers=bearer(created["secret"]))).status_code == 200


async def test_an_expired_key_is_refused(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await register(client)
    key = bearer((await new_key(client, owner, "read", expiresInDays=1))["secret"])
    assert (await client.get("/api/articles", headers=key)).status_code == 200

    monkeypatch.setattr(api_keys, "utc_now", lambda: utc_now() + timedelta(days=1, seconds=1))
    unauthorized(await client.get("/api/articles", headers=key))
    unauthorized(await client.get("/api/user", headers=key))


async def test_a_deactivated_users_keys_stop_at_once(client: AsyncClient, app: Any) -> None:
    admin, owner = await register(client), await register(client)
    await make_admin(app.state.engine, admin.username)
    key = bearer((await new_key(client, owner, "read", "articles:write"))["secret"])
    assert (await client.get("/api/articles/feed", headers=key)).status_code == 200

    deactivated = await client.post(
        f"/api/admin/users/{owner.username}/deactivate", headers=admin.headers
    )
    assert deactivated.status_code == 200
    unauthorized(await client.get("/api/articles/feed", headers=key))
    unauthorized(await client.post("/api/articles", json=article_payload(), headers=key))


async def test_an_admin_lists_and_revokes_a_users_keys(client: AsyncClient, app: Any) -> None:
    admin, owner = await register(client), await register(client)
    await make_admin(app.state.engine, admin.username)
    created = await new_key(client, owner, "read")
    path = f"/api/admin/users/{owner.username.upper()}/keys"

    forbidden = await client.get(path, headers=owner.headers)
    assert forbidden.status_code == 403
    listed = await client.get(path, headers=admin.headers)
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()["keys"]] == [created["id"]]
    assert created["secret"] not in listed.text

    revoked = await client.delete(f"{path}/{created['id']}", headers=admin.headers)
    assert revoked.status_code == 204
    unauthorized(await client.get("/api/tags", headers=bearer(created["secret"])))
    missing = await client.get("/api/admin/users/nobody-here/keys", headers=admin.headers)
    assert missing.status_code == 404


def _malformed(secret: str) -> list[str]:
    body = secret[: -api_key_tokens.CHECKSUM_LENGTH]
    flipped = "A" if secret[-1] != "A" else "B"
    return [
        secret[:-1] + flipped,  # checksum does not match
        secret + "0",  # one character too long
        secret[:-1],  # one too short
        "cdt_" + "a" * 100_000,  # far too long: refused by its length alone
        body[:20] + "-" + body[21:] + secret[-6:],  # outside the alphabet
        "cdt_",
        "cdt_" + "é" * (api_key_tokens.LENGTH - 4),
    ]


@pytest.mark.parametrize("hot_reads", [True, False])
async def test_malformed_keys_are_401_before_any_lookup(
    settings: Settings, hot_reads: bool
) -> None:
    async with app_client(settings.model_copy(update={"hot_reads_enabled": hot_reads})) as http:
        owner = await register(http)
        secret = (await new_key(http, owner, "read", "articles:write"))["secret"]
        app = http._transport.app  # type: ignore[attr-defined]
        for bad in _malformed(secret):
            headers = {b"Authorization": f"Bearer {bad}".encode("latin-1")}
            with count_statements(app) as statements:
                unauthorized(await http.get("/api/articles", headers=headers))
                unauthorized(
                    await http.post("/api/articles", json=article_payload(), headers=headers)
                )
            assert not any("api_keys" in statement for statement in statements), bad


async def test_last_use_is_recorded_at_most_once_a_minute(
    client: AsyncClient, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await register(client)
    created = await new_key(client, owner, "read", "social:write")
    key = bearer(created["secret"])

    async def last_used() -> str | None:
        [entry] = (await client.get("/api/user/keys", headers=owner.headers)).json()["keys"]
        value: str | None = entry["lastUsedAt"]
        return value

    assert (await client.get("/api/articles", headers=key)).status_code == 200
    first = await last_used()
    assert first is not None
    with count_statements(app) as statements:
        assert (await client.get("/api/articles", headers=key)).status_code == 200
        follow = await client.post(f"/api/profiles/{owner.username}/follow", headers=key)
    assert follow.status_code == 422  # following yourself: the key worked, the rule refused
    assert not any(s.lstrip().upper().startswith("UPDATE API_KEYS") for s in statements)
    assert await last_used() == first

    monkeypatch.setattr(api_keys, "utc_now", lambda: utc_now() + timedelta(minutes=2))
    assert (await client.get("/api/tags", headers=key)).status_code == 200
    assert (await last_used()) != first


async def test_keys_count_against_their_own_rate_limit(settings: Settings) -> None:
    limits = {
        "rate_limit_enabled": True,
        "rate_limit_window_seconds": 3600,
        "rate_limit_per_api_key": 3,
        "rate_limit_writes_per_user": 1000,
        "rate_limit_register_per_ip": 1000,
        "rate_limit_login_per_account": 1000,
    }
    async with app_client(settings.model_copy(update=limits)) as http:
        owner = await register(http)
        key = bearer((await new_key(http, owner, "read"))["secret"])
        other_key = bearer((await new_key(http, owner, "read"))["secret"])
        for _ in range(3):
            ok = await http.get("/api/articles", headers=key)
            assert ok.status_code == 200
            assert '"api-key";q=3' in ok.headers["RateLimit-Policy"]
        limited = await http.get("/api/user", headers=key)
        assert limited.status_code == 429
        assert "Retry-After" in limited.headers
        # The owner's token and their other key each count on their own.
        assert (await http.get("/api/articles", headers=owner.headers)).status_code == 200
        assert (await http.get("/api/articles", headers=other_key)).status_code == 200
