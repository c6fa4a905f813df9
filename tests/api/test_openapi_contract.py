"""The OpenAPI document as a product: valid, complete, and committed as docs/openapi.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.api.test_openapi import operations
from tests.cli import Conduit

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"
REGENERATE = "run `.venv/bin/conduit openapi --output docs/openapi.json` and commit the result"
# Statuses every /api operation can answer: bad input, a rate limit, the database down.
EVERY_API_OPERATION = ("422", "429", "503")


def api_operations(document: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """operationId -> (path, operation) for the operations under /api."""
    found = {}
    for path, item in document["paths"].items():
        for operation in item.values():
            if isinstance(operation, dict) and "operationId" in operation:
                found[operation["operationId"]] = (path, operation)
    return {op_id: entry for op_id, entry in found.items() if entry[0].startswith("/api/")}


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    schema = resolve(document, media.get("schema", {}))
    return bool(media.get("example") or media.get("examples") or schema.get("examples"))


async def test_the_document_is_valid_openapi(openapi_document: dict[str, Any]) -> None:
    validate(openapi_document)  # raises with the offending path when it is not


async def test_every_operation_has_a_summary_a_description_and_a_tag(
    openapi_document: dict[str, Any],
) -> None:
    for operation_id, operation in operations(openapi_document).items():
        assert operation.get("summary"), operation_id
        assert operation.get("description"), operation_id
        assert len(operation.get("tags", [])) == 1, operation_id


async def test_every_request_body_has_an_example(openapi_document: dict[str, Any]) -> None:
    for operation_id, operation in operations(openapi_document).items():
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            # An image upload's bytes have no example a document could carry.
            if media_type == "application/json":
                assert has_example(openapi_document, media), operation_id


async def test_every_response_with_a_body_has_an_example(openapi_document: dict[str, Any]) -> None:
    for operation_id, operation in operations(openapi_document).items():
        for status, response in operation["responses"].items():
            for media in response.get("content", {}).values():
                assert has_example(openapi_document, media), (operation_id, status)


async def test_every_api_operation_declares_bad_input_rate_limits_and_outages(
    openapi_document: dict[str, Any],
) -> None:
    for operation_id, (_path, operation) in api_operations(openapi_document).items():
        for status in EVERY_API_OPERATION:
            assert status in operation["responses"], (operation_id, status)


async def test_operations_that_take_a_body_declare_the_size_limit(
    openapi_document: dict[str, Any],
) -> None:
    with_body = {op_id for op_id, op in operations(openapi_document).items() if "requestBody" in op}

    assert {"Login", "CreateUser", "UpdateCurrentUser", "CreateArticle"} <= with_body
    for operation_id in with_body:
        assert "413" in operations(openapi_document)[operation_id]["responses"], operation_id


async def test_operations_that_accept_a_token_declare_401(openapi_document: dict[str, Any]) -> None:
    for operation_id, operation in operations(openapi_document).items():
        if operation.get("security"):
            assert "401" in operation["responses"], operation_id


async def test_error_examples_use_the_envelope(openapi_document: dict[str, Any]) -> None:
    responses = operations(openapi_document)["UpdateArticle"]["responses"]

    for status in ("401", "403", "404", "409", "413", "422", "429", "503"):
        example = responses[status]["content"]["application/json"]["example"]
        assert set(example) == {"errors"}, status
        assert all(isinstance(messages, list) for messages in example["errors"].values())


def declared_headers(document: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """A response's headers, name -> Header Object, references resolved."""
    found = {}
    for name, header in response.get("headers", {}).items():
        if "$ref" in header:
            header = document["components"]["headers"][header["$ref"].rsplit("/", 1)[-1]]
        found[name] = header
    return found


async def test_every_response_declares_its_request_id(openapi_document: dict[str, Any]) -> None:
    for operation_id, operation in operations(openapi_document).items():
        for status, response in operation["responses"].items():
            header = declared_headers(openapi_document, response).get("X-Request-ID")
            assert header is not None and header["required"], (operation_id, status)


@pytest.mark.parametrize(
    ("status", "header"),
    [
        ("201", "Location"),
        ("401", "WWW-Authenticate"),
        ("429", "Retry-After"),
        ("503", "Retry-After"),
    ],
)
async def test_the_headers_sent_on_purpose_are_declared_where_they_are_sent(
    openapi_document: dict[str, Any], status: str, header: str
) -> None:
    declared = [
        declared_headers(openapi_document, operation["responses"][status])
        for operation in operations(openapi_document).values()
        if status in operation["responses"]
    ]

    assert declared
    for headers in declared:
        assert headers[header]["required"] is True
        assert headers[header]["schema"]["type"] in {"string", "integer"}


async def test_the_committed_document_is_what_the_app_serves(
    openapi_document: dict[str, Any],
) -> None:
    assert COMMITTED.exists(), f"docs/openapi.json is missing: {REGENERATE}"
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))

    assert committed == openapi_document, (
        f"docs/openapi.json differs from the served document: {REGENERATE}"
    )


def test_conduit_openapi_writes_the_document(conduit: Conduit, tmp_path: Path) -> None:
    output = tmp_path / "out" / "openapi.json"

    result = conduit.invoke("openapi", "--output", str(output))

    assert result.exit_code == 0, result.output
    assert output.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8"), REGENERATE


def test_conduit_openapi_prints_the_document_without_output(conduit: Conduit) -> None:
    result = conduit.invoke("openapi")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["info"]["title"] == "Conduit API"
