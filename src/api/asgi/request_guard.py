"""The request guard: hosts, body size, content type, JSON depth and text, refused in the
RealWorld error envelope before FastAPI parses anything."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api.asgi.routing import routes_here
from src.api.asgi.text_guard import text_errors
from src.api.errors import error_response
from src.core.config import Settings
from src.services import messages

# DELETE too: deleting the account takes a body (the current password).
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What the depth scan looks at: quotes (string delimiters, once escapes are gone) and brackets.
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_QUOTE = ord('"')
_OPENERS = frozenset(b"[{")
# Routes that take a picture instead of JSON: their own size bound, multipart or image/* only
# (the content itself is checked by src/services/media/images.py).
UPLOAD_ROUTES = frozenset({("PUT", "/api/user/image")})


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


def _is_upload(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "multipart/form-data" or media.startswith("image/")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class RequestGuardMiddleware:
    """Refuses a foreign Host (400), a body that is not JSON (415), too large (413) or nested
    too deeply (422); buffers accepted bodies (bounded) and replays them to the app. An upload
    route takes multipart or image/* instead, within MEDIA_MAX_UPLOAD_BYTES."""

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
        if (
            bad := text_errors(scope)
        ) is not None:  # NUL in path or query (src/api/asgi/text_guard.py)
            await error_response(422, bad)(scope, receive, send)
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return

        upload = (scope["method"], scope["path"]) in UPLOAD_ROUTES
        limit = self.settings.media_max_upload_bytes if upload else self.settings.max_body_bytes
        too_large = (
            {"image": [messages.IMAGE_TOO_LARGE.format(maximum=limit)]}
            if upload
            else {"body": [messages.BODY_TOO_LARGE]}
        )
        declared = headers.get("content-length")
        if declared is not None and _declares_more_than(declared, limit):
            await self._too_large(scope, receive, send, too_large)
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
                await self._too_large(scope, receive, send, too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)

        refusal = self._refusal(scope, headers, body, upload)
        # A request no route takes gets the router's 404 or 405 first (src/api/asgi/routing.py).
        if refusal is not None and routes_here(scope):
            await error_response(*refusal)(scope, receive, send)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _refusal(
        self, scope: Scope, headers: Headers, body: bytes, upload: bool
    ) -> tuple[int, dict[str, list[str]]] | None:
        """The answer to a body of the wrong type (415), too deep (422) or with text that is
        not UTF-8 or holds NUL (422); None for a body the route may read."""
        if upload and body:
            if not _is_upload(headers.get("content-type", "")):
                return 415, {"body": [messages.IMAGE_REQUEST_TYPE]}
        elif body.strip():
            if not _is_json(headers.get("content-type", "")):
                return 415, {"body": [messages.UNSUPPORTED_MEDIA_TYPE]}
            most = self.settings.max_json_depth
            if json_depth(body, most) > most:
                return 422, {"body": [messages.BODY_TOO_DEEP]}
            if (bad := text_errors(scope, body)) is not None:  # not UTF-8, or NUL
                return 422, bad
        return None

    @staticmethod
    async def _too_large(
        scope: Scope, receive: Receive, send: Send, errors: dict[str, list[str]]
    ) -> None:
        response = error_response(413, errors)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
