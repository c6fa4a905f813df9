"""One HTTP attempt to an endpoint, safe against server-side request forgery.

The host is resolved here, every address it resolves to is checked, and the connection goes
to the checked address (the URL's host kept as `Host` and as TLS SNI, so the certificate is
still verified for it): no second lookup can rebind between check and connect. Redirects are
not followed unless WEBHOOKS_MAX_REDIRECTS allows, each target checked the same way.
Connecting, the whole exchange and the bytes read are bounded. Why: docs/webhooks.md, "Safety".
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import cache
from urllib.parse import urljoin

import httpx

from src.core.config import Settings
from src.models.base import utc_now
from src.services import messages

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
EXCERPT_CHARS = 1024


class TargetRefused(Exception):
    """The URL or the address it leads to is not one we send to; `message` says why."""

    def __init__(self, message: str, address: IPAddress | None = None) -> None:
        super().__init__(message if address is None else f"{message} ({address})")
        self.message = message


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    retry_after_seconds: float | None
    excerpt: str | None
    duration_ms: int
    retryable: bool

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


# Tests replace it to make a name resolve where they need (no real DNS in tests).
resolver: Resolver = system_resolver


def check_url(url: str, settings: Settings) -> httpx.URL:
    """The URL parsed, if its form is one we send to (scheme, host, no literal bad address)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise TargetRefused(messages.WEBHOOK_URL_INVALID) from exc
    allowed = ("https", "http") if settings.webhooks_allow_http else ("https",)
    if parsed.scheme not in allowed:
        raise TargetRefused(messages.WEBHOOK_URL_NOT_HTTPS)
    if not parsed.host:
        raise TargetRefused(messages.WEBHOOK_URL_NO_HOST)
    literal = _literal_address(parsed.host)
    if literal is not None:
        check_address(literal, settings)
    return parsed


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_address(address: IPAddress, settings: Settings) -> None:
    """Refuse loopback, private, link-local (cloud metadata) and other non-public addresses,
    unless in WEBHOOKS_ALLOWED_NETWORKS; never multicast or unspecified ones."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_multicast or address.is_unspecified:
        raise TargetRefused(messages.WEBHOOK_URL_NOT_PUBLIC, address)
    if not address.is_global and not any(address in net for net in _allowed(settings)):
        raise TargetRefused(messages.WEBHOOK_URL_NOT_PUBLIC, address)


def _allowed(settings: Settings) -> list[IPNetwork]:
    return [ipaddress.ip_network(text, strict=False) for text in settings.webhooks_allowed_networks]


async def _checked_address(url: httpx.URL, settings: Settings) -> str:
    """The first address of the URL's host, after every one it resolves to passed the check."""
    host = url.host
    literal = _literal_address(host)
    if literal is not None:
        check_address(literal, settings)
        return str(literal)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        found = await resolver(host, port)
    except OSError as exc:
        raise ConnectionError(f"cannot resolve {host}") from exc
    if not found:
        raise ConnectionError(f"cannot resolve {host}")
    addresses = [ipaddress.ip_address(text.split("%", 1)[0]) for text in found]
    for address in addresses:
        check_address(address, settings)
    return str(addresses[0])


@cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if it has one."""
    if not value or len(value) > 64:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - utc_now()).total_seconds(), 0.0)


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_raw():
        body.extend(chunk[: limit - len(body)])
        if len(body) >= limit:
            break
    return bytes(body)


async def _send_once(
    client: httpx.AsyncClient,
    url: httpx.URL,
    body: bytes,
    headers: Mapping[str, str],
    settings: Settings,
) -> tuple[int, str | None, str | None, httpx.URL | None]:
    """(status, Retry-After, excerpt, redirect target) of one request to the checked address."""
    address = await _checked_address(url, settings)
    host_header = url.netloc.decode("ascii")
    target = url.copy_with(host=address)
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    request = client.build_request(
        "POST",
        target,
        content=body,
        headers={**headers, "Host": host_header, "Content-Type": "application/json"},
        extensions=extensions,
    )
    response = await client.send(request, stream=True)
    try:
        raw = await _read_bounded(response, settings.webhooks_max_response_bytes)
    finally:
        await response.aclose()
    excerpt = raw[:EXCERPT_CHARS].decode("utf-8", "replace") if raw else None
    location = response.headers.get("location")
    redirect = None
    if response.is_redirect and location:
        redirect = httpx.URL(urljoin(str(url), location))
    return response.status_code, response.headers.get("retry-after"), excerpt, redirect


async def post(
    url: str, body: bytes, headers: Mapping[str, str], settings: Settings
) -> AttemptResult:
    """POST `body` to `url` once (following allowed redirects); never raises for the far
    end's failures, which the result describes."""
    started = time.monotonic()

    def result(
        status: int | None,
        error: str | None,
        retryable: bool,
        retry_after: str | None = None,
        excerpt: str | None = None,
    ) -> AttemptResult:
        took = int((time.monotonic() - started) * 1000)
        wait = _retry_after(retry_after)
        return AttemptResult(status, error, wait, excerpt, took, retryable)

    timeout = httpx.Timeout(
        settings.webhooks_timeout_seconds, connect=settings.webhooks_connect_timeout_seconds
    )
    try:
        target = check_url(url, settings)
        async with (
            asyncio.timeout(settings.webhooks_timeout_seconds),
            httpx.AsyncClient(
                timeout=timeout, verify=_tls_context(), follow_redirects=False, trust_env=False
            ) as client,
        ):
            for _ in range(settings.webhooks_max_redirects + 1):
                status, retry_after, excerpt, redirect = await _send_once(
                    client, target, body, headers, settings
                )
                if redirect is None:
                    break
                target = check_url(str(redirect), settings)
            else:
                return result(status, "redirect not followed", False, excerpt=excerpt)
    except TargetRefused as exc:
        return result(None, f"refused: {exc}", False)
    except (TimeoutError, httpx.TimeoutException):
        return result(None, "timed out", True)
    except (httpx.HTTPError, OSError) as exc:
        return result(None, f"network error: {type(exc).__name__}: {exc}"[:500], True)
    if 200 <= status < 300:
        return result(status, None, False, excerpt=excerpt)
    retryable = status == 429 or status >= 500
    return result(status, f"HTTP {status}", retryable, retry_after, excerpt)
