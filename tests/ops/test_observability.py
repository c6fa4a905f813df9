"""Request ids, structured logs that never leak secrets, health probes and /metrics."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from src import __version__
from src.core.config import Settings
from src.core.logging import configure_logging
from src.core.migrations import PROJECT_ROOT
from src.main import create_app, release_resources
from tests.apps import app_client
from tests.factories import create_article, register
from tests.live import live_server
from tests.ops.tcp_proxy import SilentServer


@pytest.fixture
async def json_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with production-style JSON logs (restored to the session's format after)."""
    app = create_app(settings.model_copy(update={"log_format": "json"}))
    yield app
    await release_resources(app)
    configure_logging(settings)


@pytest.fixture
async def json_client(json_app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=json_app), base_url="http://t") as http:
        yield http


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_request_id_is_echoed_or_generated(client: AsyncClient) -> None:
    given = await client.get("/api/tags", headers={"X-Request-ID": "abc-123.def"})
    assert given.headers["X-Request-ID"] == "abc-123.def"
    generated = await client.get("/api/tags")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    # Anything that could forge a log line is replaced, not echoed.
    forged = await client.get("/api/tags", headers={"X-Request-ID": "x\tinjected=1"})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["X-Request-ID"])
    # Errors and CORS preflights carry it too.
    assert "X-Request-ID" in (await client.get("/api/articles/missing")).headers
    preflight = await client.options(
        "/api/articles",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
    )
    assert "X-Request-ID" in preflight.headers


