"""Fixtures: a fresh migrated database per test session, a clean slate per test.

The suite runs on SQLite by default. Set TEST_DATABASE_URL to a PostgreSQL URL
(postgresql+asyncpg://user@host:port/dbname) to run it there: a fresh database is created
beside the one named, migrated, and dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from src.core import migrations
from src.core.config import Settings
from src.main import create_app, release_resources
from src.models import Base
from tests.cli import Conduit, isolated_conduit
from tests.smtp import Mailbox, smtp_server

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def _is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A brand-new database, migrated to head with Alembic (the real schema path)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if base and _is_postgres(base):
        name = f"conduit_test_{uuid.uuid4().hex[:10]}"
        server = make_url(base)
        asyncio.run(
            _admin(server.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"')
        )
        url = server.set(database=name).render_as_string(hide_password=False)
        try:
            migrations.upgrade("head", database_url=url)
            yield url
        finally:
            asyncio.run(
                _admin(
                    server.render_as_string(hide_password=False),
                    f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                )
            )
    else:
        path: Path = tmp_path_factory.mktemp("db") / "conduit-test.db"
        url = f"sqlite+aiosqlite:///{path}"
        migrations.upgrade("head", database_url=url)
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,  # type: ignore[arg-type]
        cors_origins=["https://app.example.com"],
        environment="development",
        # Cheap argon2id: the suite hashes hundreds of passwords (production keeps OWASP's).
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
        # Many tests register users from one client; tests/api/test_rate_limits.py builds its
        # own app with low limits.
        rate_limit_enabled=False,
        # Mail sent without an SMTP server (tests/smtp.py gives one) lands here, not in the repo.
        mail_outbox_dir=str(tmp_path_factory.mktemp("mail-outbox")),
        # Uploaded pictures land here, read back at the test client's own /media/.
        media_root=str(tmp_path_factory.mktemp("media")),
        media_public_url="http://conduit.test/media",
    )


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return _is_postgres(database_url)


@pytest.fixture(scope="session")
async def app(settings: Settings):  # type: ignore[no-untyped-def]
    application = create_app(settings)
    yield application
    await release_resources(application)


@pytest.fixture(autouse=True)
async def _clean_tables(app) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    """Every test starts from empty tables, whatever the previous one committed."""
    yield
    engine = app.state.engine
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names


@pytest.fixture
async def client(app) -> AsyncIterator[AsyncClient]:  # type: ignore[no-untyped-def]
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://conduit.test") as http:
        yield http


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on loopback (aiosmtpd); run the jobs with tests.smtp.deliver_mail."""
    with smtp_server() as box:
        yield box


@pytest.fixture
def conduit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Conduit:
    """The `conduit` command in this process, from an empty directory, no settings inherited."""
    return isolated_conduit(tmp_path, monkeypatch)


@pytest.fixture
async def openapi_document(client: AsyncClient) -> dict[str, Any]:
    """The OpenAPI document the app serves, as a client fetches it."""
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document
