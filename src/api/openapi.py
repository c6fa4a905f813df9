"""The OpenAPI document the app serves: FastAPI's, finished with what the routes know but
FastAPI does not write down (generated clients and fuzzers take the document at its word).

- Optional authentication. FastAPI marks a security scheme required on every route that
  depends on it; a route that reads the token only when one is sent (it never depends on
  `required_token`) is declared `security: [{}, {Token: []}]`, and its 401 is a bad token's.
- 422 examples are each operation's own: the validation-error mapping's answer to the
  operation's first input (a required body field, a bounded field of an update, an integer
  parameter), or else the NUL-in-path refusal any route gives.
- API keys. Routes an API key may call (src/api/deps.py `require_scope`, and every read) also
  accept the `ApiKey` scheme, with the scope they need named in the requirement.
- The response headers the service sends on purpose, declared once under
  `components.headers` and referenced from every response that carries them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from src.api import http_headers
from src.api.asgi.conditional import API_PREFIX
from src.api.asgi.idempotency import KEYED_METHODS, SECRET_ANSWERS
from src.api.asgi.text_guard import NUL_MESSAGE
from src.api.deps import authorization_header, optional_viewer, required_token, required_viewer
from src.api.error_docs import OWN_INPUT
from src.api.errors import validation_errors
from src.api.idempotency_docs import declare_idempotency
from src.services import messages, scopes

Document = dict[str, Any]

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "options", "head", "trace"})
SCHEME = authorization_header.scheme_name
OPTIONAL_AUTHENTICATION: list[dict[str, list[str]]] = [{}, {SCHEME: []}]
KEY_SCHEME = "ApiKey"
KEY_SCHEME_DOC = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "cdt_<id><random><checksum>",
    "description": "An API key (`Authorization: Bearer cdt_...`) from `POST /api/user/keys`; "
    "it may call a route only with the scope the route names (docs/api-keys.md).",
}
# An optional token is refused only when it is sent and unusable.
BAD_TOKEN = {"token": [messages.TOKEN_INVALID]}

_TEXT = {"type": "string"}
HEADERS: dict[str, dict[str, Any]] = {
    http_headers.REQUEST_ID: {
        "description": "The request's id (the caller's, when short and plain): it names the "
        "request in the service's logs.",
        "required": True,
        "schema": _TEXT,
    },
    http_headers.LOCATION: {
        "description": "The created resource's URL (a path).",
        "required": True,
        "schema": _TEXT,
    },
    http_headers.WWW_AUTHENTICATE: {
        "description": "The scheme to authenticate with: `Token`.",
        "required": True,
        "schema": _TEXT,
    },
    http_headers.RETRY_AFTER: {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    },
    http_headers.ETAG: {
        "description": "The entity tag of this answer (a hash of its identity body; a "
        'compressed body\'s names its coding, `"<hash>-gzip"`). Send it back as `If-None-Match` '
        "to get 304 while nothing changed, or as `If-Match` on a write to refuse (412) if "
        "something did.",
        "required": True,
        "schema": _TEXT,
    },
    http_headers.CACHE_CONTROL: {
        "description": "`private, no-cache` when a token was sent; anonymous reads `no-cache` "
        "or `public, max-age=N` (ANONYMOUS_CACHE_MAX_AGE_SECONDS).",
        "required": True,
        "schema": _TEXT,
    },
    http_headers.RATE_LIMIT_POLICY: {
        "description": "The rate limits this request was counted against (IETF "
        "draft-ietf-httpapi-ratelimit-headers): each policy's name, quota `q` and window `w` "
        'in seconds, e.g. `"writes";q=120;w=60`. Absent when rate limiting is off.',
        "required": False,
        "schema": _TEXT,
    },
    http_headers.RATE_LIMIT: {
        "description": "What is left of each policy in `RateLimit-Policy`: remaining requests "
        '`r` and seconds `t` until the window resets, e.g. `"writes";r=119;t=42`.',
        "required": False,
        "schema": _TEXT,
    },
}
# Every write is counted (per user, or per client and account for login, registration and
# refresh, src/api/ratelimits.py): its responses say so.
LIMITED_METHODS = frozenset({"post", "put", "delete", "patch"})
# Beyond X-Request-ID, which every response carries.
HEADERS_BY_STATUS: dict[str, tuple[str, ...]] = {
    "201": (http_headers.LOCATION,),
    "401": (http_headers.WWW_AUTHENTICATE,),
    "429": (http_headers.RETRY_AFTER,),
    "503": (http_headers.RETRY_AFTER,),
}


def install_openapi(app: FastAPI) -> None:
    """`app.openapi()` (the served /openapi.json, `conduit openapi`) returns the finished
    document; FastAPI still builds and caches it."""
    generate = app.openapi
    finished: Document | None = None

    def openapi() -> Document:
        nonlocal finished
        document = generate()
        if document is not finished:
            finish(document, app)
            finished = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def finish(document: Document, app: FastAPI) -> None:
    operations = _operations(document)
    for route in _api_routes(app):
        operation = operations.get(str(route.operation_id))
        if operation is None:
            continue
        if _token_is_optional(route.dependant):
            operation["security"] = OPTIONAL_AUTHENTICATION
            _set_example(operation, "401", BAD_TOKEN)
        scope = _key_scope(route)
        requirement = {KEY_SCHEME: [scope]}
        if scope is not None and requirement not in operation.setdefault("security", []):
            operation["security"] = [*(operation["security"] or [{SCHEME: []}]), requirement]
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[KEY_SCHEME] = KEY_SCHEME_DOC
    unkeyed = {
        document["paths"][path][method.lower()]["operationId"] for method, path in SECRET_ANSWERS
    }
    keyed = [
        str(route.operation_id)
        for route in _api_routes(app)
        if _writes_as_user(route) and route.operation_id not in unkeyed
    ]
    declare_idempotency(document, operations, keyed)  # Idempotency-Key (before the headers)
    limited = _limited_operations(document)
    conditional = _conditional_operations(document)
    for operation_id, operation in operations.items():
        invalid = _example(operation, "422")
        if invalid is not None and OWN_INPUT in invalid:
            _set_example(operation, "422", _own_invalid_input(document, operation))
        counted = http_headers.RATE_LIMIT_HEADERS if operation_id in limited else ()
        for status, response in operation["responses"].items():
            names = (http_headers.REQUEST_ID, *HEADERS_BY_STATUS.get(status, ()), *counted)
            headers = response.setdefault("headers", {})
            for name in names:
                headers[name] = {"$ref": f"#/components/headers/{name}"}
        if operation_id in conditional:
            _declare_conditional_get(operation)
    document.setdefault("components", {}).setdefault("headers", {}).update(HEADERS)


# A conditional GET (src/api/asgi/conditional.py): If-None-Match in, ETag out, or a 304.
IF_NONE_MATCH_PARAMETER: dict[str, Any] = {
    "name": http_headers.IF_NONE_MATCH,
    "in": "header",
    "required": False,
    "description": "`ETag`s of answers already held (`*` for any): 304 with no body if the "
    "answer would carry one of them (weak comparison: `W/` tags match too).",
    "schema": _TEXT,
}
NOT_MODIFIED = "304"


def _conditional_operations(document: Document) -> set[str]:
    return {
        operation["operationId"]
        for path, item in document.get("paths", {}).items()
        if path.startswith(API_PREFIX)
        for method, operation in item.items()
        if method == "get" and "200" in operation["responses"]
    }


def _declare_conditional_get(operation: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    if all(p.get("name") != http_headers.IF_NONE_MATCH for p in parameters):
        parameters.append(IF_NONE_MATCH_PARAMETER)
    tagged = (http_headers.ETAG, http_headers.CACHE_CONTROL)
    for name in tagged:
        operation["responses"]["200"]["headers"][name] = {"$ref": f"#/components/headers/{name}"}
    refs = {
        name: {"$ref": f"#/components/headers/{name}"}
        for name in (http_headers.REQUEST_ID, *tagged)
    }
    operation["responses"][NOT_MODIFIED] = {
        "description": "Not modified: the `ETag` sent in `If-None-Match` is still current. "
        "No body.",
        "headers": refs,
    }


def _operations(document: Document) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for item in document.get("paths", {}).values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def _limited_operations(document: Document) -> set[str]:
    return {
        operation["operationId"]
        for item in document.get("paths", {}).values()
        for method, operation in item.items()
        if method in LIMITED_METHODS
    }


def _api_routes(app: FastAPI) -> Iterator[APIRoute]:
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema:
            yield route


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _writes_as_user(route: APIRoute) -> bool:
    """A write that needs a signed-in caller: the ones an Idempotency-Key makes safe to retry."""
    writes = bool((route.methods or set()) & KEYED_METHODS)
    return writes and required_token in _calls(route.dependant)


def _token_is_optional(dependant: Dependant) -> bool:
    calls = list(_calls(dependant))
    return authorization_header in calls and required_token not in calls


def _key_scope(route: APIRoute) -> str | None:
    """The scope an API key needs for this route; None when it takes no key. Reads (a viewer
    dependency) need `read`."""
    calls = list(_calls(route.dependant))
    for call in calls:
        scope = getattr(call, "required_scope", None)
        if isinstance(scope, str):
            return scope
    if optional_viewer in calls or required_viewer in calls:
        return scopes.READ
    return None


def _example(operation: dict[str, Any], status: str) -> dict[str, list[str]] | None:
    response = operation["responses"].get(status)
    if response is None:
        return None
    errors: dict[str, list[str]] = response["content"]["application/json"]["example"]["errors"]
    return errors


def _set_example(operation: dict[str, Any], status: str, errors: dict[str, list[str]]) -> None:
    if status in operation["responses"]:
        content = operation["responses"][status]["content"]["application/json"]
        content["example"] = {"errors": errors}


def _own_invalid_input(document: Document, operation: dict[str, Any]) -> dict[str, list[str]]:
    """What the service answers one of the operation's inputs when it is wrong."""
    body_error = _body_error(document, operation)
    if body_error is not None:
        return validation_errors([body_error])
    for parameter in operation.get("parameters", ()):
        if parameter["schema"].get("type") == "integer":
            loc = (parameter["in"], parameter["name"])
            return validation_errors([{"type": "int_parsing", "loc": loc}])
    return {"path": [NUL_MESSAGE]}


def _body_error(document: Document, operation: dict[str, Any]) -> dict[str, Any] | None:
    """A required field left out, else a bounded field sent too short (an update's)."""
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if media is None:
        return None
    for wrapper, reference in _resolve(document, media["schema"]).get("properties", {}).items():
        fields = _resolve(document, reference)
        for name in fields.get("required", ()):
            return {"type": "missing", "loc": ("body", wrapper, name)}
        for name, schema in fields.get("properties", {}).items():
            shortest = _min_length(schema)
            if shortest:
                loc = ("body", wrapper, name)
                return {"type": "string_too_short", "loc": loc, "ctx": {"min_length": shortest}}
    return None


def _resolve(document: Document, schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _min_length(schema: dict[str, Any]) -> int | None:
    for candidate in (schema, *schema.get("anyOf", ())):
        if "minLength" in candidate:
            return int(candidate["minLength"])
    return None
