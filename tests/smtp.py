"""A real SMTP server on loopback (aiosmtpd) for the mail tests, and reading what it got."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI

from tests.jobs import run_jobs_until_idle

# Links carry the token as their one query parameter: `...?token=<base64url>`.
_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_-]+)")


@dataclass
class Mailbox:
    """What the server received, oldest first; `settings` points the service's SMTP at it."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, Any]:
        return {"smtp_host": self.host, "smtp_port": self.port, "smtp_security": "none"}

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def only(self, address: str) -> EmailMessage:
        """The one message `address` got (fails if none or several)."""
        [message] = self.to(address)
        return message


class _Collector:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.box.messages.append(parsed)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """An SMTP server on a free loopback port for the duration of the block."""
    box = Mailbox("127.0.0.1", free_port())
    controller = Controller(_Collector(box), hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def token_in(message: EmailMessage) -> str:
    """The token of the link in the message's text part."""
    found = _TOKEN.search(text_of(message))
    assert found is not None, text_of(message)
    return found[1]


async def deliver_mail(app: FastAPI, box: Mailbox) -> int:
    """Run the queued jobs with the service's SMTP pointed at `box`: the mail arrives there."""
    return await run_jobs_until_idle(app, **box.settings)
