"""The edge: every request's id, access log line, HTTP metrics, security headers, the rate
limits a request was counted against (src/api/ratelimits.py) and CORS.

One pure-ASGI layer, added outermost so every response - CORS preflights, errors, 404s -
carries `X-Request-ID` and the security headers and is logged and counted once. It was three
layers (observability, security headers, Starlette's CORS), each wrapping `send` and editing
the response's headers through its own MutableHeaders (docs/performance.md, "The request
path"). Now the headers are edited once, and CORS runs only for requests that carry an
`Origin` header (what browsers send cross-origin); any other response gets the `Vary: Origin`
that CORS would have added, so caches still key on it.
"""

from __future__ import annotations

import logging
import os
import re
import time

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api import http_headers, ratelimits
from src.api.asgi.client_ip import client_ip
from src.api.asgi.hot_reads import ROUTE_KEY
from src.api.asgi.security_headers import RawHeaders, SecurityHeaders, set_header
from src.core import metrics
from src.core.config import Settings
from src.core.logging import LOGGED_TEXT_MAX_CHARS, RequestContext, loggable, request_context

REQUEST_ID_HEADER = http_headers.REQUEST_ID
REQUEST_ID_BYTES = REQUEST_ID_HEADER.lower().encode()
# A caller's id is kept only if it is short and plain (it lands in every log line).
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED_ROUTE = "<unmatched>"  # one label for every 404 path: bounded metric cardinality

access_logger = logging.getLogger("conduit.access")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.fullmatch(candidate) else None
    return None


def _route_template(scope: Scope) -> str:
    hot: str | None = scope.get(ROUTE_KEY)  # answered by src/api/asgi/hot_reads.py
    if hot is not None:
        return hot
    # FastAPI keeps included routers nested: scope["route"] holds the path relative to
    # its router's prefix, while the effective route context has the full template.
    fastapi_state = scope.get("fastapi")
    context = (
        fastapi_state.get("effective_route_context") if isinstance(fastapi_state, dict) else None
    )
    effective = getattr(context, "path", None)
    if isinstance(effective, str) and effective:
        return effective
    path = getattr(scope.get("route"), "path_format", None)
    if isinstance(path, str):
        return path
    # Not routed (e.g. answered by CORS or the error middleware): find the template ourselves.
    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = candidate.matches({**scope, "type": "http"})
        if match is not Match.NONE:
            return str(getattr(candidate, "path_format", UNMATCHED_ROUTE))
    return UNMATCHED_ROUTE


def _has_origin(scope: Scope) -> bool:
    return any(name == b"origin" for name, _ in scope["headers"])


def _vary_on_origin(headers: RawHeaders, present: set[bytes]) -> None:
    """What Starlette's CORS adds to a response to a request without `Origin`."""
    varies = [value for name, value in headers if name == b"vary"] if b"vary" in present else []
    set_header(headers, present, b"vary", b", ".join([*varies, b"Origin"]))


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        engine: AsyncEngine,
        settings: Settings,
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.engine = engine
        self.access_log = access_log
        self.trusted_proxies = settings.trusted_proxies
        self.security = SecurityHeaders(settings)
        self.cors = CORSMiddleware(
            app,
            allow_origins=settings.cors_origins,
            # Tokens travel in the Authorization header, never in cookies: no credentials mode.
            allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=list(http_headers.CLIENT_REQUEST_HEADERS),
            expose_headers=list(http_headers.EXPOSED_RESPONSE_HEADERS),
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # 128 random bits as 32 hex digits, like uuid4().hex without building a UUID object
        request_id = _incoming_request_id(scope) or os.urandom(16).hex()
        context = RequestContext(request_id=request_id)
        token = request_context.set(context)
        status = 500
        started = time.perf_counter()
        cors = _has_origin(scope)
        plan = self.security.plan(scope)

        async def edge_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers: RawHeaders = list(message.get("headers", ()))
                present = {name for name, _ in headers}
                if not cors:
                    _vary_on_origin(headers, present)
                self.security.add(headers, present, plan)
                set_header(headers, present, REQUEST_ID_BYTES, request_id.encode("latin-1"))
                headers += ratelimits.response_headers(scope)  # the limits it was counted in
                message["headers"] = headers
            await send(message)

        metrics.IN_PROGRESS.inc()
        try:
            await (self.cors if cors else self.app)(scope, receive, edge_send)
        finally:
            metrics.IN_PROGRESS.dec()
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            metrics.observe_request(scope["method"], route, status, seconds)
            # The pool gauges sample the pool as requests end; the hot reads (most requests, and
            # on PostgreSQL they never touch this pool) take no sample.
            if ROUTE_KEY not in scope:
                metrics.observe_pool(self.engine)
            if self.access_log and access_logger.isEnabledFor(logging.INFO):
                self._log(scope, route, status, seconds, context.refused)
            request_context.reset(token)

    def _log(
        self,
        scope: Scope,
        route: str,
        status: int,
        seconds: float,
        refused: tuple[str, ...] | None,
    ) -> None:
        # The rate limiter's client: X-Forwarded-For only from a trusted proxy.
        client = client_ip(HTTPConnection(scope), self.trusted_proxies)
        fields: dict[str, object] = {
            "method": scope["method"],
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "client_ip": client if scope.get("client") else None,
            "user_agent": _user_agent(scope),
        }
        if route == UNMATCHED_ROUTE:  # which path was asked for: a client's typo, or a probe
            fields["path"] = loggable(scope["path"])
        if refused is not None:  # the envelope's keys (the field or check), never a value
            fields["refused"] = loggable(",".join(refused))
        access_logger.info(
            "%s %s %s %.1fms", scope["method"], route, status, seconds * 1000, extra=fields
        )


def _user_agent(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"user-agent":
            # Cut before decoding: the header may be as long as the server lets headers be.
            return loggable(value[: LOGGED_TEXT_MAX_CHARS + 1].decode("latin-1"))
    return None
