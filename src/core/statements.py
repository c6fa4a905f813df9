"""Counting the SQL statements an app sends (the statement-count tests and bench/run)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from src.core.reads import ReadPool


@contextmanager
def recording_statements(engine: AsyncEngine, read_pool: ReadPool | None) -> Iterator[list[str]]:
    """Every SQL statement sent while the block runs, through SQLAlchemy (`engine`) or on the
    hot reads' asyncpg pool (`read_pool`, PostgreSQL only)."""
    statements: list[str] = []

    def on_execute(*args: Any) -> None:  # (conn, cursor, statement, parameters, context, many)
        statements.append(args[2])

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", on_execute)
    if read_pool is not None:
        read_pool.listeners.append(statements.append)
    try:
        yield statements
    finally:
        event.remove(sync_engine, "before_cursor_execute", on_execute)
        if read_pool is not None:
            read_pool.listeners.remove(statements.append)