async def test_json_access_lines_carry_the_request_and_never_a_secret(
    json_client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    password = "Very-Secret-Passw0rd!"
    user = await register(json_client, "logme", password=password)
    login = await json_client.post(
        "/api/users/login", json={"user": {"email": user.email, "password": password}}
    )
    token = login.json()["user"]["token"]
    body_marker = "BODY-CANARY-7d1e"
    created = await json_client.post(
        "/api/articles",
        headers={"Authorization": f"Token {token}", "X-Request-ID": "req-write-1"},
        json={"article": {"title": "Logged", "description": "d", "body": body_marker}},
    )
    assert created.status_code == 201
    await json_client.get("/api/user", headers={"Authorization": f"Bearer {token}"})
    # A failing login: the rejected password must not be logged either.
    await json_client.post(
        "/api/users/login", json={"user": {"email": user.email, "password": password + "x"}}
    )

    out = capsys.readouterr()
    text = out.err + out.out
    for secret in (password, token, user.token, body_marker, "Authorization", "Bearer ", "Token "):
        assert secret not in text
    lines = json_lines(out.err)
    access = [line for line in lines if line["logger"] == "conduit.access"]
    assert len(access) >= 5
    write = next(line for line in access if line.get("request_id") == "req-write-1")
    assert write["method"] == "POST"
    assert write["route"] == "/api/articles"
    assert write["status"] == 201
    assert isinstance(write["duration_ms"], float)
    assert isinstance(write["user_id"], int)
    assert write["client_ip"] == "127.0.0.1"
    assert write["level"] == "INFO" and "timestamp" in write
    assert all(line.get("request_id") for line in access)


@pytest.mark.parametrize(
    ("trusted_proxies", "logged_ip"),
    [
        # The peer is a trusted proxy: the rightmost untrusted hop, as the rate limiter sees it.
        (["127.0.0.1"], "203.0.113.7"),
        # No trusted proxy: the socket peer, whatever the header claims.
        ([], "127.0.0.1"),
    ],
)
async def test_access_log_believes_x_forwarded_for_only_from_a_trusted_proxy(
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    trusted_proxies: list[str],
    logged_ip: str,
) -> None:
    app = create_app(
        settings.model_copy(update={"log_format": "json", "trusted_proxies": trusted_proxies})
    )
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get(  # ASGITransport's peer is 127.0.0.1
                "/api/tags",
                headers={"X-Forwarded-For": "198.51.100.9, 203.0.113.7", "X-Request-ID": "fwd-1"},
            )
    finally:
        await release_resources(app)
        configure_logging(settings)
    assert response.status_code == 200
    lines = json_lines(capsys.readouterr().err)
    access = [line for line in lines if line["logger"] == "conduit.access"]
    assert [line["client_ip"] for line in access if line["request_id"] == "fwd-1"] == [logged_ip]


async def test_an_unexpected_error_is_logged_with_its_type_and_a_trace_id(
    json_app: FastAPI, json_client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    async def explode() -> None:
        raise RuntimeError("kaboom")

    json_app.add_api_route("/test-only/explode", explode)  # a route only this test's app has
    response = await json_client.get("/test-only/explode", headers={"X-Request-ID": "err-1"})
    assert response.status_code == 500
    assert response.json() == {"errors": {"body": ["internal server error"]}}
    assert "kaboom" not in response.text
    lines = [line for line in json_lines(capsys.readouterr().err) if line.get("request_id")]
    error = next(line for line in lines if line["level"] == "ERROR")
    assert error["request_id"] == "err-1"
    assert error["exc_type"] == "RuntimeError"
    assert error["trace_id"] == "err-1"  # the request id, without OpenTelemetry
    assert "kaboom" in str(error["traceback"])


def test_console_format_in_development_json_in_production() -> None:
    assert not Settings(environment="development").log_json
    secret = "s" * 40
    assert Settings(environment="production", secret_key=secret).log_json  # type: ignore[arg-type]
    assert not Settings(
        environment="production",
        secret_key=secret,  # type: ignore[arg-type]
        log_format="console",
    ).log_json


async def test_health_probes(client: AsyncClient) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}


async def _ready_with_redis(settings: Settings, url: str, **more: object) -> Response:
    update = {"redis_url": url, "redis_timeout_seconds": 0.2, **more}
    async with app_client(settings.model_copy(update=update)) as http:
        return await http.get("/health/ready")


async def test_ready_reports_a_refused_redis_as_degraded_and_keeps_serving(
    settings: Settings,
) -> None:
    # Requests are served without Redis (rate limits count per worker): no reason to pull
    # every instance out of the load balancer.
    ready = await _ready_with_redis(settings, "redis://127.0.0.1:1/0")

    assert ready.status_code == 200
    assert ready.json() == {"status": "degraded", "checks": {"database": "ok", "redis": "refused"}}


async def test_ready_reports_a_hung_redis_as_timed_out(settings: Settings) -> None:
    async with SilentServer() as hung:
        ready = await _ready_with_redis(settings, hung.redis_url)

    assert ready.status_code == 200
    assert ready.json()["checks"]["redis"] == "timed out"


async def test_ready_is_503_with_the_reason_when_a_required_redis_fails(settings: Settings) -> None:
    async with SilentServer() as hung:
        ready = await _ready_with_redis(settings, hung.redis_url, redis_required=True)

    assert ready.status_code == 503
    assert ready.headers["Retry-After"] == str(settings.retry_after_seconds)
    assert ready.json() == {"errors": {"redis": ["timed out"]}}


async def test_an_unreachable_sqlite_file_is_503_not_500(settings: Settings) -> None:
    url = "sqlite+aiosqlite:////nonexistent-dir/conduit.db"
    # A fresh Settings (not model_copy): derived values such as is_sqlite must be recomputed.
    app = create_app(Settings.model_validate({**settings.model_dump(), "database_url": url}))
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            tags = await http.get("/api/tags")
            ready = await http.get("/health/ready")
    finally:
        await release_resources(app)
    assert tags.status_code == 503
    assert tags.headers["Retry-After"] == str(settings.retry_after_seconds)
    assert "database" in tags.json()["errors"]
    assert ready.status_code == 503 and "database" in ready.json()["errors"]


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{"):
            got = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if got == labels:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_by_route_template_method_and_status(
    client: AsyncClient,
) -> None:
    labels = {"method": "GET", "route": "/api/articles/{slug}", "status": "404"}
    before = (await client.get("/metrics")).text
    await client.get("/api/articles/one")
    await client.get("/api/articles/two")
    await client.get("/no/such/path")
    response = await client.get("/metrics")
    after = response.text
    assert response.headers["content-type"].startswith("text/plain")
    name = "conduit_http_requests_total"
    assert sample(after, name, **labels) - sample(before, name, **labels) == 2
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert sample(after, name, **unmatched) - sample(before, name, **unmatched) == 1
    bucket = "conduit_http_request_duration_seconds_count"
    assert sample(after, bucket, **labels) - sample(before, bucket, **labels) == 2
    assert "conduit_http_requests_in_progress 1.0" in after  # this scrape itself
    assert 'conduit_db_pool_connections{state="checked_out"}' in after
    assert re.search(r'conduit_app_info\{version="[^"]+"\} 1\.0', after)


async def test_probes_and_metrics_stay_out_of_the_api_document(
    openapi_document: dict[str, Any],
) -> None:
    paths = openapi_document["paths"]
    assert not [path for path in paths if path.startswith(("/health", "/metrics"))]


def access_lines(err: str) -> dict[str, dict[str, object]]:
    """The JSON access log lines, by request id."""
    return {
        str(line["request_id"]): line
        for line in json_lines(err)
        if line["logger"] == "conduit.access"
    }


async def test_an_unmatched_path_is_logged_bounded_with_control_characters_escaped(
    json_client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await json_client.get("/no/such%0A%1B[2Jpath\\", headers={"X-Request-ID": "lost-1"})
    await json_client.get("/" + "x" * 1000, headers={"X-Request-ID": "lost-2"})
    await json_client.get("/api/articles/missing", headers={"X-Request-ID": "known-404"})

    access = access_lines(capsys.readouterr().err)
    assert access["lost-1"]["route"] == "<unmatched>"
    assert access["lost-1"]["path"] == "/no/such\\x0a\\x1b[2Jpath\\x5c"
    assert access["lost-2"]["path"] == "/" + "x" * 199 + "..."
    assert "path" not in access["known-404"]  # its route template says enough


async def test_a_console_line_cannot_be_forged_through_the_path(
    client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await client.get("/probe%0A2026-01-01 INFO conduit.access [forged] GET /api/user 200")

    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "<unmatched>" in line)
    assert "path=" in line and "\\x0a2026-01-01" in line  # the forged line stays inside it
    assert not [line for line in err.splitlines() if line.startswith("2026-01-01 INFO")]


async def test_refused_requests_name_the_field_or_check_never_the_value(
    json_client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    author = await register(json_client)
    other = await register(json_client)
    article = await create_article(json_client, author)
    canary = "VALUE-CANARY-not-an-email"

    await json_client.get("/api/user", headers={"X-Request-ID": "no-token"})
    await json_client.delete(
        f"/api/articles/{article['slug']}",
        headers={**other.headers, "X-Request-ID": "not-yours"},
    )
    await json_client.post(
        "/api/users",
        json={"user": {"username": "", "email": canary, "password": ""}},
        headers={"X-Request-ID": "invalid"},
    )

    err = capsys.readouterr().err
    access = access_lines(err)
    assert (access["no-token"]["status"], access["no-token"]["refused"]) == (401, "token")
    assert (access["not-yours"]["status"], access["not-yours"]["refused"]) == (403, "article")
    assert access["invalid"]["status"] == 422
    assert set(str(access["invalid"]["refused"]).split(",")) == {"username", "email", "password"}
    assert canary not in err
    assert all("refused" not in line for line in access.values() if line["status"] == 201)


async def test_console_access_lines_keep_the_user_id(
    client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    user = await register(client)
    await client.get("/api/user", headers={**user.headers, "X-Request-ID": "console-user"})

    line = next(line for line in capsys.readouterr().err.splitlines() if "[console-user]" in line)
    assert "GET /api/user 200" in line
    assert re.search(r" user_id=\d+ ", line)


async def test_each_access_line_carries_the_user_agent_bounded_and_escaped(
    json_client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    agents = {
        "ua-plain": "conduit-tests/1.0 (linux)",
        "ua-escape": "evil\x1b[2J",
        "ua-long": "A" * 5000,
    }
    for request_id, agent in agents.items():
        await json_client.get(
            "/api/tags", headers={"User-Agent": agent, "X-Request-ID": request_id}
        )

    access = access_lines(capsys.readouterr().err)
    assert access["ua-plain"]["user_agent"] == "conduit-tests/1.0 (linux)"
    assert access["ua-escape"]["user_agent"] == "evil\\x1b[2J"
    assert access["ua-long"]["user_agent"] == "A" * 200 + "..."


def test_the_service_version_comes_from_the_package_metadata() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = pyproject["project"]["version"]
    assert __version__ == metadata.version("conduit") == declared
    # A source tree that is not installed (the image copies src/) falls back to the same.
    assert f'__version__ = "{declared}"' in (PROJECT_ROOT / "src" / "__init__.py").read_text()


def test_the_service_version_is_logged_at_start(database_url: str, tmp_path: Path) -> None:
    with live_server(database_url, tmp_path) as server:
        lines = json_lines(server.log_text())

    started = [line for line in lines if line.get("version") == __version__]
    assert started and started[0]["message"] == f"conduit {__version__} started"
