"""Idempotency-Key (IETF draft-ietf-httpapi-idempotency-key-header): a signed-in caller's
keyed write runs once; its retries get the first answer again, marked Idempotent-Replayed.

Outside every door to the routes (FastAPI and any fast path inside it), inside the request
guard (the body is already bounded) and inside the unexpected-error layer (a failure still
gives the key back). A write without the header, or without a usable credential, passes
through untouched: no statement, no copy. Design: docs/architecture.md, "Safe retries".
"""

from __future__ import annotations

import logging
import re

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api.asgi.routing import routes_here
from src.api.deps import open_write_session, parse_authorization
from src.api.errors import error_response, status_of
from src.core.config import Settings
from src.core.logging import set_user_id
from src.services import credentials, idempotency, messages
from src.services.credentials import Holder
from src.services.errors import DomainError, Unauthorized
from src.services.idempotency import KEY_FIELD, Claim, KeyedRequest, StoredAnswer

logger = logging.getLogger("conduit.idempotency")

KEYED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENCY_KEY = b"idempotency-key"
IF_MATCH = b"if-match"
REPLAYED = b"idempotent-replayed"
# The response headers a replay repeats; the outer layers add their own again.
REPLAYED_HEADERS = frozenset({"content-type", "location"})
MAX_KEY_LENGTH = 255
# Creates whose answer holds a secret shown once (an API key, a webhook's signing secret):
# never stored at rest, so these ignore the key, as sign-up and login do.
SECRET_ANSWERS = frozenset({("POST", "/api/user/keys"), ("POST", "/api/user/webhooks")})
# Visible ASCII without the quote and backslash: a bare token, or an sf-string's contents.
# One declaration for the check here and the document's pattern (src/api/idempotency_docs.py).
KEY_CHARACTERS = r"[!#-\[\]-~]"
_KEY = re.compile(KEY_CHARACTERS.encode("ascii") + b"+")
# Where the caller's own credential stood in a stored body (PUT /api/user echoes the access
# token): a raw NUL, which JSON text never holds, so no stored body keeps a credential.
CREDENTIAL_PLACEHOLDER = b"\x00credential\x00"


def parse_key(values: list[bytes]) -> str | None:
    """The key of one Idempotency-Key header (quoted as the draft's sf-string, or bare), or
    None when it is missing, repeated, too long or holds other characters. Length first."""
    if len(values) != 1:
        return None
    raw = values[0].strip(b" \t")
    if len(raw) > MAX_KEY_LENGTH + 2:
        return None
    if len(raw) >= 2 and raw[:1] == raw[-1:] == b'"':
        raw = raw[1:-1]
    if not raw or len(raw) > MAX_KEY_LENGTH or _KEY.fullmatch(raw) is None:
        return None
    return raw.decode("ascii")


def credential_of(authorization: bytes | None) -> str | None:
    """The credential of the Authorization header as the routes read it; None when anonymous
    or unreadable (the route answers)."""
    if authorization is None:
        return None
    try:
        return parse_authorization(authorization.decode("latin-1"))
    except Unauthorized:
        return None


async def caller_of(session: AsyncSession, credential: str, settings: Settings) -> Holder | None:
    """Whom a keyed write is scoped to, by the routes' own credential function: an access
    token's user (the claim checks its session), or a usable API key's owner (the key read in
    the claim's transaction, the claim checking the owner is active); None when unusable."""
    try:
        return await credentials.holder_of(session, settings, credential)
    except Unauthorized:
        return None


def keyed_request(
    scope: Scope, key: str, body: bytes, holder: Holder, if_match: bytes
) -> KeyedRequest:
    """The key's request: its fingerprint names the credential's kind, so an API key never
    gets an answer given to an access token or another key (docs/architecture.md)."""
    credential = "token" if holder.key_id is None else f"key {holder.key_id}"
    digest = idempotency.fingerprint(
        scope["method"],
        scope["path"],
        scope["query_string"],
        body,
        precondition=if_match,
        credential=credential,
    )
    return KeyedRequest(holder.viewer, key, digest)


