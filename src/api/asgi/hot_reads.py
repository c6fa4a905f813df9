"""The hot reads, dispatched without FastAPI's router and dependency solver.

The reads are most of the traffic: `GET /api/articles`, `/api/articles/feed`,
`/api/articles/{slug}`, its `/comments`, `/api/profiles/{username}` and `/api/tags` (every page
of the web client loads the popular tags), and FastAPI's routing and dependency solving cost
them more than their own work (docs/performance.md, "The request path"). This middleware, the
innermost one (every guard, header, log line and metric still applies), answers those requests
by calling the very same route functions with the same services, renderer and error envelope.

Its query parameters are the routes' own declarations (src/api/query_params.py), read by their
parsers: it takes only requests whose parameters are plainly valid - one value each, integers
as digits within their bounds, text within its length. Anything else goes on to FastAPI, which
answers it exactly as the documented route does (its 422 included). The routes stay FastAPI's:
the OpenAPI document, validation and docs are theirs, and tests/api/test_hot_reads.py checks,
parameter by declared parameter, that both paths answer byte for byte the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from src.api import ratelimits
from src.api.asgi.conditional import request_headers, send_not_modified
from src.api.deps import open_reads, parse_authorization, viewer_for
from src.api.errors import domain_error_response
from src.api.query_params import NO_PARAMS, NotPlain, QueryParams
from src.api.routes import articles, comments, profiles, tags
from src.api.validators import SCOPE_KEY, Key, Validated, Validators, request_key
from src.core.config import Settings
from src.core.reads import Reads
from src.services import credentials, freshness, messages
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

Params = dict[str, Any]
Handler = Callable[[Reads, Viewer | None, Params, Settings], Awaitable[Response]]

# Each hot route's query parameters: the declaration its FastAPI route is built from.
QUERY_PARAMS: dict[str, QueryParams] = {
    ARTICLES: articles.LIST_PARAMS,
    FEED: articles.FEED_PARAMS,
    SINGLE_ARTICLE: NO_PARAMS,
    COMMENTS: comments.LIST_PARAMS,
    PROFILE: NO_PARAMS,
    TAGS: NO_PARAMS,
}


async def _list(
    reads: Reads, viewer: Viewer | None, params: Params, settings: Settings
) -> Response:
    return await articles.list_articles(params, reads, viewer, settings)


async def _feed(
    reads: Reads, viewer: Viewer | None, params: Params, settings: Settings
) -> Response:
    if viewer is None:
        raise Unauthorized(messages.AUTH_REQUIRED, field="token")
    return await articles.feed(params, reads, viewer, settings)


async def _single(
    reads: Reads, viewer: Viewer | None, params: Params, _settings: Settings
) -> Response:
    return await articles.get_article(params["slug"], reads, viewer)


async def _comments(
    reads: Reads, viewer: Viewer | None, params: Params, settings: Settings
) -> Response:
    query = params["query"]
    return await comments.list_comments(params["slug"], query, reads, viewer, settings)


async def _profile(
    reads: Reads, viewer: Viewer | None, params: Params, _settings: Settings
) -> Response:
    return await profiles.get_profile(params["username"], reads, viewer)


async def _tags(
    reads: Reads, viewer: Viewer | None, _params: Params, _settings: Settings
) -> Response:
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
        return ARTICLES, _list, QUERY_PARAMS[ARTICLES].parse(scope["query_string"])
    if path == FEED:
        return FEED, _feed, QUERY_PARAMS[FEED].parse(scope["query_string"])
    if path == TAGS:
        return TAGS, _tags, {}
    if path.startswith(ARTICLE_PREFIX):
        slug = path[len(ARTICLE_PREFIX) :]
        if slug and "/" not in slug:
            return SINGLE_ARTICLE, _single, {"slug": slug}
        slug = slug.removesuffix(COMMENTS_SUFFIX)
        if path.endswith(COMMENTS_SUFFIX) and slug and "/" not in slug:
            query = QUERY_PARAMS[COMMENTS].parse(scope["query_string"])
            return COMMENTS, _comments, {"slug": slug, "query": query}
    if path.startswith(PROFILE_PREFIX):
        username = path[len(PROFILE_PREFIX) :]
        if username and "/" not in username:
            return PROFILE, _profile, {"username": username}
    return None


class HotReadsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        validators: Validators | None,
        commit_state: freshness.SharedCommitState | None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.validators = validators  # the tags sent: a 304 without the page's read, if fresh
        self.commit_state = commit_state  # anonymous callers' freshness, shared

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            route = _route(scope)
        except NotPlain:
            route = None
        if route is None:
            await self.app(scope, receive, send)
            return
        template, handler, params = route
        scope[ROUTE_KEY] = template
        authorization, if_none_match = request_headers(scope)
        fresh: Validated | None = None
        try:
            token = parse_authorization(authorization)
            if token is not None and credentials.is_api_key(token):  # as deps.limit_writes
                await ratelimits.limit_api_key(Request(scope), credentials.key_id_of(token))
            async with open_reads(scope["app"].state) as reads:
                viewer = await viewer_for(scope["app"].state, reads, token)
                if if_none_match is not None and self.validators is not None:
                    key = request_key(scope, authorization)
                    fresh = await self._fresh(scope, key, reads, viewer, if_none_match)
                if fresh is None:
                    response = await handler(reads, viewer, params, self.settings)
        except DomainError as exc:
            response = domain_error_response(exc)
        if fresh is not None:
            await send_not_modified(send, fresh.not_modified)
            return
        await response(scope, receive, send)

    async def _fresh(
        self, scope: Scope, key: Key, reads: Reads, viewer: Viewer | None, if_none_match: str
    ) -> Validated | None:
        """The remembered tag the client holds, if nothing was committed since it was read;
        otherwise the page is read, marked for the conditional layer to remember its tag at
        the state read just now (src/api/validators.py)."""
        assert self.validators is not None  # noqa: S101 - the caller checked
        if viewer is None and self.commit_state is not None:
            version = await self.commit_state.now()
        else:
            version = await freshness.data_version(reads, viewer)
        if version is None:
            return None
        fresh = self.validators.fresh(key, version, if_none_match)
        if fresh is None:
            scope[SCOPE_KEY] = (key, version)
        return fresh
