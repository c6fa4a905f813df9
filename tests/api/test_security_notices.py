"""Security notices to the account's address (a password change, a new API key; the e-mail
change's is in test_email_verification.py), and how mail leaves: after the response, retried
when the server fails, to the log and a folder when no SMTP server is configured."""

from __future__ import annotations

import logging
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from src.core.config import Settings
from src.models import Job
from src.models.base import utc_now
from src.services.jobs import run_until_idle
from tests.factories import RegisteredUser, register
from tests.jobs import run_jobs_until_idle
from tests.smtp import Mailbox, deliver_mail, free_port, html_of, text_of


@pytest.fixture
async def jake(client: AsyncClient, app: FastAPI, mailbox: Mailbox) -> RegisteredUser:
    """A registered user whose verification message has gone out already."""
    user = await register(client)
    await deliver_mail(app, mailbox)
    mailbox.messages.clear()
    return user


async def change_password(client: AsyncClient, who: RegisteredUser) -> None:
    response = await client.put(
        "/api/user",
        json={"user": {"password": "a-whole-new-one", "currentPassword": who.password}},
        headers=who.headers,
    )
    assert response.status_code == 200, response.text


async def _jobs(app: FastAPI) -> list[Job]:
    async with app.state.sessionmaker() as session:
        return list(await session.scalars(select(Job).order_by(Job.id)))


def _outbox(folder: Path) -> list[EmailMessage]:
    return [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in folder.glob("*.eml")
    ]


async def test_a_password_change_is_told_to_the_accounts_address(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, jake: RegisteredUser
) -> None:
    await change_password(client, jake)
    await deliver_mail(app, mailbox)

    notice = mailbox.only(jake.email)
    assert notice["Subject"] == "Your Conduit password was changed"
    assert jake.username in text_of(notice)
    assert "token=" not in text_of(notice)
    assert "http://localhost:8000/password-reset" in html_of(notice)


async def test_a_new_api_key_is_told_to_the_accounts_address_its_name_escaped(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, jake: RegisteredUser
) -> None:
    created = await client.post(
        "/api/user/keys",
        json={"key": {"name": "<b>deploy</b> & co", "scopes": ["read"]}},
        headers=jake.headers,
    )
    assert created.status_code == 201, created.text
    await deliver_mail(app, mailbox)

    notice = mailbox.only(jake.email)
    assert notice["Subject"] == "A new API key was created for your Conduit account"
    assert '"<b>deploy</b> & co"' in text_of(notice)  # plain text: as typed
    assert "&lt;b&gt;deploy&lt;/b&gt; &amp; co" in html_of(notice)  # HTML: escaped
    assert "<b>deploy" not in html_of(notice)


async def test_a_failed_send_never_fails_the_request_and_is_retried_later(
    client: AsyncClient, app: FastAPI, mailbox: Mailbox, jake: RegisteredUser, settings: Settings
) -> None:
    await change_password(client, jake)  # answered before any send is tried
    nobody_listens = {"smtp_host": "127.0.0.1", "smtp_port": free_port(), "smtp_security": "none"}

    await run_jobs_until_idle(app, **nobody_listens)

    [waiting] = await _jobs(app)
    assert (waiting.name, waiting.state, waiting.attempts) == ("mail.send", "queued", 1)
    assert waiting.last_error
    assert mailbox.messages == []
    after_backoff = utc_now() + timedelta(seconds=settings.jobs_backoff_max_seconds)
    ran = await run_until_idle(
        app.state.sessionmaker,
        settings.model_copy(update=mailbox.settings),
        clock=lambda: after_backoff,
    )
    assert ran == 1
    assert mailbox.only(jake.email)["Subject"] == "Your Conduit password was changed"
    assert await _jobs(app) == []


async def test_without_smtp_a_message_goes_to_the_log_and_the_outbox_folder(
    client: AsyncClient, app: FastAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    jake = await register(client)

    with caplog.at_level(logging.INFO, logger="conduit.mail"):
        await run_jobs_until_idle(
            app,
            mail_outbox_dir=str(tmp_path),
            service_name="Acme Blog",
            public_url="https://blog.example.org/",
        )

    [message] = _outbox(tmp_path)
    assert message["To"] == jake.email
    assert message["Subject"] == "Confirm your e-mail address for Acme Blog"
    [line] = [r for r in caplog.records if r.name == "conduit.mail"]
    assert "https://blog.example.org/verify-email?token=" in line.getMessage()
