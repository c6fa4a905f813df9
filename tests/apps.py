"""An extra app, built from other settings, with its own HTTP client (closed afterwards)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from httpx import ASGITransport, AsyncClient

from src.core.config import Settings
from src.main import create_app, release_resources


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    application = create_app(settings)
    try:
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://conduit.test") as http:
            yield http
    finally:
        await release_resources(application)
