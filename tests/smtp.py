"""A real SMTP server on loopback (aiosmtpd) for the mail tests, and reading what it got: in
plain text, behind STARTTLS or in TLS from the start, with a certificate made for the test by a
CA of its own, and optionally asking for credentials."""

from __future__ import annotations

import re
import socket
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from ipaddress import ip_address
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi import FastAPI
from pydantic import SecretStr

from tests.jobs import run_jobs_until_idle

Security = Literal["none", "starttls", "tls"]

# Links carry the token as their one query parameter: `...?token=<base64url>`.
_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_-]+)")


@dataclass
class Mailbox:
    """What the server received, oldest first; `settings` points the service's SMTP at it."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    security: Security = "none"
    # The PEM file of the CA that signed the server's certificate (with TLS).
    ca_file: str | None = None
    # What the server asks for (username, password), if anything.
    credentials: tuple[str, str] | None = None
    # Per message received: whether it came over TLS, and the login it was sent under.
    encrypted: list[bool] = field(default_factory=list)
    logins: list[str | None] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_security": self.security,
            "smtp_ca_file": self.ca_file,
        }
        if self.credentials is not None:
            values["smtp_username"] = self.credentials[0]
            values["smtp_password"] = SecretStr(self.credentials[1])
        return values

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def only(self, address: str) -> EmailMessage:
        """The one message `address` got (fails if none or several)."""
        [message] = self.to(address)
        return message


class _Collector:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.box.messages.append(parsed)
        transport = server.transport
        self.box.encrypted.append(
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        login = session.login_data
        self.box.logins.append(login.decode() if isinstance(login, bytes) else None)
        return "250 OK"


class _Authenticator:
    """Accepts exactly the box's credentials (aiosmtpd's `authenticator` hook)."""

    def __init__(self, credentials: tuple[str, str]) -> None:
        self.expected = LoginPassword(credentials[0].encode(), credentials[1].encode())

    def __call__(
        self, _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: Any
    ) -> AuthResult:
        return AuthResult(success=data == self.expected, auth_data=data)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


LOOPBACK_NAMES = ("localhost", "127.0.0.1")


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_certificates(
    folder: Path, names: Sequence[str] = LOOPBACK_NAMES
) -> tuple[Path, Path, Path]:
    """A CA of the test's own and a certificate it signed for `names` (host names or IPs):
    (the CA's certificate, the server's certificate, the server's key), as PEM files."""
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_id = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Conduit test CA"))
        .issuer_name(_name("Conduit test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ca_id, critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    alternative_names = x509.SubjectAlternativeName([_general_name(name) for name in names])
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(alternative_names, critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_id), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem(key))
    return paths


def _server_context(certificate: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return context


@contextmanager
def smtp_server(
    security: Security = "none",
    credentials: tuple[str, str] | None = None,
    certificate_names: Sequence[str] = LOOPBACK_NAMES,
) -> Iterator[Mailbox]:
    """An SMTP server on a free loopback port (127.0.0.1) for the duration of the block: plain
    text, or offering (and requiring) STARTTLS, or TLS from the first byte, its certificate
    naming `certificate_names`; asking for `credentials` (only over TLS) when given."""
    with tempfile.TemporaryDirectory(prefix="smtp-tls-") as folder:
        box = Mailbox("127.0.0.1", free_port(), security=security, credentials=credentials)
        options: dict[str, Any] = {}
        if security != "none":
            ca_file, certificate, key = make_certificates(Path(folder), certificate_names)
            box.ca_file = str(ca_file)
            context = _server_context(certificate, key)
            if security == "tls":
                options["ssl_context"] = context
            else:
                options.update(tls_context=context, require_starttls=True)
        if credentials is not None:
            # aiosmtpd knows TLS only by STARTTLS: with TLS from the start AUTH is offered
            # without it (and not required, which aiosmtpd would warn about); `logins` tells.
            starttls = security != "tls"
            options.update(
                authenticator=_Authenticator(credentials),
                auth_required=starttls,
                auth_require_tls=starttls,
            )
        controller = Controller(_Collector(box), hostname=box.host, port=box.port, **options)
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
