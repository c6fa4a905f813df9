"""Delivery: SMTP (aiosmtplib; STARTTLS, TLS and credentials from settings), or, with no SMTP
server configured, the log and a folder, so a developer sees the links."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import aiosmtplib

from src.core.config import Settings
from src.services.mail.render import Rendered

logger = logging.getLogger("conduit.mail")


def build_message(settings: Settings, to: str, rendered: Rendered) -> EmailMessage:
    """A multipart/alternative message: the text part first, the HTML part preferred."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2].strip("> "))
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


async def deliver(settings: Settings, message: EmailMessage) -> None:
    """Send the message; any failure raises, so the job that sends it is retried."""
    if settings.smtp_host is None:
        await _to_outbox(settings, message)
        return
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=password,
        use_tls=settings.smtp_security == "tls",
        start_tls=settings.smtp_security == "starttls",
        # The certificate and its name are checked, against SMTP_CA_FILE or the system's CAs.
        validate_certs=True,
        cert_bundle=settings.smtp_ca_file,
        timeout=settings.smtp_timeout_seconds,
    )


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def _to_outbox(settings: Settings, message: EmailMessage) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = Path(settings.mail_outbox_dir) / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
    await asyncio.to_thread(_write, path, message.as_bytes())  # file I/O off the event loop
    text = message.get_body(("plain",))
    logger.info(
        "mail to %s (no SMTP_HOST; written to %s): %s\n%s",
        message["To"],
        path,
        message["Subject"],
        text.get_content() if isinstance(text, EmailMessage) else "",
        extra={"mail_to": str(message["To"]), "mail_file": str(path)},
    )
    return path
