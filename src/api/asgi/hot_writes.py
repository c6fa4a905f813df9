"""The hot writes, dispatched without FastAPI's router and dependency solver.

Creating an article, favoriting and unfavoriting one, commenting on one and following and
unfollowing a user are the writes a busy platform sees most, and FastAPI's routing,
dependency solving and body handling cost them more than their own statement
(docs/performance.md, "Cheap writes"). As the hot reads do
(src/api/asgi/hot_reads.py), this innermost layer calls the very same route functions, with
the same services, renderer and error envelope, for plainly valid requests only: a JSON body
that the route's own request schema accepts, and a credential in the header. Anything else
(no credential, a body that is not JSON or that the schema refuses, any other method or path)
goes on to FastAPI, the body replayed, which answers exactly as the documented route does.

Each route's caller is its own dependency's (the scope an API key needs is read from it), and
the write limit the API router counts is counted here too (`deps.limit_writes`).
tests/api/test_hot_writes.py checks that both doors answer byte for byte alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.api.asgi.hot_reads import ROUTE_KEY
from src.api.deps import (
    ArticleWriterViewer,
    CommentWriterViewer,
    SocialWriterViewer,
    limit_writes,
    open_write_session,
    parse_authorization,
)
from src.api.errors import domain_error_response
from src.api.routes import articles, comments, favorites, profiles
from src.api.schemas.articles import NewArticleRequest
from src.api.schemas.comments import NewCommentRequest
from src.core.config import Settings
from src.services import credentials, messages
from src.services.auth import Viewer
from src.services.errors import DomainError, Unauthorized

ARTICLES = "/api/articles"
ARTICLE_PREFIX = "/api/articles/"
FAVORITE_SUFFIX = "/favorite"
COMMENTS_SUFFIX = "/comments"
PROFILE_PREFIX = "/api/profiles/"
FOLLOW_SUFFIX = "/follow"
JSON = "application/json"

Write = Callable[[Request, AsyncSession, Viewer, str, Any], Awaitable[Response]]


def _scope_of(caller: Any) -> str:
    """The API-key scope the route's caller dependency asks for (deps.require_scope_viewer)."""
    scope: str = caller.__metadata__[0].dependency.required_scope
    return scope


@dataclass(frozen=True, slots=True)
class HotWrite:
    template: str  # the route template, for the access log and metrics
    call: Write
    scope: str
    body: type[BaseModel] | None = None


async def _create(
    request: Request, session: AsyncSession, viewer: Viewer, _slug: str, payload: Any
) -> Response:
    return await articles.create_article(payload, request, session, viewer)


async def _comment(
    request: Request, session: AsyncSession, viewer: Viewer, slug: str, payload: Any
) -> Response:
    return await comments.add_comment(slug, payload, request, session, viewer)


def _by_name(route: Callable[[str, AsyncSession, Viewer], Awaitable[Response]]) -> Write:
    """A route that reads only the path's slug or username: (un)favorite, (un)follow."""

    async def call(
        _request: Request, session: AsyncSession, viewer: Viewer, name: str, _payload: Any
    ) -> Response:
        return await route(name, session, viewer)

    return call


CREATE = HotWrite(ARTICLES, _create, _scope_of(ArticleWriterViewer), NewArticleRequest)
FAVORITE_TEMPLATE = "/api/articles/{slug}/favorite"
FAVORITE = HotWrite(FAVORITE_TEMPLATE, _by_name(favorites.favorite), _scope_of(SocialWriterViewer))
UNFAVORITE = HotWrite(
    FAVORITE_TEMPLATE, _by_name(favorites.unfavorite), _scope_of(SocialWriterViewer)
)
COMMENT = HotWrite(
    "/api/articles/{slug}/comments", _comment, _scope_of(CommentWriterViewer), NewCommentRequest
)

FOLLOW_TEMPLATE = "/api/profiles/{username}/follow"
FOLLOW = HotWrite(FOLLOW_TEMPLATE, _by_name(profiles.follow), _scope_of(SocialWriterViewer))
UNFOLLOW = HotWrite(FOLLOW_TEMPLATE, _by_name(profiles.unfollow), _scope_of(SocialWriterViewer))


def _route(scope: Scope) -> tuple[HotWrite, str] | None:
    """(the write, its slug or username) for a hot write, None for every other request."""
    method: str = scope["method"]
    if method not in ("POST", "DELETE"):
        return None
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):  # mounted under a prefix: match what Starlette matches
        path = path[len(root) :]
    if path == ARTICLES:
        return (CREATE, "") if method == "POST" else None
    if path.startswith(PROFILE_PREFIX) and path.endswith(FOLLOW_SUFFIX):
        name = path[len(PROFILE_PREFIX) : -len(FOLLOW_SUFFIX)]
        write = FOLLOW if method == "POST" else UNFOLLOW
        return (write, name) if name and "/" not in name else None
    if not path.startswith(ARTICLE_PREFIX):
        return None
    rest = path[len(ARTICLE_PREFIX) :]
    if rest.endswith(FAVORITE_SUFFIX):
        slug = rest[: -len(FAVORITE_SUFFIX)]
        write = FAVORITE if method == "POST" else UNFAVORITE
    elif rest.endswith(COMMENTS_SUFFIX) and method == "POST":
        slug, write = rest[: -len(COMMENTS_SUFFIX)], COMMENT
    else:
        return None
    return (write, slug) if slug and "/" not in slug else None


def _headers(scope: Scope) -> tuple[str | None, str | None]:
    """The Authorization and Content-Type headers (the first of each, as Starlette reads)."""
    authorization = content_type = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1") or None  # empty: no header, as for FastAPI
        elif name == b"content-type" and content_type is None:
            content_type = value.decode("latin-1")
    return authorization, content_type


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` with the body already read given back first."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _payload(model: type[BaseModel], body: bytes, content_type: str | None) -> BaseModel | None:
    """The body as the route's schema reads it, or None for anything FastAPI should answer."""
    if content_type is None or content_type.partition(";")[0].strip().lower() != JSON:
        return None
    try:
        return model.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None


class HotWritesMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route(scope) if scope["type"] == "http" else None
        authorization, content_type = _headers(scope) if route else (None, None)
        if route is None or authorization is None:
            await self.app(scope, receive, send)
            return
        write, slug = route
        payload = None
        if write.body is not None:
            body = await _read_body(receive)
            payload = _payload(write.body, body, content_type)
            if payload is None:
                await self.app(scope, _replaying(body, receive), send)
                return
        scope[ROUTE_KEY] = write.template
        request = Request(scope, receive)
        try:
            await limit_writes(request)
            token = parse_authorization(authorization)
            if token is None:  # not reached: the header is there
                raise Unauthorized(messages.AUTH_REQUIRED, field="token")
            async with open_write_session(scope["app"].state) as session:
                viewer = await credentials.writer_of(session, self.settings, token, write.scope)
                response = await write.call(request, session, viewer, slug, payload)
        except DomainError as exc:
            response = domain_error_response(exc)
        await response(scope, receive, send)
