"""Migrations run on the app's own async engine, for whichever database DATABASE_URL names.

A caller may pass `config.attributes["database_url"]` to target another database, or
`config.attributes["connection"]` to run on a connection it already holds.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Connection

from alembic import context
from src.core.config import Settings
from src.core.db import create_engine
from src.models import Base

target_metadata = Base.metadata


def _database_url() -> str:
    url = context.config.attributes.get("database_url")
    return url if isinstance(url, str) else Settings().database_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by table copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


# A migration may rewrite a large table (0007 backfills every article: ~1.5 min at a million):
# no request's statement time limit (DB_COMMAND_TIMEOUT_SECONDS) applies to it.
MIGRATION_COMMAND_TIMEOUT_SECONDS = 3600.0


async def _run_online() -> None:
    settings = Settings(database_url=_database_url())
    engine = create_engine(
        settings.model_copy(
            update={"db_command_timeout_seconds": MIGRATION_COMMAND_TIMEOUT_SECONDS}
        )
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    shared = context.config.attributes.get("connection")
    if shared is not None:
        _configure(shared)
    else:
        asyncio.run(_run_online())
