"""Per-request observability: the request id, one access log line and the HTTP metrics.

Pure ASGI (no BaseHTTPMiddleware), added outermost so every response - CORS preflights,
errors, 404s - carries `X-Request-ID` and is logged and counted once.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api.client_ip import client_ip
from src.api.hot_reads import ROUTE_KEY
from src.core import metrics
from src.core.logging import RequestContext, request_context

REQUEST_ID_HEADER = "X-Request-ID"
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
    hot: str | None = scope.get(ROUTE_KEY)  # answered by src/api/hot_reads.py
    if hot is not None:
        return hot
    # FastAPI (0.16x) keeps included routers nested: scope["route"] holds the path relative to
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


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        engine: AsyncEngine,
        access_log: bool = True,
        trusted_proxies: list[str] | None = None,
    ) -> None:
        self.app = app
        self.engine = engine
        self.access_log = access_log
        self.trusted_proxies = trusted_proxies or []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        context = RequestContext(request_id=request_id)
        token = request_context.set(context)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        metrics.IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            metrics.IN_PROGRESS.dec()
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            metrics.observe_request(scope["method"], route, status, seconds)
            metrics.observe_pool(self.engine)
            if self.access_log:
                # The rate limiter's client: X-Forwarded-For only from a trusted proxy.
                client = client_ip(HTTPConnection(scope), self.trusted_proxies)
                access_logger.info(
                    "%s %s %s %.1fms",
                    scope["method"],
                    route,
                    status,
                    seconds * 1000,
                    extra={
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "client_ip": client if scope.get("client") else None,
                    },
                )
            request_context.reset(token)
