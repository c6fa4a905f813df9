"""Cross-cutting HTTP behaviour: the error envelope everywhere, JSON responses and CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from src.core.config import Settings
from src.main import create_app, release_resources
from tests.factories import article_payload, create_article, register

ALLOWED_ORIGIN = "https://app.example.com"  # the origin conftest configures
OTHER_ORIGIN = "https://evil.example.com"


def assert_error_envelope(response: Response) -> dict[str, list[str]]:
    """The RealWorld shape: {"errors": {field: [message, ...]}} and nothing else."""
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"errors"}, body
    errors: dict[str, list[str]] = body["errors"]
    assert errors, body
    for field, messages in errors.items():
        assert isinstance(field, str)
        assert isinstance(messages, list)
        assert messages
        assert all(isinstance(message, str) for message in messages)
    return errors


def preflight_headers(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }


# ------------------------------------------------------------------ error envelope


@pytest.mark.parametrize("path", ["/api/no-such-thing", "/nowhere", "/api/articles/a/b/c/d"])
async def test_an_unknown_route_answers_404_in_the_error_envelope(
    client: AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 404
    assert assert_error_envelope(response) == {"body": ["not found"]}


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/api/tags"), ("PATCH", "/api/user"), ("PUT", "/api/users/login")],
)
async def test_a_wrong_method_answers_405_in_the_error_envelope(
    client: AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)

    assert response.status_code == 405
    assert assert_error_envelope(response) == {"body": ["method not allowed"]}
    assert "allow" in response.headers


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/api/user", "DELETE, GET, PUT"),
        ("PATCH", "/api/articles", "GET, POST"),
        ("PATCH", "/api/articles/feed", "GET"),
        ("GET", "/api/articles/some-slug/favorite", "DELETE, POST"),
        ("PATCH", "/api/articles/some-slug/comments", "GET, POST"),
        ("PATCH", "/api/profiles/jake/follow", "DELETE, POST"),
        ("PUT", "/api/tags", "GET"),
    ],
)
async def test_a_405_allows_every_method_of_the_path(
    client: AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)

    assert response.status_code == 405
    assert response.headers["allow"] == allowed


async def test_every_documented_path_allows_exactly_its_documented_methods(
    client: AsyncClient, openapi_document: dict[str, Any]
) -> None:
    for template, item in openapi_document["paths"].items():
        path = template.format(slug="some-slug", username="jake", id=1, key_id=1, deliveryId=1)
        documented = {method.upper() for method in item}

        response = await client.request("OPTIONS", path)

        assert response.status_code == 405, path
        assert set(response.headers["allow"].split(", ")) == documented, path


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"user": ', b"", b"\xff\xfe"],
    ids=["garbage", "cut", "empty", "bytes"],
)
async def test_a_body_that_is_not_json_answers_422_in_the_error_envelope(
    client: AsyncClient, content: bytes
) -> None:
    response = await client.post(
        "/api/users", content=content, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    errors = assert_error_envelope(response)
    assert "body" in errors or "user" in errors


async def test_invalid_json_answers_a_clear_message(client: AsyncClient) -> None:
    response = await client.post(
        "/api/users", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.json() == {"errors": {"body": ["is not valid JSON"]}}


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/api/users", {"json": {"user": {}}}),
        ("POST", "/api/users", {"json": {"user": "jake"}}),
        ("POST", "/api/users", {"json": []}),
        ("POST", "/api/users/login", {"json": {"user": {"email": 1, "password": ["x"]}}}),
        ("GET", "/api/articles", {"params": {"limit": "many"}}),
        ("GET", "/api/articles", {"params": {"limit": 0, "offset": -1}}),
        ("GET", "/api/articles", {"params": {"limit": 1000}}),
        ("GET", "/api/articles", {"params": {"tag": "x" * 256}}),
    ],
)
async def test_validation_errors_never_use_fastapis_default_detail_shape(
    client: AsyncClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = await client.request(method, path, **kwargs)

    assert response.status_code == 422
    assert "detail" not in response.json()
    errors = assert_error_envelope(response)
    assert not any("loc" in field or "[" in field for field in errors)


async def test_validation_errors_are_grouped_by_field(client: AsyncClient) -> None:
    response = await client.get("/api/articles", params={"limit": 0, "offset": -1})

    assert response.json() == {
        "errors": {
            "limit": ["must be greater than or equal to 1"],
            "offset": ["must be greater than or equal to 0"],
        }
    }


async def test_authentication_errors_use_the_envelope_and_ask_for_a_token(
    client: AsyncClient,
) -> None:
    missing = await client.get("/api/user")
    malformed = await client.get("/api/user", headers={"Authorization": "Basic abc"})

    for response in (missing, malformed):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Token"
        assert list(assert_error_envelope(response)) == ["token"]


# ------------------------------------------------------------------ content type


async def test_successful_responses_are_json(client: AsyncClient) -> None:
    user = await register(client)
    article = await create_article(client, user)

    responses = [
        await client.get("/api/tags"),
        await client.get("/api/articles"),
        await client.get(f"/api/articles/{article['slug']}"),
        await client.get("/api/user", headers=user.headers),
        await client.get(f"/api/profiles/{user.username}"),
    ]

    for response in responses:
        assert response.status_code == 200, response.request.url
        assert response.headers["content-type"] == "application/json", response.request.url
        assert isinstance(response.json(), dict)


async def test_no_content_responses_have_an_empty_body(client: AsyncClient) -> None:
    user = await register(client)
    article = await create_article(client, user)

    response = await client.delete(f"/api/articles/{article['slug']}", headers=user.headers)

    assert response.status_code == 204
    assert response.content == b""


# ------------------------------------------------------------------ CORS


async def test_a_preflight_from_the_configured_origin_is_allowed(client: AsyncClient) -> None:
    response = await client.options("/api/articles", headers=preflight_headers(ALLOWED_ORIGIN))

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    allowed_headers = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "content-type"} <= allowed_headers
    allowed_methods = {
        m.strip() for m in response.headers["access-control-allow-methods"].split(",")
    }
    assert {"GET", "POST", "PUT", "DELETE"} <= allowed_methods


async def test_a_preflight_may_ask_for_every_header_clients_send(client: AsyncClient) -> None:
    asked = "authorization, content-type, x-request-id, idempotency-key, if-none-match, if-match"
    headers = {**preflight_headers(ALLOWED_ORIGIN, "PUT"), "Access-Control-Request-Headers": asked}

    response = await client.options("/api/articles/some-slug", headers=headers)

    assert response.status_code == 200, response.text
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert set(asked.split(", ")) <= allowed


async def test_responses_expose_the_headers_a_web_client_reads(client: AsyncClient) -> None:
    response = await client.get("/api/tags", headers={"Origin": ALLOWED_ORIGIN})

    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {
        "retry-after",
        "x-request-id",
        "location",
        "etag",
        "link",
        "ratelimit",
        "ratelimit-policy",
    } <= exposed


async def test_a_preflight_for_a_parameterised_route_is_allowed(client: AsyncClient) -> None:
    response = await client.options(
        "/api/articles/some-slug/comments/7", headers=preflight_headers(ALLOWED_ORIGIN, "DELETE")
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


async def test_a_preflight_from_another_origin_gets_no_allow_origin(client: AsyncClient) -> None:
    response = await client.options("/api/articles", headers=preflight_headers(OTHER_ORIGIN))

    assert response.status_code >= 400
    assert "access-control-allow-origin" not in response.headers


async def test_cors_never_uses_credentials_mode(client: AsyncClient) -> None:
    preflight = await client.options("/api/articles", headers=preflight_headers(ALLOWED_ORIGIN))
    simple = await client.get("/api/tags", headers={"Origin": ALLOWED_ORIGIN})

    for response in (preflight, simple):
        assert "access-control-allow-credentials" not in response.headers
        assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


async def test_actual_requests_from_the_configured_origin_carry_the_allow_origin(
    client: AsyncClient,
) -> None:
    ok = await client.get("/api/tags", headers={"Origin": ALLOWED_ORIGIN})
    unauthorized = await client.get("/api/user", headers={"Origin": ALLOWED_ORIGIN})
    not_found = await client.get("/api/articles/nope", headers={"Origin": ALLOWED_ORIGIN})

    for response in (ok, unauthorized, not_found):
        assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "origin" in response.headers["vary"].lower()


async def test_actual_requests_from_another_origin_carry_no_allow_origin(
    client: AsyncClient,
) -> None:
    response = await client.get("/api/tags", headers={"Origin": OTHER_ORIGIN})

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


# ------------------------------------------------------------------ unexpected errors


@pytest.fixture
async def failing_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """A separate app with a route that fails the way a bug would."""
    application = create_app(settings)

    @application.get("/api/boom")
    async def boom() -> None:
        raise RuntimeError("Traceback: secret connection string postgres://admin:hunter2@db")

    yield application
    await release_resources(application)


async def test_an_unexpected_error_answers_500_without_leaking_details(
    failing_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    transport = ASGITransport(app=failing_app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://conduit.test") as http:
        response = await http.get("/api/boom")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"errors": {"body": ["internal server error"]}}
    for leak in ("Traceback", "RuntimeError", "hunter2", "boom"):
        assert leak not in response.text
    # The details go to the log instead.
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info and r.exc_info[1]]
    assert any(isinstance(exc, RuntimeError) and "hunter2" in str(exc) for exc in logged)


async def test_an_unexpected_error_still_carries_the_cors_headers(failing_app: FastAPI) -> None:
    # Without them a browser hides the 500 behind an opaque CORS failure.
    transport = ASGITransport(app=failing_app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://conduit.test") as http:
        response = await http.get("/api/boom", headers={"Origin": ALLOWED_ORIGIN})

    assert response.status_code == 500
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert response.json() == {"errors": {"body": ["internal server error"]}}


# ------------------------------------------------------------------ 201 Created


async def test_registration_answers_201_with_the_new_profile_as_location(
    client: AsyncClient,
) -> None:
    user = await register(client, username="jake-the-dragon")
    response = await client.post(
        "/api/users",
        json={"user": {"username": "Jacob", "email": "jacob@example.com", "password": "x" * 12}},
    )

    assert response.status_code == 201
    assert response.headers["location"] == "/api/profiles/Jacob"
    profile = await client.get(response.headers["location"], headers=user.headers)
    assert profile.json()["profile"]["username"] == "Jacob"


async def test_an_article_created_answers_201_with_its_url_as_location(
    client: AsyncClient,
) -> None:
    author = await register(client)

    response = await client.post(
        "/api/articles", json=article_payload(title="Dragons"), headers=author.headers
    )

    assert response.status_code == 201
    slug = response.json()["article"]["slug"]
    assert response.headers["location"] == f"/api/articles/{slug}"
    read = await client.get(response.headers["location"])
    assert read.json()["article"]["slug"] == slug


async def test_a_comment_created_answers_201_with_its_url_as_location(
    client: AsyncClient,
) -> None:
    author = await register(client)
    article = await create_article(client, author)

    response = await client.post(
        f"/api/articles/{article['slug']}/comments",
        json={"comment": {"body": "Nice"}},
        headers=author.headers,
    )

    assert response.status_code == 201
    comment_id = response.json()["comment"]["id"]
    assert response.headers["location"] == f"/api/articles/{article['slug']}/comments/{comment_id}"
    deleted = await client.delete(response.headers["location"], headers=author.headers)
    assert deleted.status_code == 204
