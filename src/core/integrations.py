"""Optional integrations, off unless configured: Sentry (SENTRY_DSN) and OpenTelemetry (OTEL_*).

Their packages are extras (`pip install 'conduit[sentry]'`, `'conduit[otel]'`) imported only
when turned on; a setting that turns one on without its package stops the start with a clear
message instead of silently doing nothing.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from src import __version__
from src.core.config import Settings
from src.core.logging import request_context
from src.core.reads import ReadPool

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger("conduit.integrations")
# Probes and scrapes are not worth a trace each.
OTEL_EXCLUDED_URLS = "/health/live,/health/ready,/metrics"


class IntegrationUnavailable(RuntimeError):
    """A setting asks for an integration whose package is not installed."""


def _missing(extra: str, setting: str) -> IntegrationUnavailable:
    return IntegrationUnavailable(
        f"{setting} is set but the '{extra}' extra is not installed: "
        f"pip install 'conduit[{extra}]' (or unset {setting})"
    )


def install_sentry(settings: Settings) -> bool:
    """Send unexpected errors (the 500s) to Sentry when SENTRY_DSN is set."""
    if settings.sentry_dsn is None:
        return False
    try:
        import sentry_sdk
    except ImportError:
        raise _missing("sentry", "SENTRY_DSN") from None
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.environment,
        release=f"conduit@{__version__}",
        traces_sample_rate=settings.sentry_traces_sample_rate,
        # Only what we report explicitly: no global patching of the web framework or logging,
        # and (the default) no IPs, cookies or bodies.
        default_integrations=False,
        auto_enabling_integrations=False,
    )
    logger.info("Sentry error reporting on", extra={"environment": settings.environment})
    return True


def report_exception(exc: BaseException) -> None:
    """Report an unexpected error to Sentry (if it was initialised), tagged with the request id."""
    sentry_sdk: Any = sys.modules.get("sentry_sdk")
    if sentry_sdk is None or not sentry_sdk.get_client().is_active():
        return
    with sentry_sdk.new_scope() as scope:
        context = request_context.get()
        if context is not None:
            scope.set_tag("request_id", context.request_id)
        sentry_sdk.capture_exception(exc)


def flush_sentry(timeout: float = 2.0) -> None:
    sentry_sdk: Any = sys.modules.get("sentry_sdk")
    if sentry_sdk is not None and sentry_sdk.get_client().is_active():
        sentry_sdk.flush(timeout=timeout)


def _traces_endpoint(settings: Settings) -> str:
    if settings.otel_exporter_otlp_traces_endpoint:
        return settings.otel_exporter_otlp_traces_endpoint
    return f"{str(settings.otel_exporter_otlp_endpoint).rstrip('/')}/v1/traces"


def install_tracing(
    app: FastAPI, engine: AsyncEngine, settings: Settings, read_pool: ReadPool | None = None
) -> TracerProvider | None:
    """Trace each request and its SQL statements to an OTLP/HTTP collector, when configured."""
    if not settings.otel_enabled:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind
    except ImportError:
        raise _missing("otel", "OTEL_EXPORTER_OTLP_ENDPOINT") from None
    resource = Resource.create(
        {"service.name": settings.otel_service_name, "service.version": __version__}
    )
    provider = TracerProvider(resource=resource)
    # Headers, timeouts and compression come from the standard OTEL_EXPORTER_OTLP_* variables.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(_traces_endpoint(settings))))
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls=OTEL_EXCLUDED_URLS
    )
    sqlalchemy = SQLAlchemyInstrumentor()
    if not sqlalchemy.is_instrumented_by_opentelemetry:
        # The instrumentation declares SQLAlchemy < 2.1 but works on 2.1 (a test proves it).
        sqlalchemy.instrument(
            engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True
        )
    if read_pool is not None:  # the reads on asyncpg directly (src/core/reads.py)
        read_pool.trace_with(provider.get_tracer("conduit.reads"), SpanKind.CLIENT)
    logger.info("OpenTelemetry tracing on", extra={"endpoint": _traces_endpoint(settings)})
    return provider
