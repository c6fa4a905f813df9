"""The generated OpenAPI document matches the official RealWorld one where clients rely on it."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from src.services import scopes
from tests.factories import auth, create_article, register

# The 19 operationIds of the official RealWorld openapi.yml (generated clients use them).
OFFICIAL_OPERATION_IDS = frozenset(
    {
        "Login",
        "CreateUser",
        "GetCurrentUser",
        "UpdateCurrentUser",
        "GetProfileByUsername",
        "FollowUserByUsername",
        "UnfollowUserByUsername",
        "GetArticlesFeed",
        "GetArticles",
        "CreateArticle",
        "GetArticle",
        "UpdateArticle",
        "DeleteArticle",
        "GetArticleComments",
        "CreateArticleComment",
        "DeleteArticleComment",
        "CreateArticleFavorite",
        "DeleteArticleFavorite",
        "GetTags",
    }
)
# The operations the official document marks with `security: [Token: []]`.
PROTECTED_OPERATION_IDS = frozenset(
    {
        "GetCurrentUser",
        "UpdateCurrentUser",
        "FollowUserByUsername",
        "UnfollowUserByUsername",
        "GetArticlesFeed",
        "CreateArticle",
        "UpdateArticle",
        "DeleteArticle",
        "CreateArticleComment",
        "DeleteArticleComment",
        "CreateArticleFavorite",
        "DeleteArticleFavorite",
    }
)
# Operations the official document answers with something other than 200.
SUCCESS_STATUS = {
    "CreateUser": "201",
    "CreateArticle": "201",
    "CreateArticleComment": "201",
    "DeleteArticle": "204",
    "DeleteArticleComment": "204",
    "Logout": "204",  # ends the session, nothing to return
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head"}
# The error statuses spec 2.0.0 lists per operation (each also lists 422); ours declares each.
SPEC_ERRORS = {
    "Login": {"401"},
    "CreateUser": {"409"},
    "GetCurrentUser": {"401"},
    "UpdateCurrentUser": {"401"},
    "GetProfileByUsername": {"401", "404"},
    "FollowUserByUsername": {"401", "404"},
    "UnfollowUserByUsername": {"401", "404"},
    "GetArticlesFeed": {"401"},
    "GetArticles": {"401"},
    "CreateArticle": {"401", "409"},
    "GetArticle": {"404"},
    "UpdateArticle": {"401", "403", "404"},
    "DeleteArticle": {"401", "403", "404"},
    "GetArticleComments": {"401", "404"},
    "CreateArticleComment": {"401", "404"},
    "DeleteArticleComment": {"401", "403", "404"},
    "CreateArticleFavorite": {"401", "404"},
    "DeleteArticleFavorite": {"401", "404"},
    "GetTags": set(),
}


# Anyone may make these reads; a token, when sent, personalises them (following, favorited).
PUBLIC_READS = frozenset(
    {"GetArticles", "GetArticle", "GetArticleComments", "GetProfileByUsername", "GetTags"}
)
# The resource each operation's 403 and 404 are about (the key of the spec's envelope).
RESOURCE = {
    "GetProfileByUsername": "profile",
    "FollowUserByUsername": "profile",
    "UnfollowUserByUsername": "profile",
    "GetArticle": "article",
    "UpdateArticle": "article",
    "DeleteArticle": "article",
    "CreateArticleFavorite": "article",
    "DeleteArticleFavorite": "article",
    "GetArticleComments": "article",
    "CreateArticleComment": "article",
    "DeleteArticleComment": "comment",
    "AdminDeactivateUser": "user",
    "AdminReactivateUser": "user",
}


def _path_of(document: dict[str, Any], operation_id: str) -> str:
    for path, item in document["paths"].items():
        if any(operation.get("operationId") == operation_id for operation in item.values()):
            return str(path)
    raise LookupError(operation_id)


def example(operation: dict[str, Any], status: str) -> dict[str, list[str]]:
    """The error envelope's fields the operation documents for this status."""
    errors: dict[str, list[str]] = operation["responses"][status]["content"]["application/json"][
        "example"
    ]["errors"]
    return errors


