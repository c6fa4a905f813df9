"""The application factory: tests and servers build the app from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from src import __version__
from src.api.errors import UnexpectedErrorMiddleware, install_error_handlers
from src.api.router import api_router
from src.core.config import Settings
from src.core.db import create_engine, create_sessionmaker

DESCRIPTION = """
Conduit is the backend of a Medium-like blogging platform, following the
[RealWorld](https://realworld-docs.netlify.app/) API spec.

**Authentication.** Register (`POST /api/users`) or log in (`POST /api/users/login`) to get a
JWT, then send it as `Authorization: Token <jwt>` (or `Bearer <jwt>`). In this page, click
**Authorize** and type `Token <jwt>`.

**Errors** come as `{"errors": {"<field>": ["<message>", ...]}}` with 401, 403, 404, 409 or 422.

**Pagination.** List endpoints take `limit` (1-100, default 20) and `offset` (default 0);
`articlesCount` is the total number of matches.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = create_engine(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(
        title="Conduit API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)

    # Added first, so it sits inside CORS: even a 500 carries the CORS headers.
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        # Tokens travel in the Authorization header, never in cookies: no credentials mode.
        allow_credentials=False,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Requested-With"],
        max_age=600,
    )
    install_error_handlers(app)
    app.include_router(api_router)
    return app


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory src.main:app_factory`."""
    return create_app()
