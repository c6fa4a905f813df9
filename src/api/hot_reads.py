"""The hot reads, dispatched without FastAPI's router and dependency solver (issue 4).

The reads are most of the traffic: `GET /api/articles`, `/api/articles/feed`,
`/api/articles/{slug}`, its `/comments`, `/api/profiles/{username}` and `/api/tags` (every page
of the web client loads the popular tags). A profile of a
list request put more than half of its CPU time in FastAPI's routing and dependency solving
(docs/performance.md), for a route whose inputs are five query parameters and a header. This
middleware, the innermost one (every guard, header, log line and metric still applies),
answers those requests by calling the very same route functions with the same services,
renderer and error envelope.

It takes only requests whose inputs are plainly valid: one value per parameter, integers as
digits within their bounds, filters within their length. Anything else - a bad `limit`, a
repeated parameter, an empty value - goes on to FastAPI, which answers it exactly as the
documented route does (its 422 included). The routes stay FastAPI's: the OpenAPI document,
validation and docs are theirs, and tests/api/test_hot_reads.py checks both paths answer
byte for byte the same.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from src.api import articles, comments, profiles, tags
from src.api.deps import open_reads, parse_authorization, token_viewer
from src.api.errors import domain_error_response
from src.core.config import Settings
from src.core.reads import Reads
from src.services import messages
from src.services.auth import Viewer
from src.services.errors import DomainError, Unauthorized

ROUTE_KEY = "conduit.route"  # the route template, for the access log and metrics
ARTICLES = "/api/articles"
FEED = "/api/articles/feed"
ARTICLE_PREFIX = "/api/articles/"
SINGLE_ARTICLE = "/api/articles/{slug}"
TAGS = "/api/tags"
COMMENTS_SUFFIX = "/comments"
COMMENTS = "/api/articles/{slug}/comments"
PROFILE_PREFIX = "/api/profiles/"
PROFILE = "/api/profiles/{username}"
MAX_FILTER_LENGTH = 255
_DIGITS = re.compile(r"[0-9]{1,10}")

Params = dict[str, Any]
Handler = Callable[[Reads, Viewer | None, Params], Awaitable[Response]]


class _FallBack(Exception):
    """The request is not plainly valid: FastAPI answers it."""


def _query(scope: Scope, names: frozenset[str]) -> dict[str, str]:
    """The named parameters, parsed as Starlette does; repeated or empty ones fall back."""
    found: dict[str, str] = {}
    raw: bytes = scope["query_string"]
    if not raw:
        return found
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if name in names:
            if name in found or not value:
                raise _FallBack
            found[name] = value
    return found


def _integer(value: str | None, default: int, lowest: int, highest: int) -> int:
    if value is None:
        return default
    if not _DIGITS.fullmatch(value):
        raise _FallBack
    number = int(value)
    if not lowest <= number <= highest:
        raise _FallBack
    return number


def _filter(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_FILTER_LENGTH:
        raise _FallBack
    return value


def _page(query: dict[str, str]) -> tuple[int, int]:
    limit = _integer(query.get("limit"), 20, 1, articles.MAX_PAGE_SIZE)
    return limit, _integer(query.get("offset"), 0, 0, articles.MAX_OFFSET)


_LIST_PARAMS = frozenset({"tag", "author", "favorited", "limit", "offset"})
_PAGE_PARAMS = frozenset({"limit", "offset"})


async def _list(reads: Reads, viewer: Viewer | None, params: Params) -> Response:
    return await articles.list_articles(reads, viewer, **params)


async def _feed(reads: Reads, viewer: Viewer | None, params: Params) -> Response:
    if viewer is None:
        raise Unauthorized(messages.AUTH_REQUIRED, field="token")
    return await articles.feed(reads, viewer, **params)


async def _single(reads: Reads, viewer: Viewer | None, params: Params) -> Response:
    return await articles.get_article(params["slug"], reads, viewer)


async def _comments(reads: Reads, viewer: Viewer | None, params: Params) -> Response:
    return await comments.list_comments(params["slug"], reads, viewer)


async def _profile(reads: Reads, viewer: Viewer | None, params: Params) -> Response:
    return await profiles.get_profile(params["username"], reads, viewer)


async def _tags(reads: Reads, viewer: Viewer | None, _params: Params) -> Response:
    return await tags.list_tags(reads, viewer)


def _route(scope: Scope) -> tuple[str, Handler, Params] | None:
    """(template, handler, parameters) for a hot read, None for every other request."""
    if scope["method"] != "GET":
        return None
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):  # mounted under a prefix: match what Starlette matches
        path = path[len(root) :]
    if path == ARTICLES:
        query = _query(scope, _LIST_PARAMS)
        limit, offset = _page(query)
        filters = {name: _filter(query.get(name)) for name in ("tag", "author", "favorited")}
        return ARTICLES, _list, {**filters, "limit": limit, "offset": offset}
    if path == FEED:
        limit, offset = _page(_query(scope, _PAGE_PARAMS))
        return FEED, _feed, {"limit": limit, "offset": offset}
    if path == TAGS:
        return TAGS, _tags, {}
    if path.startswith(ARTICLE_PREFIX):
        slug = path[len(ARTICLE_PREFIX) :]
        if slug and "/" not in slug:
            return SINGLE_ARTICLE, _single, {"slug": slug}
        slug = slug.removesuffix(COMMENTS_SUFFIX)
        if path.endswith(COMMENTS_SUFFIX) and slug and "/" not in slug:
            return COMMENTS, _comments, {"slug": slug}
    if path.startswith(PROFILE_PREFIX):
        username = path[len(PROFILE_PREFIX) :]
        if username and "/" not in username:
            return PROFILE, _profile, {"username": username}
    return None


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            header = value.decode("latin-1")
            return header or None  # an empty header is no header, as for FastAPI's APIKeyHeader
    return None


class HotReadsMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            route = _route(scope)
        except _FallBack:
            route = None
        if route is None:
            await self.app(scope, receive, send)
            return
        template, handler, params = route
        scope[ROUTE_KEY] = template
        try:
            token = parse_authorization(_authorization(scope))
            viewer = await token_viewer(token, self.settings)
            async with open_reads(scope["app"].state) as reads:
                response = await handler(reads, viewer, params)
        except DomainError as exc:
            response = domain_error_response(exc)
        await response(scope, receive, send)
