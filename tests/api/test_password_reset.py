"""Password reset by e-mail: the same answer for any address, a single-use link that expires,
a new password that ends every session, limits per address and per IP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from src.core.config import Settings
from src.main import create_app, release_resources
from src.models.base import utc_now
from src.services import account_tokens
from tests.api.article_helpers import count_statements
from tests.api.security_helpers import me, refresh
from tests.factories import RegisteredUser, log_in, register
from tests.smtp import Mailbox, deliver_mail, text_of, token_in

NEW_PASSWORD = "a-brand-new-password"


async def request_reset(client: AsyncClient, email: str) -> Response:
    return await client.post("/api/users/password-reset", json={"user": {"email": email}})


async def confirm_reset(client: AsyncClient, token: str, password: str = NEW_PASSWORD) -> Response:
    return await client.post(
        "/api/users/password-reset/confirm",
        json={"user": {"token": token, "password": password}},
    )


async def reset_token(client: AsyncClient, app: FastAPI, mailbox: Mailbox, email: str) -> str:
    """Ask for a reset and read the token from the message that arrives."""
    mailbox.messages.clear()
    assert (await request_reset(client, email)).status_code == 202
    await deliver_mail(app, mailbox)
    return token_in(mailbox.only(email))


@pytest.fixture
async def jake(client: AsyncClient, app: FastAPI, mailbox: Mailbox) -> RegisteredUser:
    """A registered user whose verification message has gone out already."""
    user = await register(client)
    await deliver_mail(app, mailbox)
    mailbox.messages.clear()
    return user


async def test_a_reset_link_sets_the_password_and_ends_every_session(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, jake: RegisteredUser
) -> None:
    token = await reset_token(client, app, mailbox, jake.email)
    message = mailbox.only(jake.email)
    assert "Reset your Conduit password" in message["Subject"]
    assert f"http://localhost:8000/password-reset?token={token}" in text_of(message)

    response = await confirm_reset(client, token)

    assert response.status_code == 204, response.text
    assert (await log_in(client, jake.email, NEW_PASSWORD)).status_code == 200
    assert (await log_in(client, jake.email, jake.password)).status_code == 401
    assert (await me(client, jake.token)).status_code == 401
    assert (await refresh(client, jake.refresh_token)).status_code == 401


async def test_a_reset_token_works_only_once(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, jake: RegisteredUser
) -> None:
    token = await reset_token(client, app, mailbox, jake.email)
    assert (await confirm_reset(client, token)).status_code == 204

    again = await confirm_reset(client, token, "yet-another-password")

    assert again.status_code == 422
    assert again.json() == {"errors": {"token": ["is invalid, expired or already used"]}}
    assert (await log_in(client, jake.email, NEW_PASSWORD)).status_code == 200


async def test_two_confirmations_of_one_token_at_once_set_one_password(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, jake: RegisteredUser
) -> None:
    token = await reset_token(client, app, mailbox, jake.email)

    first, second = await asyncio.gather(
        confirm_reset(client, token, "password-number-one"),
        confirm_reset(client, token, "password-number-two"),
    )

    assert sorted([first.status_code, second.status_code]) == [204, 422]
    winner = "password-number-one" if first.status_code == 204 else "password-number-two"
    assert (await log_in(client, jake.email, winner)).status_code == 200


async def test_an_unknown_address_gets_the_same_answer_after_the_same_work(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, jake: RegisteredUser
) -> None:
    """No enumeration: the same status, headers and body, and the same statements (the
    address is looked up after the response, by the job)."""
    with count_statements(app) as known_statements:
        known = await request_reset(client, jake.email)
    with count_statements(app) as unknown_statements:
        unknown = await request_reset(client, "nobody-here@example.com")

    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content == b""
    ignored = {"x-request-id", "date"}
    assert {k: v for k, v in known.headers.items() if k not in ignored} == {
        k: v for k, v in unknown.headers.items() if k not in ignored
    }
    assert len(known_statements) == len(unknown_statements)
    await deliver_mail(app, mailbox)
    assert [m["To"] for m in mailbox.messages] == [jake.email]


async def test_the_address_is_matched_however_it_is_spelled(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, jake: RegisteredUser
) -> None:
    assert (await request_reset(client, f"  {jake.email.upper()} ")).status_code == 202
    await deliver_mail(app, mailbox)
    assert len(mailbox.to(jake.email)) == 1


async def test_a_reset_link_dies_when_the_password_changes_first(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, jake: RegisteredUser
) -> None:
    token = await reset_token(client, app, mailbox, jake.email)
    changed = await client.put(
        "/api/user",
        json={"user": {"password": "changed-another-way", "currentPassword": jake.password}},
        headers=jake.headers,
    )
    assert changed.status_code == 200, changed.text

    response = await confirm_reset(client, token)

    assert response.status_code == 422
    assert (await log_in(client, jake.email, "changed-another-way")).status_code == 200


async def test_a_reset_link_expires_after_its_time(
    client: AsyncClient,
    app: FastAPI,
    mailbox: Mailbox,
    jake: RegisteredUser,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = await reset_token(client, app, mailbox, jake.email)
    later = utc_now() + timedelta(seconds=settings.password_reset_ttl_seconds + 1)
    monkeypatch.setattr(account_tokens, "utc_now", lambda: later)

    response = await confirm_reset(client, token)

    assert response.status_code == 422
    assert (await log_in(client, jake.email, jake.password)).status_code == 200


async def test_a_reset_token_does_not_verify_an_address_nor_the_reverse(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    jake = await register(client)
    await deliver_mail(app, mailbox)
    verification = token_in(mailbox.only(jake.email))
    reset = await reset_token(client, app, mailbox, jake.email)

    assert (await confirm_reset(client, verification)).status_code == 422
    used_to_verify = await client.post("/api/users/verify-email", json={"user": {"token": reset}})
    assert used_to_verify.status_code == 422
    # Neither was spent by the refusal.
    assert (await confirm_reset(client, reset)).status_code == 204


async def test_following_a_reset_link_verifies_the_address(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, jake: RegisteredUser
) -> None:
    token = await reset_token(client, app, mailbox, jake.email)
    assert (await confirm_reset(client, token)).status_code == 204

    login = await log_in(client, jake.email, NEW_PASSWORD)

    assert login.json()["user"]["emailVerified"] is True


@pytest.mark.parametrize(
    "token",
    ["", "   ", "x" * 129, "not a token!", "é" * 10, "a" * 43],
    ids=["empty", "blank", "too-long", "not-base64url", "non-ascii", "unknown"],
)
async def test_a_malformed_or_unknown_token_is_a_422_in_the_envelope(
    client: AsyncClient, token: str
) -> None:
    response = await confirm_reset(client, token)

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"token"}


async def test_the_new_password_follows_the_registration_rules(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, jake: RegisteredUser
) -> None:
    token = await reset_token(client, app, mailbox, jake.email)

    response = await confirm_reset(client, token, "short")

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"password"}
    assert (await confirm_reset(client, token)).status_code == 204  # not spent


@pytest.fixture
async def limited_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(
        settings.model_copy(
            update={
                "rate_limit_enabled": True,
                "rate_limit_window_seconds": 3600,
                "rate_limit_password_reset_per_account": 2,
                "rate_limit_password_reset_per_ip": 4,
            }
        )
    )
    transport = ASGITransport(app=app, client=("203.0.113.9", 4321))
    try:
        async with AsyncClient(transport=transport, base_url="http://conduit.test") as http:
            yield http
    finally:
        await app.state.rate_limiter.close()
        await release_resources(app)


async def test_reset_requests_are_limited_per_address_and_per_ip(
    limited_client: AsyncClient,
) -> None:
    statuses = [
        (await request_reset(limited_client, "someone@example.com")).status_code for _ in range(3)
    ]
    assert statuses == [202, 202, 429]
    # Another address from the same IP: its own count, until the IP's quota is spent.
    assert (await request_reset(limited_client, "other@example.com")).status_code == 202
    limited = await request_reset(limited_client, "third@example.com")
    assert limited.status_code == 429
    assert "retry-after" in limited.headers
