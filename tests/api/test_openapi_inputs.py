"""Request bodies: what the document says a field accepts is what the app accepts.

Generated clients and schema fuzzing take the document at its word; a value it admits and the
app refuses (or the other way round) is a bug in one of them.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated, Any

import pytest
from httpx import AsyncClient
from pydantic import StringConstraints, TypeAdapter

from src.api.schemas.base import NOT_BLANK_PATTERN, WHITESPACE, WHITESPACE_CLASS
from src.services import messages
from tests.api.test_openapi import operations
from tests.factories import create_article, register, unique

# Text that says nothing: the spec's `can't be blank`, however it is spaced.
BLANK_VALUES = ("", " \t\u3000\n ", "\x85\u2028")
# Text fields a blank value does not refuse: it clears them (bio, image), or it is an opaque
# token whose value decides (a blank refresh token is an unknown one: 401).
NOT_REQUIRED_TEXT = frozenset({"bio", "image", "refreshToken"})
# How a client sends each operation whose body has required text.
SENT = {
    "CreateUser": ("POST", "/api/users"),
    "Login": ("POST", "/api/users/login"),
    "UpdateCurrentUser": ("PUT", "/api/user"),
    "DeleteCurrentUser": ("DELETE", "/api/user"),
    "CreateArticle": ("POST", "/api/articles"),
    "UpdateArticle": ("PUT", "/api/articles/{slug}"),
    "CreateArticleComment": ("POST", "/api/articles/{slug}/comments"),
    "CreateApiKey": ("POST", "/api/user/keys"),
    "CreateWebhook": ("POST", "/api/user/webhooks"),
    "UpdateWebhook": ("PUT", "/api/user/webhooks/1"),
    "RequestPasswordReset": ("POST", "/api/users/password-reset"),
    "ConfirmPasswordReset": ("POST", "/api/users/password-reset/confirm"),
    "VerifyEmail": ("POST", "/api/users/verify-email"),
}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def body_fields(
    document: dict[str, Any], operation: dict[str, Any]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The body's wrapper name, its fields' schemas and the operation's example fields."""
    media = operation["requestBody"]["content"]["application/json"]
    body = _resolve(document, media["schema"])
    ((wrapper, reference),) = body["properties"].items()
    fields = _resolve(document, reference)["properties"]
    return wrapper, fields, body["examples"][0][wrapper]


def examples(document: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    """Every example of the body's fields: the whole body's and the wrapper property's."""
    media = operation["requestBody"]["content"]["application/json"]
    body = _resolve(document, media["schema"])
    ((wrapper, reference),) = body["properties"].items()
    found: list[dict[str, Any]] = [whole[wrapper] for whole in body["examples"]]
    found.extend(reference.get("examples", []))
    return found


def text_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], bool] | None:
    """A field's string schema (its items', for a list of text) and whether it is a list."""
    for candidate in (schema, *schema.get("anyOf", ())):
        if candidate.get("type") == "string":
            return candidate, False
        if candidate.get("type") == "array" and candidate["items"].get("type") == "string":
            return candidate["items"], True
    return None


