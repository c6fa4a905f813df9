"""How mail reaches a real SMTP server over TLS (SMTP_SECURITY=starttls or tls): the server's
certificate is verified (against SMTP_CA_FILE here, a CA made for the test), credentials go
only over TLS, and a server whose certificate is not trusted gets nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select

from src.models import Job
from tests.factories import register
from tests.jobs import run_jobs_until_idle
from tests.smtp import Mailbox, Security, deliver_mail, make_certificates, smtp_server, token_in

CREDENTIALS = ("conduit", "relay-password")


@pytest.fixture(params=["starttls", "tls"])
def tls_mailbox(request: pytest.FixtureRequest) -> Iterator[Mailbox]:
    security: Security = request.param
    with smtp_server(security) as box:
        yield box


async def test_mail_goes_over_tls_to_a_server_whose_certificate_is_trusted(
    client: AsyncClient, app: FastAPI, tls_mailbox: Mailbox
) -> None:
    jake = await register(client)

    await deliver_mail(app, tls_mailbox)

    message = tls_mailbox.only(jake.email)
    assert token_in(message)
    assert tls_mailbox.encrypted == [True]


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_credentials_are_sent_over_tls_and_accepted(
    client: AsyncClient, app: FastAPI, security: Security
) -> None:
    jake = await register(client)

    with smtp_server(security, credentials=CREDENTIALS) as box:
        await deliver_mail(app, box)

    assert box.only(jake.email)["To"] == jake.email
    assert (box.encrypted, box.logins) == ([True], ["conduit"])


async def test_wrong_credentials_deliver_nothing_and_the_message_waits_for_a_retry(
    client: AsyncClient, app: FastAPI
) -> None:
    await register(client)

    with smtp_server("starttls", credentials=CREDENTIALS) as box:
        await run_jobs_until_idle(app, **{**box.settings, "smtp_username": "intruder"})

    assert box.messages == []
    assert await _waiting_mail(app) == 1


async def test_a_server_whose_certificate_is_not_trusted_gets_nothing(
    client: AsyncClient,
    app: FastAPI,
    tls_mailbox: Mailbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    await register(client)
    other_ca, _, _ = make_certificates(tmp_path_factory.mktemp("other-ca"))

    # Once against the system's CAs, once against a CA that did not sign the server's certificate.
    await run_jobs_until_idle(app, **{**tls_mailbox.settings, "smtp_ca_file": None})
    await run_jobs_until_idle(app, **{**tls_mailbox.settings, "smtp_ca_file": str(other_ca)})

    assert tls_mailbox.messages == []
    assert await _waiting_mail(app) == 1


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_a_trusted_certificate_for_another_name_is_refused(
    client: AsyncClient, app: FastAPI, security: Security
) -> None:
    await register(client)

    # Signed by the trusted CA, but for another host than SMTP_HOST (127.0.0.1).
    with smtp_server(security, certificate_names=["mail.example.com"]) as box:
        await run_jobs_until_idle(app, **box.settings)

    assert box.messages == []
    assert await _waiting_mail(app) == 1


async def _waiting_mail(app: FastAPI) -> int:
    """Mail jobs put back for a retry after a failed attempt."""
    async with app.state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(Job.name == "mail.send", Job.attempts >= 1)
        )
    return int(count or 0)
