"""Pure-ASGI guards in front of every route: hosts, body size, JSON shape, security headers.

They answer in the RealWorld error envelope, before FastAPI parses anything.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api.client_ip import last_values, peer_is_trusted
from src.api.errors import error_response
from src.api.text_guard import text_errors
from src.core.config import Settings
from src.services import messages

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# What the depth scan looks at: quotes (string delimiters, once escapes are gone) and brackets.
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_QUOTE = ord('"')
_OPENERS = frozenset(b"[{")
# JSON API responses load nothing: no scripts, styles, frames or plugins.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# HTML pages (the docs) that set no policy of their own still may not be framed.
HTML_CSP = "frame-ancestors 'none'"
API_CSP_BYTES, HTML_CSP_BYTES = API_CSP.encode(), HTML_CSP.encode()
TOKEN_PATHS = ("/api/users", "/api/user")


def json_depth(body: bytes, limit: int | None = None) -> int:
    """Deepest nesting of arrays/objects the JSON parser would reach, without parsing (and so
    without recursion), in linear time: a fixed number of passes in C, then one loop over the
    quotes and brackets. Brackets inside strings are text. Counting stops where the parser
    would stop (an unmatched closer, the end of the first top-level value) or past `limit`."""
    # Escaped backslashes first (pairs, left to right, as JSON reads them), then escaped
    # quotes: every quote left opens or closes a string.
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    depth = deepest = 0
    in_string = False
    for byte in text.translate(None, _NOT_STRUCTURE):
        if byte == _QUOTE:
            in_string = not in_string
        elif in_string:
            continue
        elif byte in _OPENERS:
            depth += 1
            if depth > deepest:
                deepest = depth
                if limit is not None and deepest > limit:
                    break
        else:
            depth -= 1
            if depth <= 0:  # the top-level value is closed, or a closer matches nothing
                break
    return deepest


def _declares_more_than(content_length: str, limit: int) -> bool:
    """Whether a Content-Length header declares more than `limit` bytes; its length is compared
    before any conversion, and a value that is not plain digits is left to the server."""
    digits = content_length.strip()
    if not (digits.isascii() and digits.isdigit()):
        return False
    digits = digits.lstrip("0")
    return len(digits) > len(str(limit)) or int(digits or "0") > limit


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
        if declared is not None and _declares_more_than(declared, limit):
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
            most = self.settings.max_json_depth
            if json_depth(body, most) > most:
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


RawHeaders = list[tuple[bytes, bytes]]
# What a request's response will get: a None value is the CSP, chosen by the response's type.
HeaderPlan = list[tuple[bytes, bytes | None]]

_CSP = b"content-security-policy"
_CACHE_CONTROL = b"cache-control"
_NO_STORE = b"no-store"
# Set on every response unless the route chose its own value, in this order.
_ALWAYS: HeaderPlan = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (_CSP, None),
]
_TOKEN_PLAN: HeaderPlan = [*_ALWAYS, (_CACHE_CONTROL, _NO_STORE)]
_PRIVATE_PLAN: HeaderPlan = [*_ALWAYS, (_CACHE_CONTROL, b"private, no-store")]


def set_header(headers: RawHeaders, present: set[bytes], name: bytes, value: bytes) -> None:
    """`headers[name] = value` as Starlette's MutableHeaders does it: the first entry of that
    name takes the value, later ones go; appended when there is none (`present`: the names the
    response had, so the common case scans nothing)."""
    if name not in present:
        headers.append((name, value))
        return
    found = [index for index, (key, _) in enumerate(headers) if key == name]
    for index in reversed(found[1:]):
        del headers[index]
    if found:
        headers[found[0]] = (name, value)
    else:
        headers.append((name, value))


def _is_html(headers: RawHeaders) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.startswith(b"text/html")
    return False


class SecurityHeaders:
    """The security headers every response carries (errors, docs and CORS preflights too).
    The edge (src/api/middleware.py) plans them when a request arrives and adds them to its
    response in one pass over the headers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        max_age = settings.hsts_max_age_seconds
        self._hsts = f"max-age={max_age}; includeSubDomains".encode() if max_age else None

    def _is_https(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        # Behind a trusted TLS-terminating proxy, believe its X-Forwarded-Proto.
        connection = HTTPConnection(scope)
        if not peer_is_trusted(connection, self.settings.trusted_proxies):
            return False
        # The nearest proxy's value is the right-most, whether it added a line or extended one.
        nearest = last_values(connection, "x-forwarded-proto", 1)
        return bool(nearest) and nearest[0].lower() == "https"

    def plan(self, scope: Scope) -> HeaderPlan:
        """The headers this request's response gets (shared constants for plain HTTP)."""
        path: str = scope.get("path", "")
        # Responses carrying tokens must not sit in any cache (this one replaces the route's
        # own); other personal ones stay private unless the route chose its own policy.
        if path in TOKEN_PATHS or path.startswith("/api/users/"):
            plan = _TOKEN_PLAN
        elif any(name == b"authorization" for name, _ in scope["headers"]):
            plan = _PRIVATE_PLAN
        else:
            plan = _ALWAYS
        if self._hsts is not None and self._is_https(scope):
            always = len(_ALWAYS)  # after those, before Cache-Control
            plan = [*plan[:always], (b"strict-transport-security", self._hsts), *plan[always:]]
        return plan

    @staticmethod
    def add(headers: RawHeaders, present: set[bytes], plan: HeaderPlan) -> None:
        """Add the plan's headers to a response's (`present`: the names it has)."""
        for name, value in plan:
            if value is None:  # JSON loads nothing; HTML pages (the docs) may not be framed
                if name not in present:
                    headers.append((name, HTML_CSP_BYTES if _is_html(headers) else API_CSP_BYTES))
            elif name == _CACHE_CONTROL and value == _NO_STORE:  # always wins
                set_header(headers, present, name, value)
            elif name not in present:
                headers.append((name, value))
