"""Sessions: refresh tokens (rotated, single use, theft detection), logout, password change,
deactivated and deleted users."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from jose import jwt
from sqlalchemy import delete, func, select, update

from src.core.config import Settings
from src.core.security import PasswordHasher
from src.main import create_app, release_resources
from src.models import AuthSession, RefreshToken, User
from src.models.base import utc_now
from tests.api.security_helpers import me, move_clock, refresh
from tests.factories import log_in, register, sign_in


async def test_registration_and_login_return_a_refresh_token(client: AsyncClient) -> None:
    jake = await register(client)
    again = await sign_in(client, jake)

    assert jake.refresh_token and again.refresh_token
    assert jake.refresh_token != again.refresh_token
    assert (await me(client, again.token)).status_code == 200


async def test_a_login_stores_its_session_and_refresh_token_together(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    jake = await register(client)

    again = await sign_in(client, jake)

    session_id = jwt.get_unverified_claims(again.token)["sid"]
    digest = hashlib.sha256(again.refresh_token.encode()).hexdigest()
    async with app.state.sessionmaker() as session:
        stored = await session.get(AuthSession, session_id)
        token = await session.get(RefreshToken, digest)
    assert stored is not None and token is not None
    assert token.session_id == session_id
    assert token.used_at is None and stored.revoked_at is None
    assert stored.created_at == token.created_at
    lifetime = stored.expires_at - stored.created_at
    assert lifetime.total_seconds() == settings.refresh_token_ttl_seconds
    assert (await refresh(client, again.refresh_token)).status_code == 200


async def test_an_account_deleted_while_its_password_is_checked_gets_no_session(
    client: AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    jake = await register(client)
    verify = PasswordHasher.verify_and_update

    async def verify_while_deleted(
        self: PasswordHasher, password: str, password_hash: str | None
    ) -> tuple[bool, str | None]:
        async with app.state.sessionmaker() as session:  # an admin deletes the account now
            await session.execute(delete(User).where(User.username == jake.username))
            await session.commit()
        return await verify(self, password, password_hash)

    monkeypatch.setattr(PasswordHasher, "verify_and_update", verify_while_deleted)
    response = await log_in(client, jake.email, jake.password)

    assert response.status_code == 401, response.text
    assert response.json() == {"errors": {"credentials": ["invalid"]}}
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AuthSession)) == 0
        assert await session.scalar(select(func.count()).select_from(RefreshToken)) == 0


@pytest.mark.parametrize(
    "action", ["login", "registration", "password change", "current password check"]
)
async def test_no_connection_is_held_while_a_password_is_hashed(
    client: AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """A burst of logins waiting for the hashing threads must leave the connections to the
    other requests: here every pool has one connection, and reads and a write run while a
    login (or a registration, a password change, a check of `currentPassword`) is hashing."""
    jake = await register(client)
    narrow = settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_read_pool_size": 1}
    )
    worker = create_app(narrow)
    hashing, finish = asyncio.Event(), asyncio.Event()
    verifies = action in ("login", "current password check")
    method = "verify_and_update" if verifies else "hash"
    real = getattr(PasswordHasher, method)

    async def slow(self: PasswordHasher, *args: Any) -> Any:
        hashing.set()
        await finish.wait()
        return await real(self, *args)

    monkeypatch.setattr(PasswordHasher, method, slow)
    try:
        async with AsyncClient(
            transport=ASGITransport(app=worker), base_url="http://conduit.test"
        ) as worker_client:
            if action == "login":
                pending = log_in(worker_client, jake.email, jake.password)
            elif action == "registration":
                name = f"new{jake.username}"
                body = {"user": {"username": name, "email": f"{name}@x.io", "password": "pw" * 6}}
                pending = worker_client.post("/api/users", json=body)
            else:
                change = (
                    {"password": "a-brand-new-password"}
                    if action == "password change"
                    else {"email": f"new.{jake.email}", "currentPassword": jake.password}
                )
                pending = worker_client.put(
                    "/api/user", json={"user": change}, headers=jake.headers
                )
            hashed = asyncio.create_task(pending)
            await asyncio.wait_for(hashing.wait(), timeout=10)
            read = await asyncio.wait_for(worker_client.get("/api/articles"), timeout=10)
            me_too = worker_client.get("/api/user", headers=jake.headers)
            profile = await asyncio.wait_for(me_too, timeout=10)
            bio = {"user": {"bio": "written meanwhile"}}
            edit = worker_client.put("/api/user", json=bio, headers=jake.headers)
            written = await asyncio.wait_for(edit, timeout=10)
            finish.set()
            response = await asyncio.wait_for(hashed, timeout=10)
    finally:
        finish.set()  # a failed wait must not leave the login parked
        await release_resources(worker)

    assert read.status_code == 200, read.text
    assert profile.status_code == 200, profile.text
    assert written.status_code == 200, written.text
    assert response.status_code == (201 if action == "registration" else 200), response.text


async def test_access_tokens_carry_every_registered_claim(
    client: AsyncClient, settings: Settings
) -> None:
    jake = await register(client)

    claims = jwt.get_unverified_claims(jake.token)

    assert {"sub", "iss", "aud", "iat", "exp", "jti", "sid"} <= set(claims)
    assert claims["iss"] == settings.jwt_issuer
    assert claims["aud"] == settings.jwt_audience
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_seconds


async def test_a_refresh_token_is_traded_for_a_new_working_pair(client: AsyncClient) -> None:
    jake = await register(client)

    response = await refresh(client, jake.refresh_token)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    user = response.json()["user"]
    assert user["username"] == jake.username
    assert user["refreshToken"] != jake.refresh_token
    assert user["token"] != jake.token
    assert (await me(client, user["token"])).status_code == 200
    # The rotated token works once more, and so on down the chain.
    assert (await refresh(client, user["refreshToken"])).status_code == 200


async def test_refresh_tokens_are_stored_only_as_hashes(client: AsyncClient, app: FastAPI) -> None:
    jake = await register(client)

    async with app.state.sessionmaker() as session:
        stored = list(await session.scalars(select(RefreshToken.token_hash)))

    assert jake.refresh_token not in stored
    assert hashlib.sha256(jake.refresh_token.encode()).hexdigest() in stored


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(
    client: AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    jake = await register(client)
    rotated = (await refresh(client, jake.refresh_token)).json()["user"]
    move_clock(monkeypatch, settings.refresh_reuse_grace_seconds + 1)

    replay = await refresh(client, jake.refresh_token)  # the thief (or the victim) replays

    assert replay.status_code == 401
    assert replay.json() == {
        "errors": {"refreshToken": ["refresh token is invalid, expired or already used"]}
    }
    # Everything in that session is dead: the newest refresh token and every access token.
    assert (await refresh(client, rotated["refreshToken"])).status_code == 401
    assert (await me(client, rotated["token"])).status_code == 401
    assert (await me(client, jake.token)).status_code == 401


async def test_theft_detection_leaves_other_sessions_alone(
    client: AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    jake = await register(client)
    laptop = await sign_in(client, jake)
    await refresh(client, jake.refresh_token)
    move_clock(monkeypatch, settings.refresh_reuse_grace_seconds + 1)

    assert (await refresh(client, jake.refresh_token)).status_code == 401

    assert (await me(client, laptop.token)).status_code == 200
    assert (await refresh(client, laptop.refresh_token)).status_code == 200


async def test_a_refresh_repeated_within_the_grace_window_gets_the_same_new_pair(
    client: AsyncClient,
) -> None:
    """A client retrying after a lost reply (or tapping twice) is not taken for a thief."""
    jake = await register(client)
    first = (await refresh(client, jake.refresh_token)).json()["user"]

    again = await refresh(client, jake.refresh_token)

    assert again.status_code == 200, again.text
    repeat = again.json()["user"]
    assert repeat["refreshToken"] == first["refreshToken"]
    first_sid = jwt.get_unverified_claims(first["token"])["sid"]
    assert jwt.get_unverified_claims(repeat["token"])["sid"] == first_sid
    assert (await me(client, first["token"])).status_code == 200
    assert (await me(client, repeat["token"])).status_code == 200
    # The successor is single use like any refresh token, and the chain goes on from it.
    following = await refresh(client, repeat["refreshToken"])
    assert following.status_code == 200, following.text
    assert (await me(client, following.json()["user"]["token"])).status_code == 200


async def test_a_refresh_repeated_after_its_successor_was_used_ends_the_session(
    client: AsyncClient,
) -> None:
    jake = await register(client)
    first = (await refresh(client, jake.refresh_token)).json()["user"]
    second = (await refresh(client, first["refreshToken"])).json()["user"]

    replay = await refresh(client, jake.refresh_token)  # within the window, but not a retry

    assert replay.status_code == 401
    assert (await me(client, second["token"])).status_code == 401
    assert (await refresh(client, second["refreshToken"])).status_code == 401


async def test_a_refresh_repeated_after_the_grace_window_ends_the_session(
    client: AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    jake = await register(client)
    first = (await refresh(client, jake.refresh_token)).json()["user"]
    move_clock(monkeypatch, settings.refresh_reuse_grace_seconds + 1)

    assert (await refresh(client, jake.refresh_token)).status_code == 401

    assert (await me(client, first["token"])).status_code == 401
    assert (await refresh(client, first["refreshToken"])).status_code == 401


async def test_rotated_refresh_tokens_are_stored_only_as_hashes(
    client: AsyncClient, app: FastAPI
) -> None:
    jake = await register(client)
    rotated = (await refresh(client, jake.refresh_token)).json()["user"]["refreshToken"]

    async with app.state.sessionmaker() as session:
        stored = set(await session.scalars(select(RefreshToken.token_hash)))

    assert rotated not in stored
    assert hashlib.sha256(rotated.encode()).hexdigest() in stored


async def test_an_unknown_refresh_token_is_unauthorized(client: AsyncClient) -> None:
    response = await refresh(client, "not-a-token-we-issued")

    assert response.status_code == 401
    assert list(response.json()["errors"]) == ["refreshToken"]


async def test_an_access_token_is_not_a_refresh_token(client: AsyncClient) -> None:
    jake = await register(client)

    assert (await refresh(client, jake.token)).status_code == 401


async def test_a_refresh_request_without_a_token_is_invalid(client: AsyncClient) -> None:
    response = await client.post("/api/users/refresh", json={"user": {}})

    assert response.status_code == 422
    assert "refreshToken" in response.json()["errors"]


async def test_logout_ends_the_access_token_and_its_refresh_family(client: AsyncClient) -> None:
    jake = await register(client)

    response = await client.post("/api/users/logout", headers=jake.headers)

    assert response.status_code == 204
    assert response.content == b""
    assert (await me(client, jake.token)).status_code == 401
    assert (await refresh(client, jake.refresh_token)).status_code == 401
    assert (await client.post("/api/users/logout", headers=jake.headers)).status_code == 401


async def test_logout_is_seen_by_every_worker(client: AsyncClient, settings: Settings) -> None:
    # A second app instance (another worker) over the same database.
    other = create_app(settings)
    jake = await register(client)
    async with AsyncClient(
        transport=ASGITransport(app=other), base_url="http://conduit.test"
    ) as worker2:
        assert (await me(worker2, jake.token)).status_code == 200
        await client.post("/api/users/logout", headers=jake.headers)
        assert (await me(worker2, jake.token)).status_code == 401
    await release_resources(other)


async def test_logout_leaves_the_users_other_sessions_alone(client: AsyncClient) -> None:
    jake = await register(client)
    phone = await sign_in(client, jake)

    await client.post("/api/users/logout", headers=jake.headers)

    assert (await me(client, phone.token)).status_code == 200


async def test_logout_needs_a_token(client: AsyncClient) -> None:
    assert (await client.post("/api/users/logout")).status_code == 401


async def test_changing_the_password_ends_every_other_session(client: AsyncClient) -> None:
    jake = await register(client)
    phone = await sign_in(client, jake)

    response = await client.put(
        "/api/user", json={"user": {"password": "a-brand-new-password"}}, headers=jake.headers
    )

    assert response.status_code == 200, response.text
    assert (await me(client, jake.token)).status_code == 200  # the session that changed it
    assert (await refresh(client, jake.refresh_token)).status_code == 200
    assert (await me(client, phone.token)).status_code == 401
    assert (await refresh(client, phone.refresh_token)).status_code == 401
    assert (await log_in(client, jake.email, jake.password)).status_code == 401
    assert (await log_in(client, jake.email, "a-brand-new-password")).status_code == 200


async def test_other_profile_changes_keep_every_session(client: AsyncClient) -> None:
    jake = await register(client)
    phone = await sign_in(client, jake)

    await client.put("/api/user", json={"user": {"bio": "hi"}}, headers=jake.headers)

    assert (await me(client, phone.token)).status_code == 200


async def test_a_deleted_users_tokens_are_unauthorized(client: AsyncClient, app: FastAPI) -> None:
    jake = await register(client)
    async with app.state.sessionmaker() as session:
        await session.execute(delete(User).where(User.username == jake.username))
        await session.commit()

    assert (await me(client, jake.token)).status_code == 401
    assert (await refresh(client, jake.refresh_token)).status_code == 401


async def test_an_expired_session_cannot_be_refreshed(client: AsyncClient, app: FastAPI) -> None:
    jake = await register(client)
    async with app.state.sessionmaker() as session:  # the clock moves past the session's end
        await session.execute(update(AuthSession).values(expires_at=utc_now()))
        await session.commit()

    assert (await refresh(client, jake.refresh_token)).status_code == 401
    assert (await me(client, jake.token)).status_code == 401