def string_of(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    text = text_schema(schema)
    assert text is not None, schema
    return text


def required_text(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    """name -> string schema of the body fields that must say something when sent."""
    if "application/json" not in operation.get("requestBody", {}).get("content", {}):
        return {}
    _, fields, _ = body_fields(document, operation)
    found = {}
    for name, schema in fields.items():
        text = text_schema(schema)
        # An enum admits only its own values, none of them blank.
        if text is not None and name not in NOT_REQUIRED_TEXT and "enum" not in text[0]:
            found[name] = text[0]
    return found


def admits(schema: dict[str, Any], value: str) -> bool:
    """Whether a string schema's length bounds and pattern admit the value."""
    if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
        return False
    return "pattern" not in schema or re.search(schema["pattern"], value) is not None


def test_whitespace_is_one_set_for_stripping_blank_checks_and_the_document() -> None:
    stripped = TypeAdapter(Annotated[str, StringConstraints(strip_whitespace=True)])
    class_ = re.compile(f"[{WHITESPACE_CLASS}]")
    surrogates = range(0xD800, 0xE000)
    every = (chr(code) for code in range(sys.maxunicode + 1) if code not in surrogates)

    for character in every:
        is_space = character in WHITESPACE
        assert (stripped.validate_python(character) == "") is is_space, hex(ord(character))
        assert (class_.fullmatch(character) is not None) is is_space, hex(ord(character))
        assert (re.search(NOT_BLANK_PATTERN, character) is None) is is_space, hex(ord(character))


async def test_every_operation_with_required_text_is_sent_below(
    openapi_document: dict[str, Any],
) -> None:
    with_text = {
        operation_id
        for operation_id, operation in operations(openapi_document).items()
        if required_text(openapi_document, operation)
    }

    assert with_text == set(SENT)


async def test_every_required_text_field_declares_that_blank_is_refused(
    openapi_document: dict[str, Any],
) -> None:
    for operation_id, operation in operations(openapi_document).items():
        for name, schema in required_text(openapi_document, operation).items():
            assert schema.get("minLength", 0) >= 1, (operation_id, name)
            assert "pattern" in schema, (operation_id, name)
            for blank in BLANK_VALUES:
                assert not admits(schema, blank), (operation_id, name, blank)


@pytest.mark.parametrize("operation_id", sorted(SENT))
async def test_a_blank_required_text_field_is_refused_as_cant_be_blank(
    client: AsyncClient, openapi_document: dict[str, Any], operation_id: str
) -> None:
    user = await register(client)
    article = await create_article(client, user)
    method, path = SENT[operation_id]
    operation = operations(openapi_document)[operation_id]
    wrapper, fields, example = body_fields(openapi_document, operation)

    for name in required_text(openapi_document, operation):
        for blank in BLANK_VALUES:
            value: Any = [blank] if string_of(fields[name])[1] else blank
            response = await client.request(
                method,
                path.format(slug=article["slug"]),
                json={wrapper: {**example, name: value}},
                headers=user.headers,
            )

            assert response.status_code == 422, (name, blank, response.text)
            assert response.json()["errors"] == {name: [messages.BLANK]}, (name, blank)


async def test_a_user_update_declares_no_null_where_null_is_refused(
    client: AsyncClient, openapi_document: dict[str, Any]
) -> None:
    user = await register(client)
    _, fields, _ = body_fields(openapi_document, operations(openapi_document)["UpdateCurrentUser"])

    for name in ("email", "username", "password"):
        assert "null" not in str(fields[name]), name
        response = await client.put("/api/user", json={"user": {name: None}}, headers=user.headers)
        assert response.status_code == 422, name


# A stripped field, padded past its bound: the document's maxLength counts what is sent.
PADDED = {
    "CreateArticle": ("title", "  " + "t" * 254 + " "),
    "UpdateCurrentUser": ("username", " " + "u" * 38 + "  "),
}


@pytest.mark.parametrize("operation_id", sorted(PADDED))
async def test_a_value_padded_past_its_max_length_is_refused(
    client: AsyncClient, openapi_document: dict[str, Any], operation_id: str
) -> None:
    user = await register(client)
    method, path = SENT[operation_id]
    wrapper, fields, example = body_fields(
        openapi_document, operations(openapi_document)[operation_id]
    )
    name, value = PADDED[operation_id]
    assert len(value.strip()) <= string_of(fields[name])[0]["maxLength"] < len(value)

    response = await client.request(
        method, path, json={wrapper: {**example, name: value}}, headers=user.headers
    )

    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == [name]


async def test_the_registration_and_update_examples_succeed_side_by_side(
    client: AsyncClient, openapi_document: dict[str, Any]
) -> None:
    documented = operations(openapi_document)
    for registration in examples(openapi_document, documented["CreateUser"]):
        response = await client.post("/api/users", json={"user": registration})
        assert response.status_code in (201, 409), response.text  # 409: the other example's
    user = await register(client)

    for update in examples(openapi_document, documented["UpdateCurrentUser"]):
        response = await client.put("/api/user", json={"user": update}, headers=user.headers)
        assert response.status_code == 200, (update, response.text)


# email-validator refuses special-use domains; the document's `not` pattern says which.
EMAILS = {
    "jake@statefarm.com": True,
    "jake@test.example.com": True,
    "jake@dragons.test": False,
    "jake@HOST.LOCAL": False,
    "jake@example.onion": False,
}


async def test_the_document_says_which_email_domains_are_refused(
    client: AsyncClient, openapi_document: dict[str, Any]
) -> None:
    operation = operations(openapi_document)["CreateUser"]
    _, fields, example = body_fields(openapi_document, operation)
    refused = fields["email"]["not"]["pattern"]

    for email, accepted in EMAILS.items():
        assert (re.search(refused, email) is None) is accepted, email
        response = await client.post(
            "/api/users", json={"user": {**example, "username": unique("jake"), "email": email}}
        )
        assert (response.status_code == 201) is accepted, (email, response.text)


IMAGES = {
    "https://i.stack.imgur.com/xHWG8.jpg": True,
    "  HTTP://example.com/a.png ": True,
    "": True,  # clears the image
    "ftp://example.com/a.png": False,
    "https://example.com/a b.png": False,
    "smiley.png": False,
}


async def test_the_document_says_which_images_are_refused(
    client: AsyncClient, openapi_document: dict[str, Any]
) -> None:
    user = await register(client)
    _, fields, _ = body_fields(openapi_document, operations(openapi_document)["UpdateCurrentUser"])
    schema, _ = string_of(fields["image"])

    for image, accepted in IMAGES.items():
        assert admits(schema, image) is accepted, image
        response = await client.put(
            "/api/user", json={"user": {"image": image}}, headers=user.headers
        )
        assert (response.status_code == 200) is accepted, (image, response.text)
