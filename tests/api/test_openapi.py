"""The generated OpenAPI document matches the official RealWorld one where clients rely on it."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

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
    "Logout": "204",  # issue 3: ends the session, nothing to return
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


@pytest.fixture
async def document(client: AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """operationId -> operation object, over every path and method."""
    found: dict[str, dict[str, Any]] = {}
    for path_item in document["paths"].values():
        for method, operation in path_item.items():
            if method in HTTP_METHODS:
                assert operation["operationId"] not in found, operation["operationId"]
                found[operation["operationId"]] = operation
    return found


async def test_the_document_declares_the_token_security_scheme(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["Token"]

    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header"
    assert scheme["name"] == "Authorization"


async def test_the_token_scheme_is_the_only_security_scheme(document: dict[str, Any]) -> None:
    assert set(document["components"]["securitySchemes"]) == {"Token"}


async def test_every_official_operation_id_is_there(document: dict[str, Any]) -> None:
    assert set(operations(document)) >= OFFICIAL_OPERATION_IDS


async def test_every_operation_id_is_chosen_not_generated(document: dict[str, Any]) -> None:
    # Operations beyond the official ones (admin, ...) name themselves the same way: PascalCase,
    # set with operation_id=..., never FastAPI's `handler_api_path_method` default.
    for operation_id in operations(document):
        assert operation_id.isidentifier(), operation_id
        assert operation_id[0].isupper() and "_" not in operation_id, operation_id


@pytest.mark.parametrize("operation_id", sorted(PROTECTED_OPERATION_IDS))
async def test_every_protected_operation_declares_the_token_scheme(
    document: dict[str, Any], operation_id: str
) -> None:
    operation = operations(document)[operation_id]

    assert {"Token": []} in operation.get("security", [])
    assert "401" in operation["responses"]


async def test_login_and_registration_need_no_token(document: dict[str, Any]) -> None:
    found = operations(document)

    for operation_id in ("Login", "CreateUser", "GetTags"):
        assert "security" not in found[operation_id], operation_id


@pytest.mark.parametrize(("operation_id", "status"), sorted(SUCCESS_STATUS.items()))
async def test_creations_answer_201_and_deletions_204(
    document: dict[str, Any], operation_id: str, status: str
) -> None:
    responses = operations(document)[operation_id]["responses"]

    assert status in responses
    assert "200" not in responses


async def test_every_other_operation_answers_200(document: dict[str, Any]) -> None:
    for operation_id, operation in operations(document).items():
        if operation_id in OFFICIAL_OPERATION_IDS and operation_id not in SUCCESS_STATUS:
            assert "200" in operation["responses"], operation_id


@pytest.mark.parametrize(("operation_id", "statuses"), sorted(SPEC_ERRORS.items()))
async def test_every_error_status_of_the_spec_is_declared(
    document: dict[str, Any], operation_id: str, statuses: set[str]
) -> None:
    assert statuses | {"422"} <= set(operations(document)[operation_id]["responses"])


async def test_a_taken_account_is_declared_409_at_registration_and_422_on_update(
    document: dict[str, Any],
) -> None:
    found = operations(document)

    assert "409" in found["CreateUser"]["responses"]
    assert "409" not in found["UpdateCurrentUser"]["responses"]


async def test_documented_errors_use_the_realworld_envelope(document: dict[str, Any]) -> None:
    for operation_id, operation in operations(document).items():
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (
                    operation_id,
                    status,
                )
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_the_docs_page_is_served(client: AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert "/openapi.json" in response.text
