"""The HTTP server under the app: uvicorn with the bounds it leaves out, its options read from
the settings (`conduit serve`).

uvicorn's httptools protocol reads a request's head (request line and headers) for as long and
as large as a client sends it. BoundedHttpToolsProtocol answers a head larger than
MAX_HEADER_BYTES with 431, and one not complete within HEADER_TIMEOUT_SECONDS with 408, then
closes the connection: a slow or oversized client costs one socket for a bounded time and a
bounded buffer, never the app's attention (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from src.api.errors import error_response
from src.core.config import Settings
from src.services import messages


def _refusal(status: int, message: str) -> bytes:
    """A whole response, in the error envelope, that closes the connection."""
    body = json.dumps({"errors": {"headers": [message]}}).encode()
    head = [
        STATUS_LINE[status],
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n\r\n",
    ]
    return b"".join([*head, body])


# A refused connection is closed this long after its answer at the latest (`_refuse`).
LINGER_SECONDS = 2.0
HEAD_TOO_LARGE = _refusal(431, messages.HEADERS_TOO_LARGE)
HEAD_TOO_SLOW = _refusal(408, messages.HEADERS_TOO_SLOW)


class _HeadTooLarge(Exception):
    """Raised in a parser callback to stop parsing a head beyond the bound."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the size of a request's head and on the
    time to send it.

    Size is counted twice, so neither a head sent at once nor one trickled in pieces passes:
    the request line and headers as the parser hands them over, and every chunk received while
    the head is still incomplete (the parser buffers an unfinished header line itself). A chunk
    that ends one pipelined request and starts the next counts whole for the next one.
    """

    def __init__(
        self,
        *args: Any,
        max_header_bytes: int,
        header_timeout: float,
        concurrency: int | None = None,
        retry_after: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # The limit is ours, not uvicorn's: its own 503 is plain text, ours is the envelope.
        self.limit_concurrency = None
        self.concurrency = concurrency
        self.retry_after = retry_after
        self.max_header_bytes = max_header_bytes
        self.header_timeout = header_timeout
        self._parsed = 0  # request line and headers handed over by the parser
        self._received = 0  # bytes of chunks that left the head incomplete
        self._in_head = True  # a new connection owes its first head
        self._too_large = False
        self._lingering = False
        self._head_clock: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:  # refused: read only so that closing sends no reset
            return
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._received += len(data)
            if self._received > self.max_header_bytes:
                self._refuse(HEAD_TOO_LARGE)

    def send_400_response(self, msg: str) -> None:
        # The parser reports a callback's exception as a malformed request.
        if self._too_large:
            self._refuse(HEAD_TOO_LARGE)
        else:
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed = self._received = 0
        self._in_head = True
        self._start_head_clock()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_clock()
        if self.concurrency is None or (
            len(self.connections) < self.concurrency and len(self.tasks) < self.concurrency
        ):
            super().on_headers_complete()
            return
        self.logger.warning("Exceeded concurrency limit.")
        app = self.app
        self.app = partial(_busy, self.retry_after)  # read by the cycle the parent builds
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def _count(self, size: int) -> None:
        self._parsed += size
        if self._parsed > self.max_header_bytes:
            self._too_large = True
            raise _HeadTooLarge

    def _start_head_clock(self) -> None:
        """Runs from a connection's start, or a request's first byte, to the end of the head;
        not restarted by the first byte of a connection's first request."""
        if self._head_clock is None:
            self._head_clock = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_head_clock(self) -> None:
        if self._head_clock is not None:
            self._head_clock.cancel()
            self._head_clock = None

    def _head_timed_out(self) -> None:
        self._head_clock = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:  # pipelined behind an answer
            cycle.keep_alive = False  # no room for a 408: close once that answer is sent
            return
        self._refuse(HEAD_TOO_SLOW)

    def _refuse(self, response: bytes) -> None:
        """Answer, then close gracefully: the answer and a FIN, the rest of what the client
        still sends read and dropped for at most LINGER_SECONDS. Closing with its bytes unread
        would send a reset, which can destroy the answer before the client reads it."""
        self.transport.write(response)
        self._lingering = True
        self._stop_head_clock()
        try:
            self.transport.write_eof()
        except (NotImplementedError, RuntimeError, OSError):
            self.transport.close()
            return
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


async def _busy(retry_after: int, scope: Scope, receive: Receive, send: Send) -> None:
    """The answer past the connection limit: 503 in the envelope, with Retry-After."""
    response = error_response(
        503,
        {"server": [messages.SERVER_BUSY.format(seconds=retry_after)]},
        {"Retry-After": str(retry_after), "Connection": "close"},
    )
    await response(scope, receive, send)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The settings' bounds on connections, as uvicorn.run's keyword arguments."""
    return {
        "http": partial(
            BoundedHttpToolsProtocol,
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout_seconds,
            concurrency=settings.limit_concurrency or None,
            retry_after=settings.retry_after_seconds,
        ),
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
    }
