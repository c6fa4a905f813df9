"""E-mail verification: a new account is asked to confirm its address; `emailVerified` in the
user; an e-mail change verifies the new address (at once by default, or only once confirmed
when EMAIL_CHANGE_REQUIRES_CONFIRMATION is on) and tells the old one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from src.core.config import Settings
from src.main import create_app, release_resources
from tests.api.security_helpers import me
from tests.factories import RegisteredUser, create_article, log_in, register
from tests.jobs import run_jobs_until_idle
from tests.smtp import Mailbox, deliver_mail, html_of, text_of, token_in


async def verify(client: AsyncClient, token: str) -> Response:
    return await client.post("/api/users/verify-email", json={"user": {"token": token}})


async def change_email(client: AsyncClient, who: RegisteredUser, email: str) -> Response:
    return await client.put("/api/user", json={"user": {"email": email}}, headers=who.headers)


async def verified(client: AsyncClient, who: RegisteredUser) -> bool:
    response = await me(client, who.token)
    assert response.status_code == 200, response.text
    flag: bool = response.json()["user"]["emailVerified"]
    return flag


async def test_a_new_account_is_unverified_until_it_follows_the_link_mailed_to_it(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    response = await client.post(
        "/api/users",
        json={"user": {"username": "jake", "email": "jake@example.com", "password": "jakejake"}},
    )
    assert response.status_code == 201
    assert response.json()["user"]["emailVerified"] is False
    jake = RegisteredUser("jake", "jake@example.com", "jakejake", response.json()["user"]["token"])

    await deliver_mail(app, mailbox)
    message = mailbox.only("jake@example.com")
    token = token_in(message)
    assert message["Subject"] == "Confirm your e-mail address for Conduit"
    assert message["From"] == "Conduit <no-reply@localhost>"
    assert f"http://localhost:8000/verify-email?token={token}" in text_of(message)
    assert f'href="http://localhost:8000/verify-email?token={token}"' in html_of(message)
    assert not await verified(client, jake)

    confirmed = await verify(client, token)

    assert confirmed.status_code == 204, confirmed.text
    assert await verified(client, jake)
    login = await log_in(client, jake.email, jake.password)
    assert login.json()["user"]["emailVerified"] is True


@pytest.mark.parametrize(
    ("public_url", "page"),
    [
        ("https://blog.example.org/app/", "https://blog.example.org/app/verify-email"),
        ("https://blog.example.org/#", "https://blog.example.org/#/verify-email"),
    ],
)
async def test_links_lead_to_the_frontend_at_public_url_under_a_path_or_a_hash_router(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, public_url: str, page: str
) -> None:
    jake = await register(client)

    await run_jobs_until_idle(
        app, **mailbox.settings, public_url=public_url, service_name="Acme Blog"
    )

    message = mailbox.only(jake.email)
    token = token_in(message)
    assert message["Subject"] == "Confirm your e-mail address for Acme Blog"
    assert f"{page}?token={token}" in text_of(message)
    assert f'href="{page}?token={token}"' in html_of(message)
    assert (await verify(client, token)).status_code == 204


async def test_a_verification_token_works_only_once(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    jake = await register(client)
    await deliver_mail(app, mailbox)
    token = token_in(mailbox.only(jake.email))
    assert (await verify(client, token)).status_code == 204

    again = await verify(client, token)

    assert again.status_code == 422
    assert again.json() == {"errors": {"token": ["is invalid, expired or already used"]}}


async def test_an_unverified_account_works_as_realworld_clients_expect(
    client: AsyncClient,
) -> None:
    jake = await register(client)

    article = await create_article(client, jake)

    assert article["author"]["username"] == jake.username
    assert not await verified(client, jake)


async def test_changing_the_email_shows_it_at_once_verifies_the_new_and_tells_the_old(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    jake = await register(client)
    await deliver_mail(app, mailbox)
    old_token = token_in(mailbox.only(jake.email))
    assert (await verify(client, old_token)).status_code == 204
    mailbox.messages.clear()

    response = await change_email(client, jake, "jake.new@example.com")

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "jake.new@example.com"
    assert response.json()["user"]["emailVerified"] is False
    await deliver_mail(app, mailbox)
    notice = mailbox.only(jake.email)
    assert notice["Subject"] == "Your Conduit e-mail address was changed"
    assert "jake.new@example.com" in text_of(notice)
    assert "token=" not in text_of(notice)
    token = token_in(mailbox.only("jake.new@example.com"))
    assert (await verify(client, token)).status_code == 204
    assert await verified(client, jake)


async def test_a_verification_link_for_a_former_address_dies_with_the_change(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    jake = await register(client)
    await deliver_mail(app, mailbox)
    stale = token_in(mailbox.only(jake.email))
    assert (await change_email(client, jake, "jake.elsewhere@example.com")).status_code == 200

    response = await verify(client, stale)

    assert response.status_code == 422
    assert not await verified(client, jake)


async def test_a_new_verification_message_can_be_asked_for_until_verified(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    jake = await register(client)
    await deliver_mail(app, mailbox)
    mailbox.messages.clear()

    asked = await client.post("/api/user/verify-email", headers=jake.headers)

    assert asked.status_code == 202
    await deliver_mail(app, mailbox)
    assert (await verify(client, token_in(mailbox.only(jake.email)))).status_code == 204
    mailbox.messages.clear()
    assert (await client.post("/api/user/verify-email", headers=jake.headers)).status_code == 202
    await deliver_mail(app, mailbox)
    assert mailbox.messages == []  # verified already: nothing to send
    assert (await client.post("/api/user/verify-email")).status_code == 401


# ---------------------------------------------- EMAIL_CHANGE_REQUIRES_CONFIRMATION=true


@pytest.fixture
async def confirming(settings: Settings) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    """An app where a new address takes effect only once confirmed."""
    app = create_app(settings.model_copy(update={"email_change_requires_confirmation": True}))
    try:
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://conduit.test") as http:
            yield app, http
    finally:
        await release_resources(app)


async def test_with_confirmation_on_a_new_email_takes_effect_only_once_confirmed(
    confirming: tuple[FastAPI, AsyncClient], mailbox: Mailbox
) -> None:
    app, client = confirming
    jake = await register(client)
    await deliver_mail(app, mailbox)
    mailbox.messages.clear()

    response = await change_email(client, jake, "jake.new@example.com")

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == jake.email  # the old one, until confirmed
    assert (await me(client, jake.token)).json()["user"]["email"] == jake.email
    await deliver_mail(app, mailbox)
    request = mailbox.only("jake.new@example.com")
    assert request["Subject"] == "Confirm your new e-mail address for Conduit"
    assert mailbox.to(jake.email) == []
    mailbox.messages.clear()

    assert (await verify(client, token_in(request))).status_code == 204

    user = (await me(client, jake.token)).json()["user"]
    assert (user["email"], user["emailVerified"]) == ("jake.new@example.com", True)
    assert (await log_in(client, "jake.new@example.com", jake.password)).status_code == 200
    await deliver_mail(app, mailbox)
    assert mailbox.only(jake.email)["Subject"] == "Your Conduit e-mail address was changed"


async def test_with_confirmation_on_an_address_taken_meanwhile_is_refused(
    confirming: tuple[FastAPI, AsyncClient], mailbox: Mailbox
) -> None:
    app, client = confirming
    jake = await register(client)
    assert (await change_email(client, jake, "wanted@example.com")).status_code == 200
    await deliver_mail(app, mailbox)
    token = token_in(mailbox.only("wanted@example.com"))
    await register(client, email="wanted@example.com")

    response = await verify(client, token)

    assert response.status_code == 422
    assert response.json() == {"errors": {"email": ["has already been taken"]}}
    assert (await me(client, jake.token)).json()["user"]["email"] == jake.email


async def test_with_confirmation_on_a_second_change_kills_the_first_link(
    confirming: tuple[FastAPI, AsyncClient], mailbox: Mailbox
) -> None:
    app, client = confirming
    jake = await register(client)
    assert (await change_email(client, jake, "first@example.com")).status_code == 200
    assert (await change_email(client, jake, "second@example.com")).status_code == 200
    await deliver_mail(app, mailbox)
    second = token_in(mailbox.only("second@example.com"))
    assert (await verify(client, second)).status_code == 204

    first = await verify(client, token_in(mailbox.only("first@example.com")))

    assert first.status_code == 422
    user: dict[str, Any] = (await me(client, jake.token)).json()["user"]
    assert user["email"] == "second@example.com"
