"""Security headers on every response, trusted hosts, HSTS only over HTTPS."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from httpx import ASGITransport, AsyncClient

from src.api.asgi.security_headers import API_CSP, HTML_CSP
from src.core.config import Settings
from src.main import create_app, release_resources
from tests.api.test_http import ALLOWED_ORIGIN
from tests.apps import app_client
from tests.factories import register

COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _assert_common(response: Any) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (response.request.url, name)


async def test_every_kind_of_response_carries_the_security_headers(client: AsyncClient) -> None:
    jake = await register(client)
    responses = [
        await client.get("/api/tags"),
        await client.get("/api/articles/no-such-article"),  # 404
        await client.get("/api/user"),  # 401
        await client.post("/api/users", json={"user": {}}),  # 422
        await client.get("/api/user", headers=jake.headers),
        await client.options(
            "/api/articles",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
            },
        ),
    ]

    for response in responses:
        _assert_common(response)


async def test_json_responses_forbid_loading_anything(client: AsyncClient) -> None:
    response = await client.get("/api/tags")

    assert response.headers["content-security-policy"] == API_CSP
    assert "frame-ancestors 'none'" in API_CSP


async def test_the_docs_pages_keep_their_own_policy_and_cannot_be_framed(
    client: AsyncClient,
) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" not in policy or "script-src 'self'" in policy
    _assert_common(response)


async def test_responses_carrying_tokens_are_never_cached(client: AsyncClient) -> None:
    jake = await register(client)
    registration = await client.post(
        "/api/users",
        json={"user": {"username": "cachey", "email": "c@example.com", "password": "p" * 10}},
    )
    login = await client.post(
        "/api/users/login", json={"user": {"email": jake.email, "password": jake.password}}
    )
    current = await client.get("/api/user", headers=jake.headers)

    for response in (registration, login, current):
        assert response.headers["cache-control"] == "no-store", response.request.url


async def test_no_hsts_over_plain_http(client: AsyncClient) -> None:
    response = await client.get("/api/tags")

    assert "strict-transport-security" not in response.headers


async def test_hsts_over_https(app: Any) -> None:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="https://conduit.test") as c:
        response = await c.get("/api/tags")

    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_hsts_behind_a_trusted_tls_proxy(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"trusted_proxies": ["127.0.0.1"]}))
    transport = ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with AsyncClient(transport=transport, base_url="http://conduit.test") as c:
        proxied = await c.get("/api/tags", headers={"X-Forwarded-Proto": "https"})
    await release_resources(app)

    assert "strict-transport-security" in proxied.headers


async def test_the_proxy_own_x_forwarded_proto_line_is_the_one_believed(
    settings: Settings,
) -> None:
    # A proxy that adds its line after the client's: the last line (its right-most value) wins.
    app = create_app(settings.model_copy(update={"trusted_proxies": ["127.0.0.1"]}))
    transport = ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with AsyncClient(transport=transport, base_url="http://conduit.test") as c:
        over_tls = await c.get(
            "/api/tags", headers=[("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")]
        )
        plain = await c.get(
            "/api/tags", headers=[("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "http")]
        )
    await release_resources(app)

    assert "strict-transport-security" in over_tls.headers
    assert "strict-transport-security" not in plain.headers


async def test_x_forwarded_proto_from_an_untrusted_peer_is_ignored(client: AsyncClient) -> None:
    response = await client.get("/api/tags", headers={"X-Forwarded-Proto": "https"})

    assert "strict-transport-security" not in response.headers


async def test_only_trusted_hosts_are_served(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"trusted_hosts": ["api.example.com", "*.conduit.test"]})
    )
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://api.example.com") as c:
        allowed = await c.get("/api/tags")
        wildcard = await c.get("/api/tags", headers={"Host": "eu.conduit.test:8000"})
        foreign = await c.get("/api/tags", headers={"Host": "evil.example.net"})
    await release_resources(app)

    assert allowed.status_code == 200
    assert wildcard.status_code == 200
    assert foreign.status_code == 400
    assert foreign.json() == {"errors": {"host": ["host is not allowed"]}}


def test_list_settings_are_read_from_comma_separated_environment_values(
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("TRUSTED_HOSTS", "a.example.com, b.example.com")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8")

    settings = Settings()

    assert settings.trusted_hosts == ["a.example.com", "b.example.com"]
    assert settings.trusted_proxies == ["10.0.0.0/8"]


async def test_headers_a_route_chose_are_kept_and_vary_names_origin_once(
    settings: Settings,
) -> None:
    # The edge adds each header only where the response has none (src/api/asgi/edge.py); CORS
    # runs only for requests with an Origin, and the others still get CORS's `Vary: Origin`;
    # an API GET varies by Authorization too (src/api/asgi/conditional.py).
    def add_route(application: FastAPI) -> None:
        @application.get("/api/own-headers")
        async def own_headers() -> Response:
            return Response(
                b"<p>hi</p>",
                media_type="text/html",
                headers={"Vary": "Accept-Encoding", "X-Frame-Options": "SAMEORIGIN"},
            )

    async with app_client(settings, add_route) as http:
        plain = await http.get("/api/own-headers")
        cross = await http.get("/api/own-headers", headers={"Origin": ALLOWED_ORIGIN})

    for response in (plain, cross):
        assert response.headers.get_list("vary") == ["Accept-Encoding, Authorization, Origin"]
        assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
        assert response.headers["content-security-policy"] == HTML_CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert len(response.headers.get_list("x-request-id")) == 1
    assert "access-control-allow-origin" not in plain.headers
    assert cross.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


async def test_a_token_response_is_no_store_even_if_the_route_said_otherwise(
    settings: Settings,
) -> None:
    def add_route(application: FastAPI) -> None:
        @application.get("/api/users/cached")
        async def cached() -> Response:
            return Response(
                b"{}", media_type="application/json", headers={"Cache-Control": "max-age=60"}
            )

    async with app_client(settings, add_route) as http:
        response = await http.get("/api/users/cached")

    assert response.headers.get_list("cache-control") == ["no-store"]
    assert response.headers["content-security-policy"] == API_CSP
