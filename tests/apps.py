"""An extra app, built from other settings, with its own HTTP client (closed afterwards)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from src.core.config import Settings
from src.main import create_app, release_resources


@asynccontextmanager
async def app_client(
    settings: Settings, extend: Callable[[FastAPI], None] | None = None
) -> AsyncIterator[AsyncClient]:
    """`extend` may add routes of the test's own to the app before it serves."""
    application = create_app(settings)
    if extend is not None:
        extend(application)
    try:
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://conduit.test") as http:
            yield http
    finally:
        await release_resources(application)
