"""The HTTP headers the service reads and sends on purpose, declared once.

CORS allows the request headers and exposes the response headers listed here, the OpenAPI
document (src/api/openapi.py) declares the response headers where they are sent, and the
helpers below set `Location` on a 201 and `Allow` on a 405 from the routes themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote
from weakref import WeakKeyDictionary

from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.routing import Match

REQUEST_ID = "X-Request-ID"
LOCATION = "Location"
RETRY_AFTER = "Retry-After"
WWW_AUTHENTICATE = "WWW-Authenticate"
ALLOW = "Allow"
# The IETF draft's structured fields (draft-ietf-httpapi-ratelimit-headers; src/api/ratelimits.py
# sends them); a browser client reads them only if CORS exposes them.
RATE_LIMIT_POLICY = "RateLimit-Policy"
RATE_LIMIT = "RateLimit"
RATE_LIMIT_HEADERS = (RATE_LIMIT_POLICY, RATE_LIMIT)
# Conditional requests (src/api/asgi/conditional.py, src/api/etags.py).
ETAG = "ETag"
IF_NONE_MATCH = "If-None-Match"
IF_MATCH = "If-Match"
CACHE_CONTROL = "Cache-Control"
VARY = "Vary"
# The content codings the compression layer may apply (src/main.py): a tag names its coding.
CODINGS = ("zstd", "br", "gzip")

# What a browser client may send cross-origin: the CORS preflight allows these.
CLIENT_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    REQUEST_ID,
    "Idempotency-Key",
    IF_NONE_MATCH,
    IF_MATCH,
    "X-Requested-With",
)
# What a browser client may read of a cross-origin response: CORS exposes these.
EXPOSED_RESPONSE_HEADERS = (
    RETRY_AFTER,
    REQUEST_ID,
    LOCATION,
    ETAG,
    "Link",
    WWW_AUTHENTICATE,
    *RATE_LIMIT_HEADERS,
    "Idempotent-Replayed",  # a retry's answer is the stored first one (src/api/asgi/idempotency.py)
)


def location(request: Request, route: Callable[..., Any], **path_params: str | int) -> str:
    """`Location` of a created resource: the path of `route` (a route function) with these
    parameters, percent-encoded, under the app's root path."""
    encoded = {name: quote(str(value), safe="") for name, value in path_params.items()}
    # The route's own template (its parameters are plain `{name}`), filled in: url_path_for
    # would match every parameter's convertor again for each created resource.
    path: str = _named_route(request.app, route.__name__).path_format.format_map(encoded)
    return str(request.scope.get("root_path", "")).rstrip("/") + path


_routes_by_name: WeakKeyDictionary[Any, dict[str, Any]] = WeakKeyDictionary()


def _named_route(app: Any, name: str) -> Any:
    """The app's route called `name`, found once: `url_for` would try every route, each
    one that is not it raising on the way, for every created resource."""
    found = _routes_by_name.setdefault(app, {})
    if name not in found:
        found[name] = next(r for r in iter_route_contexts(app.routes) if r.name == name)
    return found[name]


def allowed_methods(request: Request) -> str:
    """`Allow` for a 405: every method of the path template the router picks for this path
    (the router names only its first route's, e.g. GET for `/api/user` though PUT is there
    too); `/api/articles/feed` is the feed's template, not `/api/articles/{slug}`'s."""
    scope = {**request.scope, "type": "http"}
    template: str | None = None
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if template is not None and route.path != template:
            continue
        match, _ = route.matches(scope)
        if match is not Match.NONE and route.methods:
            template = route.path
            methods |= route.methods
    return ", ".join(sorted(methods))
