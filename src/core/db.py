"""Engine and session factory for the configured database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from src.core.config import Settings

SQLITE_BUSY_TIMEOUT_SECONDS = 30
SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file")


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the engine; SQLite gets the pragmas that make it a safe embedded default."""
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            echo=settings.db_echo,
            hide_parameters=True,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        _configure_sqlite(engine)
        return engine
    engine = create_async_engine(
        settings.database_url,
        echo=settings.db_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # A dead pooled connection (database restarted, network cut) is noticed at checkout and
        # replaced; while the database is away every bound below makes requests fail fast.
        pool_pre_ping=True,
        pool_timeout=settings.db_pool_timeout_seconds,
        # Bound parameters (password hashes, bodies) never appear in error messages or logs.
        hide_parameters=True,
        connect_args={
            "timeout": settings.db_connect_timeout_seconds,
            "command_timeout": settings.db_command_timeout_seconds,
        },
    )
    _classify_connect_errors(engine)
    return engine


class DatabaseUnavailable(Exception):
    """The database cannot be reached right now (refused, timed out, or the link dropped)."""


def is_database_unavailable(exc: BaseException) -> bool:
    """True for failures that mean "the database is away, retry later" rather than a bug."""
    if isinstance(exc, DatabaseUnavailable | sa_exc.TimeoutError):  # TimeoutError: pool wait
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        original = exc.orig
        if isinstance(original, OSError | TimeoutError):
            return True
        # SQLite: the write lock stayed taken for the whole busy timeout, or the file is gone.
        return isinstance(exc, sa_exc.OperationalError) and any(
            reason in str(original) for reason in SQLITE_UNAVAILABLE
        )
    return False


def _classify_connect_errors(engine: AsyncEngine) -> None:
    # asyncpg raises plain OSError / TimeoutError when it cannot connect, which SQLAlchemy passes
    # through unwrapped; name them here so they are never mistaken for other OS errors.
    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        # Also the server's own refusals: starting up, too many connections, shutting down.
        except (OSError, TimeoutError, dialect.loaded_dbapi.Error) as exc:
            raise DatabaseUnavailable(
                f"cannot connect to the database ({type(exc).__name__}: {exc})"
            ) from exc

    @event.listens_for(engine.sync_engine, "handle_error")
    def _statement(context: Any) -> BaseException | None:
        # A statement that outlived DB_COMMAND_TIMEOUT_SECONDS, or a socket that died under it.
        if isinstance(context.original_exception, OSError | TimeoutError):
            return DatabaseUnavailable(
                f"database connection failed ({type(context.original_exception).__name__})"
            )
        return None


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so we can BEGIN IMMEDIATE below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: concurrent writers wait for busy_timeout
        # instead of failing with "database is locked" when a read transaction upgrades.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
