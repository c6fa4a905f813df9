"""The security headers every response carries, planned per request and added by the edge."""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.types import Scope

from src.api.asgi.client_ip import last_values, peer_is_trusted
from src.core.config import Settings

# JSON API responses load nothing: no scripts, styles, frames or plugins.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# HTML pages (the docs) that set no policy of their own still may not be framed.
HTML_CSP = "frame-ancestors 'none'"
API_CSP_BYTES, HTML_CSP_BYTES = API_CSP.encode(), HTML_CSP.encode()
TOKEN_PATHS = ("/api/users", "/api/user")

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
    The edge (src/api/asgi/edge.py) plans them when a request arrives and adds them to its
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