def inputs(document: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    """The names of the operation's parameters and of its body's fields (inside the wrapper)."""
    names = {parameter["name"] for parameter in operation.get("parameters", [])}
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if media is not None:
        wrapper = _schema(document, media["schema"])
        for reference in wrapper["properties"].values():
            names |= set(_schema(document, reference)["properties"])
    return names


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return found


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """operationId -> operation object, over every path and method."""
    found: dict[str, dict[str, Any]] = {}
    for path_item in document["paths"].values():
        for method, operation in path_item.items():
            if method in HTTP_METHODS:
                assert operation["operationId"] not in found, operation["operationId"]
                found[operation["operationId"]] = operation
    return found


async def test_the_document_declares_the_token_security_scheme(
    openapi_document: dict[str, Any],
) -> None:
    scheme = openapi_document["components"]["securitySchemes"]["Token"]

    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header"
    assert scheme["name"] == "Authorization"


async def test_the_token_and_api_key_are_the_only_security_schemes(
    openapi_document: dict[str, Any],
) -> None:
    schemes = openapi_document["components"]["securitySchemes"]
    assert set(schemes) == {"Token", "ApiKey"}
    assert schemes["ApiKey"]["type"] == "http" and schemes["ApiKey"]["scheme"] == "bearer"


async def test_every_official_operation_id_is_there(openapi_document: dict[str, Any]) -> None:
    assert set(operations(openapi_document)) >= OFFICIAL_OPERATION_IDS


async def test_every_operation_id_is_chosen_not_generated(openapi_document: dict[str, Any]) -> None:
    # Operations beyond the official ones (admin, ...) name themselves the same way: PascalCase,
    # set with operation_id=..., never FastAPI's `handler_api_path_method` default.
    for operation_id in operations(openapi_document):
        assert operation_id.isidentifier(), operation_id
        assert operation_id[0].isupper() and "_" not in operation_id, operation_id


@pytest.mark.parametrize("operation_id", sorted(PROTECTED_OPERATION_IDS))
async def test_every_protected_operation_declares_the_token_scheme(
    openapi_document: dict[str, Any], operation_id: str
) -> None:
    operation = operations(openapi_document)[operation_id]

    assert {"Token": []} in operation.get("security", [])
    assert "401" in operation["responses"]


async def test_login_and_registration_need_no_token(openapi_document: dict[str, Any]) -> None:
    found = operations(openapi_document)

    for operation_id in ("Login", "CreateUser", "RefreshSession"):
        assert "security" not in found[operation_id], operation_id


@pytest.mark.parametrize("operation_id", sorted(PUBLIC_READS))
async def test_public_reads_declare_the_token_optional(
    openapi_document: dict[str, Any], operation_id: str
) -> None:
    operation = operations(openapi_document)[operation_id]

    assert operation["security"] == [{}, {"Token": []}, {"ApiKey": ["read"]}]
    assert set(example(operation, "401")) == {"token"}


async def test_every_other_operation_that_takes_a_token_requires_it(
    openapi_document: dict[str, Any],
) -> None:
    for operation_id, operation in operations(openapi_document).items():
        if operation_id not in PUBLIC_READS and "security" in operation:
            token, *key = operation["security"]
            assert token == {"Token": []}, operation_id
            # A route an API key may call names the one scope it needs (src/services/scopes.py).
            assert key in ([], *([{"ApiKey": [scope]}] for scope in scopes.ALL)), operation_id


@pytest.mark.parametrize("operation_id", sorted(PUBLIC_READS))
async def test_public_reads_answer_an_anonymous_caller(
    client: AsyncClient, openapi_document: dict[str, Any], operation_id: str
) -> None:
    author = await register(client)
    article = await create_article(client, author)
    path = _path_of(openapi_document, operation_id).format(
        username=author.username, slug=article["slug"]
    )

    response = await client.get(path)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("operation_id", "status"), sorted(SUCCESS_STATUS.items()))
async def test_creations_answer_201_and_deletions_204(
    openapi_document: dict[str, Any], operation_id: str, status: str
) -> None:
    responses = operations(openapi_document)[operation_id]["responses"]

    assert status in responses
    assert "200" not in responses


async def test_every_other_operation_answers_200(openapi_document: dict[str, Any]) -> None:
    for operation_id, operation in operations(openapi_document).items():
        if operation_id in OFFICIAL_OPERATION_IDS and operation_id not in SUCCESS_STATUS:
            assert "200" in operation["responses"], operation_id


@pytest.mark.parametrize(("operation_id", "statuses"), sorted(SPEC_ERRORS.items()))
async def test_every_error_status_of_the_spec_is_declared(
    openapi_document: dict[str, Any], operation_id: str, statuses: set[str]
) -> None:
    assert statuses | {"422"} <= set(operations(openapi_document)[operation_id]["responses"])


async def test_a_taken_account_is_declared_409_at_registration_and_422_on_update(
    openapi_document: dict[str, Any],
) -> None:
    found = operations(openapi_document)

    assert "409" in found["CreateUser"]["responses"]
    # On update only a retry racing its first request (Idempotency-Key) is 409; a taken name is 422.
    conflict = found["UpdateCurrentUser"]["responses"]["409"]["content"]["application/json"]
    assert list(conflict["example"]["errors"]) == ["Idempotency-Key"]


async def test_documented_errors_use_the_realworld_envelope(
    openapi_document: dict[str, Any],
) -> None:
    for operation_id, operation in operations(openapi_document).items():
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (
                    operation_id,
                    status,
                )
    assert "HTTPValidationError" not in openapi_document["components"]["schemas"]


