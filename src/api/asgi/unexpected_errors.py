"""Unexpected errors: the 500 envelope, answered from inside CORS."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api.errors import unexpected_error_response


class UnexpectedErrorMiddleware:
    """Answers an unhandled exception with the 500 envelope from inside the CORS middleware.

    Starlette sends 500s from its outermost layer, outside CORS: a browser would then see an
    opaque CORS failure instead of the error. Added just before CORS, this runs inside it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for another response; let the server close it
                raise
            response = await unexpected_error_response(Request(scope), exc)
            await response(scope, receive, send)
