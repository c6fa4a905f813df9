"""Credentials: changing the email or password needs a recent proof of the password, and a
login whose password check races a password change or a deactivation gets no session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import func, select

from src.core.config import Settings
from src.core.security import PasswordHasher
from src.models import AuthSession
from tests.api.security_helpers import make_admin, me, move_clock, refresh
from tests.factories import RegisteredUser, log_in, register, sign_in

NEW_PASSWORD = "a-brand-new-password"
REQUIRED = {"errors": {"currentPassword": ["is required to change the email or password"]}}
INVALID = {"errors": {"currentPassword": ["is invalid"]}}


async def _change(client: AsyncClient, who: RegisteredUser | str, **fields: str) -> Response:
    token = who if isinstance(who, str) else who.token
    return await client.put(
        "/api/user", json={"user": fields}, headers={"Authorization": f"Token {token}"}
    )


def _new_credential(who: RegisteredUser, field: str) -> dict[str, str]:
    return {"email": f"new.{who.email}"} if field == "email" else {"password": NEW_PASSWORD}


@pytest.fixture
def grow_old(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Moves the clock: every session's proof of the password becomes older than the
    re-authentication window."""
    return lambda: move_clock(monkeypatch, settings.reauth_window_seconds + 1)


# ------------------------------------------------------------------ recent proof of the password


@pytest.mark.parametrize("opened_by", ["registration", "login"])
async def test_a_session_just_opened_with_the_password_changes_it_directly(
    client: AsyncClient, opened_by: str
) -> None:
    """The official suite changes the password right after registering: that keeps working."""
    jake = await register(client)
    caller = jake if opened_by == "registration" else await sign_in(client, jake)

    response = await _change(client, caller, password=NEW_PASSWORD)

    assert response.status_code == 200, response.text
    assert (await log_in(client, jake.email, NEW_PASSWORD)).status_code == 200


@pytest.mark.parametrize("field", ["email", "password"])
async def test_an_old_session_cannot_change_the_email_or_password_without_the_current_one(
    client: AsyncClient, grow_old: Callable[[], None], field: str
) -> None:
    """A stolen access token alone must not take the account over."""
    jake = await register(client)
    grow_old()

    response = await _change(client, jake, **_new_credential(jake, field))

    assert response.status_code == 403, response.text
    assert response.json() == REQUIRED
    assert (await log_in(client, jake.email, jake.password)).status_code == 200  # unchanged


@pytest.mark.parametrize("field", ["email", "password"])
async def test_a_wrong_current_password_is_refused(
    client: AsyncClient, grow_old: Callable[[], None], field: str
) -> None:
    jake = await register(client)
    grow_old()

    response = await _change(
        client, jake, currentPassword="not-the-password", **_new_credential(jake, field)
    )

    assert response.status_code == 403, response.text
    assert response.json() == INVALID
    assert (await log_in(client, jake.email, jake.password)).status_code == 200  # unchanged


async def test_a_wrong_current_password_is_refused_even_from_a_fresh_session(
    client: AsyncClient,
) -> None:
    jake = await register(client)

    response = await _change(client, jake, password=NEW_PASSWORD, currentPassword="nope-nope")

    assert response.status_code == 403, response.text
    assert response.json() == INVALID


@pytest.mark.parametrize("field", ["email", "password"])
async def test_an_old_session_changes_the_email_or_password_with_the_current_one(
    client: AsyncClient, grow_old: Callable[[], None], field: str
) -> None:
    jake = await register(client)
    phone = await sign_in(client, jake)
    grow_old()

    response = await _change(
        client, jake, currentPassword=jake.password, **_new_credential(jake, field)
    )

    assert response.status_code == 200, response.text
    if field == "email":
        assert response.json()["user"]["email"] == f"new.{jake.email}"
        assert (await log_in(client, f"new.{jake.email}", jake.password)).status_code == 200
    else:
        assert (await log_in(client, jake.email, NEW_PASSWORD)).status_code == 200
        assert (await me(client, phone.token)).status_code == 401  # other sessions ended
    assert (await me(client, jake.token)).status_code == 200


async def test_a_current_password_sent_counts_as_a_fresh_proof(
    client: AsyncClient, grow_old: Callable[[], None]
) -> None:
    jake = await register(client)
    grow_old()
    proven = await _change(client, jake, email=f"new.{jake.email}", currentPassword=jake.password)
    assert proven.status_code == 200, proven.text

    response = await _change(client, jake, password=NEW_PASSWORD)  # within the window again

    assert response.status_code == 200, response.text


async def test_refreshing_a_session_does_not_renew_its_proof_of_the_password(
    client: AsyncClient, grow_old: Callable[[], None]
) -> None:
    """The proof dates from the login, however often the session is refreshed since."""
    jake = await register(client)
    grow_old()
    refreshed = await refresh(client, jake.refresh_token)
    assert refreshed.status_code == 200, refreshed.text

    response = await _change(client, refreshed.json()["user"]["token"], password=NEW_PASSWORD)

    assert response.status_code == 403, response.text
    assert response.json() == REQUIRED


async def test_other_profile_changes_need_no_proof_of_the_password(
    client: AsyncClient, grow_old: Callable[[], None]
) -> None:
    jake = await register(client)
    grow_old()

    response = await _change(client, jake, username=f"re{jake.username}", bio="hi", image="")

    assert response.status_code == 200, response.text
    assert response.json()["user"]["bio"] == "hi"


