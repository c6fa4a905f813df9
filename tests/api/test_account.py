"""The account's own life: deleting it (after a recent proof of the password) and exporting
everything the service holds about it. The counts a deletion moves: tests/adversarial/
test_integrity.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from src.core.config import Settings
from src.services import users
from tests.api.article_helpers import assert_error
from tests.api.security_helpers import make_admin, me, move_clock, refresh
from tests.factories import (
    RegisteredUser,
    comment,
    create_article,
    favorite,
    follow,
    log_in,
    register,
    sign_in,
)


async def delete_account(
    client: AsyncClient, who: RegisteredUser, current_password: str | None = None
) -> Response:
    body = None if current_password is None else {"user": {"currentPassword": current_password}}
    return await client.request("DELETE", "/api/user", json=body, headers=who.headers)


@pytest.fixture
def grow_old(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Every session's proof of the password becomes older than the re-authentication window."""
    return lambda: move_clock(monkeypatch, settings.reauth_window_seconds + 1)


# ------------------------------------------------------------------------------ deletion


async def test_a_fresh_session_deletes_its_account_and_every_session_ends_at_once(
    client: AsyncClient,
) -> None:
    jake = await register(client)
    other_device = await sign_in(client, jake)

    response = await delete_account(client, jake)

    assert response.status_code == 204, response.text
    assert response.content == b""
    for session in (jake, other_device):
        assert (await me(client, session.token)).status_code == 401
        assert (await refresh(client, session.refresh_token)).status_code == 401
    assert (await log_in(client, jake.email, jake.password)).status_code == 401
    assert (await client.get(f"/api/profiles/{jake.username}")).status_code == 404
    # The name and the email are free again.
    assert (await register(client, jake.username, jake.email)).username == jake.username


async def test_an_old_session_cannot_delete_the_account_without_the_password(
    client: AsyncClient, grow_old: Callable[[], None]
) -> None:
    jake = await register(client)
    grow_old()

    response = await delete_account(client, jake)

    assert_error(response, 403, "currentPassword", "is required to delete the account")
    assert (await me(client, jake.token)).status_code == 200


async def test_an_old_session_deletes_the_account_with_the_current_password(
    client: AsyncClient, grow_old: Callable[[], None]
) -> None:
    jake = await register(client)
    grow_old()

    response = await delete_account(client, jake, current_password=jake.password)

    assert response.status_code == 204, response.text
    assert (await me(client, jake.token)).status_code == 401


async def test_a_wrong_current_password_deletes_nothing(client: AsyncClient) -> None:
    jake = await register(client)

    response = await delete_account(client, jake, current_password="not-the-password")

    assert_error(response, 403, "currentPassword", "is invalid")
    assert (await me(client, jake.token)).status_code == 200


async def test_deleting_the_account_needs_a_token(client: AsyncClient) -> None:
    response = await client.delete("/api/user")

    assert_error(response, 401, "token", "is missing")


async def test_a_malformed_deletion_body_is_refused_in_the_envelope(client: AsyncClient) -> None:
    jake = await register(client)

    response = await client.request(
        "DELETE", "/api/user", json={"user": {"currentPassword": 7}}, headers=jake.headers
    )

    assert response.status_code == 422
    assert "currentPassword" in response.json()["errors"]
    assert (await me(client, jake.token)).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"\xff;", "application/json", 422),  # not UTF-8
        (b'{"user": {"currentPassword": "a\\u0000b"}}', "application/json", 422),  # NUL
        (b"[" * 100 + b"]" * 100, "application/json", 422),  # too deep
        (b"currentPassword=x", "application/x-www-form-urlencoded", 415),
    ],
)
async def test_a_deletion_body_passes_the_same_guard_as_every_other_body(
    client: AsyncClient, body: bytes, content_type: str, status: int
) -> None:
    jake = await register(client)

    response = await client.request(
        "DELETE",
        "/api/user",
        content=body,
        headers={**jake.headers, "Content-Type": content_type},
    )

    assert response.status_code == status, response.text
    assert set(response.json()) == {"errors"}
    assert (await me(client, jake.token)).status_code == 200


