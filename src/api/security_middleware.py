"""Pure-ASGI guards in front of every route: hosts, body size, JSON shape, security headers.

They answer in the RealWorld error envelope, before FastAPI parses anything.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api.client_ip import peer_is_trusted
from src.api.errors import error_response
from src.api.text_guard import text_errors
from src.core.config import Settings
from src.services import messages

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# A JSON string (with escapes): removed before counting brackets, so "[[[" in a string is text.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
# JSON API responses load nothing: no scripts, styles, frames or plugins.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# HTML pages (the docs) that set no policy of their own still may not be framed.
HTML_CSP = "frame-ancestors 'none'"
TOKEN_PATHS = ("/api/users", "/api/user")


def json_depth(body: bytes) -> int:
    """Deepest nesting of arrays/objects, without parsing (and so without recursion)."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class RequestGuardMiddleware:
    """Refuses a foreign Host (400), a body that is not JSON (415), too large (413) or nested
    too deeply (422); buffers accepted bodies (bounded) and replays them to the app."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.hosts = {h.lower() for h in settings.trusted_hosts}

    def _host_allowed(self, headers: Headers) -> bool:
        if "*" in self.hosts:
            return True
        host = headers.get("host", "").lower()
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return host in self.hosts or any(
            pattern.startswith("*.") and host.endswith(pattern[1:]) for pattern in self.hosts
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not self._host_allowed(headers):
            await error_response(400, {"host": [messages.HOST_NOT_ALLOWED]})(scope, receive, send)
            return
        if (bad := text_errors(scope)) is not None:  # NUL in path or query (src/api/text_guard.py)
            await error_response(422, bad)(scope, receive, send)
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return

        limit = self.settings.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)

        if body.strip():
            if not _is_json(headers.get("content-type", "")):
                response = error_response(415, {"body": [messages.UNSUPPORTED_MEDIA_TYPE]})
                await response(scope, receive, send)
                return
            if json_depth(body) > self.settings.max_json_depth:
                await error_response(422, {"body": [messages.BODY_TOO_DEEP]})(scope, receive, send)
                return
            if (bad := text_errors(scope, body)) is not None:  # not UTF-8, or NUL
                await error_response(422, bad)(scope, receive, send)
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, {"body": [messages.BODY_TOO_LARGE]})
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


class SecurityHeadersMiddleware:
    """Adds the security headers to every response (errors, docs and CORS preflights too)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def _is_https(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        # Behind a trusted TLS-terminating proxy, believe its X-Forwarded-Proto.
        connection = HTTPConnection(scope)
        if not peer_is_trusted(connection, self.settings.trusted_proxies):
            return False
        return connection.headers.get("x-forwarded-proto", "").lower() == "https"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self._is_https(scope)
        path: str = scope.get("path", "")
        authenticated = any(name == b"authorization" for name, _ in scope.get("headers", []))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                is_html = headers.get("content-type", "").startswith("text/html")
                headers.setdefault("Content-Security-Policy", HTML_CSP if is_html else API_CSP)
                if https and self.settings.hsts_max_age_seconds:
                    headers.setdefault(
                        "Strict-Transport-Security",
                        f"max-age={self.settings.hsts_max_age_seconds}; includeSubDomains",
                    )
                # Responses carrying tokens must not sit in any cache; other personal ones
                # stay private unless the route chose its own policy.
                if path in TOKEN_PATHS or path.startswith("/api/users/"):
                    headers["Cache-Control"] = "no-store"
                elif authenticated:
                    headers.setdefault("Cache-Control", "private, no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