async def test_sending_the_email_unchanged_needs_no_proof_of_the_password(
    client: AsyncClient, grow_old: Callable[[], None]
) -> None:
    """Clients that send the whole form back (the spec's web apps do) keep working."""
    jake = await register(client)
    grow_old()

    response = await _change(client, jake, email=jake.email, bio="same email")

    assert response.status_code == 200, response.text


async def test_the_update_documents_its_refusal_for_a_missing_current_password(
    openapi_document: dict[str, Any],
) -> None:
    operation = openapi_document["paths"]["/api/user"]["put"]

    assert "403" in operation["responses"]
    schema = openapi_document["components"]["schemas"]["UserUpdate"]
    assert "currentPassword" in schema["properties"]


# ------------------------------------------------------------------ logins racing a change


@pytest.fixture
async def held_check(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """Starts a request whose password check (a login's, or a `currentPassword`'s) waits until
    released; the requests after it check theirs freely. Yields the starter."""
    checking, release = asyncio.Event(), asyncio.Event()
    verify = PasswordHasher.verify_and_update

    async def held(self: PasswordHasher, password: str, stored: str | None) -> Any:
        result = await verify(self, password, stored)
        checking.set()
        await release.wait()
        return result

    monkeypatch.setattr(PasswordHasher, "verify_and_update", held)

    async def start(request: Awaitable[Response]) -> tuple[asyncio.Task[Response], asyncio.Event]:
        task = asyncio.create_task(request)
        await asyncio.wait_for(checking.wait(), timeout=10)
        monkeypatch.setattr(PasswordHasher, "verify_and_update", verify)  # others run freely
        return task, release

    yield start
    release.set()  # a failed test must not leave the login parked


async def _sessions_of(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(AuthSession)) or 0)


async def test_a_login_checking_the_old_password_while_it_changes_gets_no_session(
    client: AsyncClient, app: FastAPI, held_check: Any
) -> None:
    jake = await register(client)
    login, release = await held_check(log_in(client, jake.email, jake.password))

    changed = await _change(client, jake, password=NEW_PASSWORD)
    assert changed.status_code == 200, changed.text
    release.set()
    response = await asyncio.wait_for(login, timeout=10)

    assert response.status_code == 401, response.text
    assert response.json() == {"errors": {"credentials": ["invalid"]}}
    assert await _sessions_of(app) == 1  # only the one that changed the password


async def _set_active(
    client: AsyncClient, boss: RegisteredUser, who: RegisteredUser, *, active: bool
) -> None:
    action = "reactivate" if active else "deactivate"
    response = await client.post(f"/api/admin/users/{who.username}/{action}", headers=boss.headers)
    assert response.status_code == 200, response.text


async def test_a_login_checking_the_password_while_the_account_is_deactivated_gets_no_session(
    client: AsyncClient, app: FastAPI, held_check: Any
) -> None:
    boss, jake = await register(client), await register(client)
    await make_admin(app.state.engine, boss.username)
    login, release = await held_check(log_in(client, jake.email, jake.password))

    await _set_active(client, boss, jake, active=False)
    release.set()
    response = await asyncio.wait_for(login, timeout=10)
    await _set_active(client, boss, jake, active=True)

    assert response.status_code == 401, response.text
    # Reactivation revives nothing: neither the session from before the deactivation nor one
    # from during it; a new login works.
    assert (await me(client, jake.token)).status_code == 401
    assert (await refresh(client, jake.refresh_token)).status_code == 401
    assert await _sessions_of(app) == 2  # boss's, and jake's ended one
    assert (await log_in(client, jake.email, jake.password)).status_code == 200


# ------------------------------------------------------------ updates racing a change


async def test_an_update_whose_session_ends_while_its_current_password_is_checked_is_refused(
    client: AsyncClient, grow_old: Callable[[], None], held_check: Any
) -> None:
    jake = await register(client)
    grow_old()
    change = _change(client, jake, email=f"new.{jake.email}", currentPassword=jake.password)
    update, release = await held_check(change)

    assert (await client.post("/api/users/logout", headers=jake.headers)).status_code == 204
    release.set()
    response = await asyncio.wait_for(update, timeout=10)

    assert response.status_code == 401, response.text
    assert (await log_in(client, f"new.{jake.email}", jake.password)).status_code == 401


async def test_an_update_proven_by_a_password_changed_meanwhile_is_refused(
    client: AsyncClient, grow_old: Callable[[], None], held_check: Any
) -> None:
    """The proof holds for the password it was checked against, not for the next one."""
    jake = await register(client)
    grow_old()
    change = _change(client, jake, email=f"new.{jake.email}", currentPassword=jake.password)
    update, release = await held_check(change)

    meanwhile = await _change(client, jake, password=NEW_PASSWORD, currentPassword=jake.password)
    assert meanwhile.status_code == 200, meanwhile.text
    release.set()
    response = await asyncio.wait_for(update, timeout=10)

    assert response.status_code == 403, response.text
    assert response.json() == INVALID
    assert (await me(client, jake.token)).status_code == 200
    assert (await log_in(client, jake.email, NEW_PASSWORD)).status_code == 200