async def test_the_last_active_admin_cannot_delete_their_account(
    client: AsyncClient, app: FastAPI
) -> None:
    root = await register(client)
    await make_admin(app.state.engine, root.username)

    refused = await delete_account(client, root)

    assert_error(refused, 409, "user", "the last active administrator cannot be deleted")
    assert (await me(client, root.token)).status_code == 200
    deputy = await register(client)
    await make_admin(app.state.engine, deputy.username)
    assert (await delete_account(client, root)).status_code == 204


async def test_a_deletion_whose_password_changes_while_it_is_checked_is_refused(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proof holds only for the password it was checked against (as for an update)."""
    jake = await register(client)
    started, release = asyncio.Event(), asyncio.Event()
    prove = users.prove_password

    async def held(*args: Any, **kwargs: Any) -> bool:
        proven = await prove(*args, **kwargs)
        if kwargs.get("required") is not None:  # the deletion's proof, not the update's
            started.set()
            await release.wait()
        return proven

    monkeypatch.setattr(users, "prove_password", held)
    deletion = asyncio.create_task(delete_account(client, jake, current_password=jake.password))
    await started.wait()
    changed = await client.put(
        "/api/user", json={"user": {"password": "a-brand-new-password"}}, headers=jake.headers
    )
    assert changed.status_code == 200, changed.text
    release.set()

    assert_error(await deletion, 403, "currentPassword", "is invalid")
    assert (await me(client, jake.token)).status_code == 200


# ------------------------------------------------------------------------------ export


async def test_the_export_holds_everything_about_the_caller_and_no_secret(
    client: AsyncClient,
) -> None:
    jake, jane = await register(client), await register(client)
    own = await create_article(client, jake, tagList=["b", "a"])
    theirs = await create_article(client, jane)
    await comment(client, jake, theirs["slug"], body="Mine")
    await comment(client, jane, own["slug"], body="Not mine")
    await favorite(client, jake, theirs["slug"])
    await favorite(client, jane, own["slug"])
    await follow(client, jake, jane.username)
    await follow(client, jane, jake.username)
    await sign_in(client, jake)

    response = await client.get("/api/user/export", headers=jake.headers)

    assert response.status_code == 200, response.text
    account = response.json()["account"]
    assert account["profile"]["username"] == jake.username
    assert account["profile"]["email"] == jake.email
    [article] = account["articles"]
    assert (article["slug"], article["body"], article["tagList"]) == (
        own["slug"],
        own["body"],
        ["a", "b"],
    )
    assert article["favoritesCount"] == 1
    assert [(c["article"], c["body"]) for c in account["comments"]] == [(theirs["slug"], "Mine")]
    assert [f["article"] for f in account["favorites"]] == [theirs["slug"]]
    assert [f["username"] for f in account["following"]] == [jane.username]
    assert [f["username"] for f in account["followers"]] == [jane.username]
    assert [s["current"] for s in account["sessions"]] == [True, False]
    text = response.text
    for secret in (jake.token, jake.refresh_token, jake.password, "password_hash", "Hash"):
        assert secret not in text
    assert set(account["sessions"][0]) == {
        "current",
        "createdAt",
        "expiresAt",
        "revokedAt",
        "passwordVerifiedAt",
    }


async def test_the_export_needs_a_token(client: AsyncClient) -> None:
    assert_error(await client.get("/api/user/export"), 401, "token", "is missing")


async def test_both_account_operations_are_documented_with_their_security(
    openapi_document: dict[str, Any],
) -> None:
    deletion = openapi_document["paths"]["/api/user"]["delete"]
    export = openapi_document["paths"]["/api/user/export"]["get"]
    for operation in (deletion, export):
        assert operation["security"] == [{"Token": []}]
        assert "401" in operation["responses"]
    assert {"204", "403", "409", "422"} <= set(deletion["responses"])
    assert "200" in export["responses"]