async def test_the_docs_page_is_served(client: AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert "/openapi.json" in response.text


# ------------------------------------------------------------------ each operation's examples


@pytest.mark.parametrize(("operation_id", "resource"), sorted(RESOURCE.items()))
async def test_every_403_and_404_example_names_the_operations_resource(
    openapi_document: dict[str, Any], operation_id: str, resource: str
) -> None:
    operation = operations(openapi_document)[operation_id]

    for status in ("403", "404"):
        if status in operation["responses"]:
            assert set(example(operation, status)) == {resource}, status


async def test_every_422_example_names_an_input_of_its_operation(
    openapi_document: dict[str, Any],
) -> None:
    for operation_id, operation in operations(openapi_document).items():
        own = inputs(openapi_document, operation) | {RESOURCE.get(operation_id)}
        fields = set(example(operation, "422"))
        # An operation whose inputs cannot be invalid shows the refusal any path can get.
        assert fields <= own or fields == {"path"}, (operation_id, fields)
        assert "{input}" not in fields and "{about}" not in fields


# A request each operation answers 404, the way a client would send it.
MISSING = {
    "GetProfileByUsername": ("GET", "/api/profiles/nobody", None),
    "FollowUserByUsername": ("POST", "/api/profiles/nobody/follow", None),
    "UnfollowUserByUsername": ("DELETE", "/api/profiles/nobody/follow", None),
    "GetArticle": ("GET", "/api/articles/no-such-article", None),
    "UpdateArticle": ("PUT", "/api/articles/no-such-article", {"article": {"title": "New"}}),
    "DeleteArticle": ("DELETE", "/api/articles/no-such-article", None),
    "CreateArticleFavorite": ("POST", "/api/articles/no-such-article/favorite", None),
    "DeleteArticleFavorite": ("DELETE", "/api/articles/no-such-article/favorite", None),
    "GetArticleComments": ("GET", "/api/articles/no-such-article/comments", None),
    "CreateArticleComment": (
        "POST",
        "/api/articles/no-such-article/comments",
        {"comment": {"body": "Hi"}},
    ),
    "DeleteArticleComment": ("DELETE", "/api/articles/{slug}/comments/2147483647", None),
}


@pytest.mark.parametrize("operation_id", sorted(MISSING))
async def test_a_404_answers_what_its_operation_documents(
    client: AsyncClient, openapi_document: dict[str, Any], operation_id: str
) -> None:
    user = await register(client)
    article = await create_article(client, user)
    method, path, body = MISSING[operation_id]

    response = await client.request(
        method, path.format(slug=article["slug"]), json=body, headers=user.headers
    )

    assert response.status_code == 404, response.text
    assert response.json()["errors"] == example(operations(openapi_document)[operation_id], "404")


# A request each operation answers 422 for the input its example names.
INVALID = {
    "CreateUser": ("POST", "/api/users", {"user": {"email": "a@b.io", "password": "x" * 12}}),
    "Login": ("POST", "/api/users/login", {"user": {"password": "x" * 12}}),
    "RefreshSession": ("POST", "/api/users/refresh", {"user": {}}),
    "UpdateCurrentUser": ("PUT", "/api/user", {"user": {"email": ""}}),
    "GetArticles": ("GET", "/api/articles?limit=ten", None),
    "GetArticlesFeed": ("GET", "/api/articles/feed?limit=ten", None),
    "CreateArticle": ("POST", "/api/articles", {"article": {"description": "d", "body": "b"}}),
    "UpdateArticle": ("PUT", "/api/articles/{slug}", {"article": {"title": ""}}),
    "CreateArticleComment": ("POST", "/api/articles/{slug}/comments", {"comment": {}}),
    "DeleteArticleComment": ("DELETE", "/api/articles/{slug}/comments/one", None),
    "FollowUserByUsername": ("POST", "/api/profiles/{username}/follow", None),
}


@pytest.mark.parametrize("operation_id", sorted(INVALID))
async def test_a_422_answers_what_its_operation_documents(
    client: AsyncClient, openapi_document: dict[str, Any], operation_id: str
) -> None:
    user = await register(client)
    article = await create_article(client, user)
    method, path, body = INVALID[operation_id]
    path = path.format(slug=article["slug"], username=user.username)

    response = await client.request(method, path, json=body, headers=auth(user.token))

    assert response.status_code == 422, response.text
    assert response.json()["errors"] == example(operations(openapi_document)[operation_id], "422")


async def test_an_article_update_declares_no_null_since_null_is_refused(
    client: AsyncClient, openapi_document: dict[str, Any]
) -> None:
    author = await register(client)
    article = await create_article(client, author)
    body = operations(openapi_document)["UpdateArticle"]["requestBody"]["content"][
        "application/json"
    ]
    fields = _schema(
        openapi_document, _schema(openapi_document, body["schema"])["properties"]["article"]
    )

    for name, schema in fields["properties"].items():
        assert "null" not in str(schema), name
        response = await client.put(
            f"/api/articles/{article['slug']}",
            json={"article": {name: None}},
            headers=author.headers,
        )
        assert response.status_code == 422, name
