"""The application factory: tests and servers build the app from settings."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette_compress import CompressMiddleware

from src import __version__
from src.api.asgi.conditional import CodedETagMiddleware, ConditionalGetMiddleware
from src.api.asgi.edge import EdgeMiddleware
from src.api.asgi.hot_reads import HotReadsMiddleware
from src.api.asgi.hot_writes import HotWritesMiddleware
from src.api.asgi.idempotency import IdempotencyMiddleware
from src.api.asgi.request_guard import RequestGuardMiddleware
from src.api.asgi.unexpected_errors import UnexpectedErrorMiddleware
from src.api.errors import install_error_handlers
from src.api.openapi import install_openapi
from src.api.routes.docs import fastapi_options, install_docs
from src.api.routes.health import router as health_router
from src.api.routes.media import router as media_router
from src.api.routes.metrics import router as metrics_router
from src.api.routes.router import api_router
from src.api.routes.webhooks import events as webhook_events
from src.api.validators import Validators
from src.core import metrics
from src.core.config import Settings
from src.core.db import (
    create_engine,
    create_gate,
    create_read_sessionmaker,
    create_sessionmaker,
)
from src.core.integrations import flush_sentry, install_sentry, install_tracing
from src.core.logging import configure_logging
from src.core.ratelimit import create_rate_limiter
from src.core.reads import ReadPool
from src.core.security import password_hasher
from src.services.freshness import SharedCommitState
from src.services.jobs import InProcessWorker
from src.services.media import storage_from_settings

DESCRIPTION = """
Conduit is the backend of a Medium-like blogging platform, following the
[RealWorld](https://realworld-docs.netlify.app/) API spec.

**Authentication.** Register (`POST /api/users`) or log in (`POST /api/users/login`) to get a
JWT, then send it as `Authorization: Token <jwt>` (or `Bearer <jwt>`). In this page, click
**Authorize** and type `Token <jwt>`.

**Errors** come as `{"errors": {"<field>": ["<message>", ...]}}` with 401, 403, 404, 409, 413,
422, 429 or 503; each operation lists those it can return. On 429 or 503, wait (`Retry-After`
seconds when given) and retry.

**Pagination.** List endpoints take `limit` (1-100, default 20) and `offset` (default 0);
`articlesCount` is the total number of matches.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings)  # JSON lines in production, console in development
    install_sentry(settings)  # only when SENTRY_DSN is set
    engine = create_engine(settings)
    metrics.mark_started()  # conduit_app_info{version=...} 1

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything built so far lives as long as the process: out of the collector's sight
        # (docs/performance.md, "The request path").
        gc.freeze()
        logging.getLogger("conduit").info(
            "conduit %s started", __version__, extra={"version": __version__}
        )
        jobs = None
        if settings.jobs_run_in_process:  # the embedded default runs its jobs itself
            jobs = InProcessWorker(app.state.sessionmaker, settings)
            jobs.start()
        yield
        if jobs is not None:  # the job in hand finishes, or goes back to the queue
            await jobs.stop(settings.shutdown_grace_seconds)
        await release_resources(app)
        logging.getLogger("conduit").info("database pools closed")
        await app.state.rate_limiter.close()
        # Flush traces and errors, drop this worker's live gauges from /metrics.
        if app.state.tracer_provider is not None:
            app.state.tracer_provider.shutdown()
        flush_sentry()
        metrics.mark_stopped()

    app = FastAPI(
        title="Conduit API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # Tracing is ours (OpenTelemetry via OTEL_*, src/core/integrations.py) and so are the
        # metrics (Prometheus): FastAPI's native telemetry would record them twice, and checks
        # the global providers on every request (docs/performance.md, "The request path").
        telemetry={"tracing": False, "metrics": False, "logs": False},
        **fastapi_options(settings),  # docs pages served from shipped assets, not a CDN
    )
    app.state.settings = settings
    app.state.engine = engine
    # PostgreSQL: the hot reads' statements straight on asyncpg (src/core/reads.py), and the
    # writes that are one statement too (src/services/sql.py, run_alone).
    app.state.read_pool = None if settings.is_sqlite else ReadPool(settings, engine.dialect)
    app.state.sessionmaker = create_sessionmaker(engine, app.state.read_pool)
    app.state.read_sessionmaker = create_read_sessionmaker(engine)  # GET and HEAD
    app.state.db_gate = create_gate(settings)  # fair queueing for pooled connections
    app.state.rate_limiter = create_rate_limiter(settings)  # Redis when REDIS_URL set
    password_hasher(settings)  # argon2 hasher (and its dummy hash) built before serving
    app.state.media_storage = storage_from_settings(settings)  # src/services/media

    # Innermost: the hot reads skip FastAPI's routing, and nothing else (src/api/asgi/hot_reads.py).
    # The tags it sent and the database state they were read at: 304s without the page's read.
    validators = (
        Validators(settings.conditional_validators)
        if settings.conditional_validators and not settings.is_sqlite
        else None
    )
    read_pool: ReadPool | None = app.state.read_pool
    commit_state = None if read_pool is None else SharedCommitState(read_pool.request)
    if settings.hot_reads_enabled:
        app.add_middleware(
            HotReadsMiddleware, settings=settings, validators=validators, commit_state=commit_state
        )
    # The same for the busiest writes: creates, favorites, comments (src/api/asgi/hot_writes.py).
    if settings.hot_writes_enabled:
        app.add_middleware(HotWritesMiddleware, settings=settings)
    # Outside every door to the routes (hot paths included), inside the guard and the 500
    # envelope: keyed writes run once and their retries replay (src/api/asgi/idempotency.py).
    app.add_middleware(IdempotencyMiddleware, settings=settings)
    # Added next, so it sits inside CORS: even a 500 carries the CORS headers.
    app.add_middleware(UnexpectedErrorMiddleware)
    # Host, body size, content type and JSON depth, answered inside CORS.
    app.add_middleware(RequestGuardMiddleware, settings=settings)
    # ETag on API GETs (of the identity body), 304 for If-None-Match; inside compression, so
    # a 304 is never encoded (src/api/asgi/conditional.py).
    app.add_middleware(ConditionalGetMiddleware, settings=settings, validators=validators)
    # Outside the hot reads, which answer most bodies: zstd, br or gzip as Accept-Encoding
    # allows (q=0 refuses one), with Vary: Accept-Encoding; never tiny bodies or 304s.
    # Brotli one step below the library's default: a little larger, much cheaper
    # (docs/architecture.md, "Compression").
    app.add_middleware(
        CompressMiddleware, minimum_size=settings.compression_min_bytes, brotli_quality=3
    )
    # A compressed body's ETag names its coding: a strong tag per representation.
    app.add_middleware(CodedETagMiddleware)
    # Outermost (keep it the last add_middleware): X-Request-ID, access log, HTTP metrics,
    # security headers on every response and CORS (src/api/asgi/edge.py).
    app.add_middleware(
        EdgeMiddleware, engine=engine, settings=settings, access_log=settings.access_log
    )
    install_error_handlers(app)
    app.include_router(api_router)
    app.webhooks.include_router(webhook_events)  # the events, in the document's `webhooks`
    app.include_router(health_router)  # /health/live, /health/ready (not in the API document)
    if settings.media_storage == "local":
        app.include_router(media_router)  # /media/..., the local pictures (not in the document)
    if settings.metrics_enabled:
        app.include_router(metrics_router)  # /metrics, Prometheus (not in the API document)
    # Only when OTEL_* is set; the asyncpg reads get spans too.
    app.state.tracer_provider = install_tracing(app, engine, settings, app.state.read_pool)
    install_docs(app, settings)  # /docs and /redoc, offline (src/api/routes/docs.py)
    install_openapi(app)  # the document, finished with what the routes know (src/api/openapi.py)
    return app


async def release_resources(app: FastAPI) -> None:
    """Close the app's database pools (at shutdown, and by tests and tools that build apps)."""
    read_pool: ReadPool | None = app.state.read_pool
    if read_pool is not None:
        await read_pool.close()
    await app.state.engine.dispose()


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory src.main:app_factory`."""
    return create_app()
