"""Sentry and OpenTelemetry: off by default; on, they really send what they record."""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli
import pytest
import sentry_sdk
from httpx import ASGITransport, AsyncClient
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from pydantic import SecretStr

from src.core.config import Settings
from src.main import create_app, release_resources


class Collector:
    """A local HTTP endpoint standing in for Sentry or an OTLP collector; keeps every body."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    data = gzip.decompress(data)
                elif encoding == "deflate":
                    data = zlib.decompress(data)
                elif encoding == "br":  # what sentry-sdk sends once brotli is installed
                    data = brotli.decompress(data)
                collector.bodies.append((self.path, data))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def received(self) -> bytes:
        return b"\n".join(body for _, body in self.bodies)


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_integrations_are_off_by_default(settings: Settings) -> None:
    assert settings.sentry_dsn is None and not settings.otel_enabled
    app = create_app(settings)
    assert app.state.tracer_provider is None
    assert not sentry_sdk.get_client().is_active()


async def test_sentry_receives_unexpected_errors_with_the_request_id(
    settings: Settings, collector: Collector
) -> None:
    dsn = f"http://publickey@127.0.0.1:{collector.port}/1"
    app = create_app(settings.model_copy(update={"sentry_dsn": SecretStr(dsn)}))

    async def explode() -> None:
        raise LookupError("sentry-canary")

    app.add_api_route("/test-only/explode", explode)  # a route only this test's app has
    try:
        assert sentry_sdk.get_client().is_active()
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/test-only/explode", headers={"X-Request-ID": "sentry-1"})
            assert response.status_code == 500
            assert (await http.get("/api/tags")).status_code == 200  # no event for a success
        sentry_sdk.flush(timeout=10)
        assert [path for path, _ in collector.bodies] == ["/api/1/envelope/"]
        event = collector.received()
        assert b"LookupError" in event and b"sentry-canary" in event
        assert b"sentry-1" in event  # tagged with the request id
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # back to an inactive client for the rest of the session
        await release_resources(app)


async def test_opentelemetry_exports_request_and_sql_spans(
    settings: Settings, collector: Collector
) -> None:
    endpoint = f"http://127.0.0.1:{collector.port}"
    app = create_app(
        settings.model_copy(
            update={"otel_exporter_otlp_endpoint": endpoint, "otel_service_name": "conduit-test"}
        )
    )
    provider = app.state.tracer_provider
    try:
        assert provider is not None
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            assert (await http.get("/api/tags")).status_code == 200
        assert provider.force_flush(10_000)
        assert {path for path, _ in collector.bodies} == {"/v1/traces"}
        exported = collector.received()
        assert b"conduit-test" in exported  # service.name
        assert b"GET /api/tags" in exported  # the request span, named by route template
        assert b"select" in exported.lower()  # a SQL statement span
    finally:
        provider.shutdown()
        SQLAlchemyInstrumentor().uninstrument()
        await release_resources(app)