class IdempotencyMiddleware:
    """Claims a signed-in caller's keyed write, replays its stored answer, or refuses it (409
    while the first runs, 422 for another request, 400 for a malformed key)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in KEYED_METHODS
            or (scope["method"], scope["path"]) in SECRET_ANSWERS
        ):
            await self.app(scope, receive, send)
            return
        keys: list[bytes] = []
        preconditions: list[bytes] = []
        authorization: bytes | None = None
        for name, value in scope["headers"]:
            if name == IDEMPOTENCY_KEY:
                keys.append(value)
            elif name == b"authorization":
                authorization = value
            elif name == IF_MATCH:
                preconditions.append(value)
        # A request no route takes is the router's to answer (404, 405): no key is claimed.
        if not keys or not routes_here(scope):
            await self.app(scope, receive, send)
            return
        credential = credential_of(authorization)
        if credential is None:  # anonymous writes return credentials: never stored (docs)
            await self.app(scope, receive, send)
            return
        key = parse_key(keys)
        if key is None:
            errors = {KEY_FIELD: [messages.IDEMPOTENCY_KEY_INVALID]}
            await error_response(400, errors)(scope, receive, send)
            return

        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        replay_receive = _replaying(body, receive)
        if_match = b", ".join(preconditions)
        outcome: Claim | StoredAnswer | None = None
        try:
            async with open_write_session(scope["app"].state) as session:
                holder = await caller_of(session, credential, self.settings)
                if holder is not None:
                    request = keyed_request(scope, key, body, holder, if_match)
                    outcome = await idempotency.claim(session, self.settings, request)
                await session.commit()
        except DomainError as error:
            await error_response(status_of(error), error.errors)(scope, receive, send)
            return
        if outcome is None:  # an unusable credential or account: the route answers
            await self.app(scope, replay_receive, send)
        elif isinstance(outcome, StoredAnswer):
            set_user_id(request.viewer.user_id)  # the claim found the caller live
            await _replay(outcome, credential.encode(), send)
        else:
            await self._run(scope, replay_receive, send, outcome, credential.encode())

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, held: Claim, credential: bytes
    ) -> None:
        """Run the request holding the key; store its answer (or give the key back) before
        the client sees it, so a retry after the answer always finds it."""
        start: Message | None = None
        chunks: list[bytes] = []
        finished = False

        async def keep(message: Message) -> None:
            nonlocal start, finished
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            finished = True
            await self._settle(scope, held, start, body, credential)
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        try:
            await self.app(scope, receive, keep)
        except Exception:
            if not finished:
                await self._give_back(scope, held)
            raise
        if not finished:  # no complete answer (the client went away): let a retry run
            await self._give_back(scope, held)

    async def _settle(
        self, scope: Scope, held: Claim, start: Message, body: bytes, credential: bytes
    ) -> None:
        status = int(start["status"])
        if not idempotency.worth_keeping(status):
            await self._give_back(scope, held)
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in start.get("headers", ())
            if name.decode("latin-1").lower() in REPLAYED_HEADERS
        }
        answer = StoredAnswer(status, headers, body.replace(credential, CREDENTIAL_PLACEHOLDER))
        try:
            async with open_write_session(scope["app"].state) as session:
                await idempotency.store(session, held, answer)
                await session.commit()
        except Exception:  # the write is done: its answer still goes out; the lease expires
            logger.warning("could not store an idempotent answer", exc_info=True)

    @staticmethod
    async def _give_back(scope: Scope, held: Claim) -> None:
        try:
            async with open_write_session(scope["app"].state) as session:
                await idempotency.release(session, held)
                await session.commit()
        except Exception:  # the claim then ends with its lease
            logger.warning("could not release an idempotency key", exc_info=True)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body (the request guard bounded it), or None on a disconnect."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _replay(answer: StoredAnswer, credential: bytes, send: Send) -> None:
    body = answer.body.replace(CREDENTIAL_PLACEHOLDER, credential)
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers.items()
    ]
    headers += [(b"content-length", str(len(body)).encode()), (REPLAYED, b"true")]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
