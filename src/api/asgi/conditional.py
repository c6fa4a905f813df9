"""Conditional GETs: every 200 of an API `GET` gets an `ETag`, and `If-None-Match` naming it a 304.

Two layers (src/main.py): `ConditionalGetMiddleware` inside compression tags the identity body
and answers the 304 (which compression then leaves alone: no body, nothing to encode), and
`CodedETagMiddleware` outside it appends the coding to the tag of a body it compressed, so a
strong tag names one representation (RFC 9110, 8.8.3; docs/performance.md, "Conditional
requests"). Both read paths (the hot reads and FastAPI) are inside them and answer alike.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api.etags import coded, entity_tag, parse_entity_tags
from src.api.validators import SCOPE_KEY, Headers, Validated, Validators
from src.core.config import Settings

API_PREFIX = "/api/"
_ETAG = b"etag"
_CACHE_CONTROL = b"cache-control"
_VARY = b"vary"
_CONTENT_ENCODING = b"content-encoding"
_PRIVATE = b"private, no-cache"  # a signed-in answer: the caller's cache only, revalidated
_VARY_SMALL = b"Authorization"
_VARY_COMPRESSIBLE = b"Authorization, Accept-Encoding"


def anonymous_cache_control(settings: Settings) -> bytes:
    """An anonymous answer: revalidated each time, or public for the operator's lifetime."""
    seconds = settings.anonymous_cache_max_age_seconds
    return f"public, max-age={seconds}".encode() if seconds else b"no-cache"


def request_headers(scope: Scope) -> tuple[str | None, str | None]:
    """(Authorization, If-None-Match) as sent: the first Authorization (an empty one is none,
    as for FastAPI's APIKeyHeader), every If-None-Match joined into one list."""
    authorization: str | None = None
    seen_authorization = False
    if_none_match: list[str] = []
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            if_none_match.append(value.decode("latin-1"))
        elif name == b"authorization" and not seen_authorization:
            seen_authorization = True
            authorization = value.decode("latin-1") or None
    return authorization, (", ".join(if_none_match) if if_none_match else None)


class ConditionalGetMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, validators: Validators | None) -> None:
        self.app = app
        self.anonymous = anonymous_cache_control(settings)
        self.compressible = settings.compression_min_bytes
        self.validators = validators  # the tags sent, for the hot reads' cheap 304s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(API_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        authorization, if_none_match = request_headers(scope)
        signed_in = authorization is not None
        held: Message | None = None
        passing = False

        async def conditional_send(message: Message) -> None:
            nonlocal held, passing
            if passing:
                await send(message)
            elif message["type"] == "http.response.start":
                if message["status"] == 200:
                    held = message
                else:
                    passing = True
                    await send(message)
            elif held is None or message.get("more_body", False):  # streamed: left alone
                passing = True
                if held is not None:
                    await send(held)
                await send(message)
            else:
                tagged = await self._answer(held, message, if_none_match, signed_in, send)
                if tagged is not None:
                    self._remember(scope, *tagged)

        await self.app(scope, receive, conditional_send)

    async def _answer(
        self,
        start: Message,
        body_message: Message,
        if_none_match: str | None,
        signed_in: bool,
        send: Send,
    ) -> tuple[str, Headers] | None:
        """Sends the 200 with its tag, or the 304; gives (tag, a 304's headers) back."""
        headers: list[tuple[bytes, bytes]] = list(start.get("headers", ()))
        names = {name for name, _ in headers}
        if _ETAG in names:  # the route chose its own
            await send(start)
            await send(body_message)
            return None
        body: bytes = body_message.get("body", b"")
        tag = entity_tag(body)
        kept = [(_ETAG, tag.encode())]
        if _CACHE_CONTROL not in names:
            kept.append((_CACHE_CONTROL, _PRIVATE if signed_in else self.anonymous))
        # What the 200 would have said about caching, and no body (RFC 9110, 15.4.5).
        vary = _VARY_COMPRESSIBLE if len(body) >= self.compressible else _VARY_SMALL
        not_modified = [*kept, (_VARY, vary)]
        if if_none_match is not None and parse_entity_tags(if_none_match).weakly_match(tag):
            await send_not_modified(send, not_modified)
            return tag, not_modified
        kept.append((_VARY, _VARY_SMALL))  # compression adds Accept-Encoding to what it may code
        start["headers"] = headers + kept
        await send(start)
        await send(body_message)
        return tag, not_modified

    def _remember(self, scope: Scope, tag: str, not_modified: Headers) -> None:
        """A hot read marked for it (src/api/asgi/hot_reads.py): its tag and the state it was
        read at, for the next conditional request's cheap 304."""
        marked = scope.get(SCOPE_KEY)
        if marked is not None and self.validators is not None:
            key, version = marked
            self.validators.remember(key, Validated(tag, version, not_modified))


async def send_not_modified(send: Send, headers: Headers) -> None:
    """A 304: the headers a 200 would have had about caching, and no body. A copy of them:
    outer layers add theirs to the message's list."""
    await send({"type": "http.response.start", "status": 304, "headers": list(headers)})
    await send({"type": "http.response.body", "body": b""})


class CodedETagMiddleware:
    """Outside compression: a compressed body's tag names its coding (`"h"` -> `"h-gzip"`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return

        async def coded_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                _code_tag(message)
            await send(message)

        await self.app(scope, receive, coded_send)


def _code_tag(message: Message) -> None:
    headers: list[tuple[bytes, bytes]] = message["headers"]
    coding = next((value for name, value in headers if name == _CONTENT_ENCODING), None)
    if coding is None:
        return
    for index, (name, value) in enumerate(headers):
        if name == _ETAG and value.startswith(b'"'):
            headers[index] = (name, coded(value, coding))
