"""Engine and session factory for the configured database."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
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
READ_ONLY = "conduit_read_only"  # execution option: the connection serves a read-only request
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
        # A dead pooled connection (database restarted, network cut) fails one request with a
        # 503 and the pool is replaced (DB_POOL_PRE_PING=true checks at every checkout instead);
        # while the database is away every bound below makes requests fail fast.
        pool_pre_ping=settings.db_pool_pre_ping,
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


def unavailable_reason(exc: BaseException) -> str:
    """Why the database could not be used, in one line of the driver's or the socket's words."""
    cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) and exc.__cause__ else exc
    if isinstance(cause, sa_exc.DBAPIError) and cause.orig is not None:
        cause = cause.orig
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return f"host not found ({cause.strerror})"
    if isinstance(cause, TimeoutError):
        return "no answer (timed out)"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror[:1].lower() + cause.strerror[1:]
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


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
        # Requests that only read (create_read_sessionmaker) take a plain snapshot: with WAL
        # they neither wait for writers nor hold them up.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class ConnectionGate:
    """Requests wait here, in arrival order, for one of the pool's connections.

    Used for SQLAlchemy's pool and for the reads' asyncpg pool (src/core/reads.py), whose
    queue has the same flaw: a woken waiter that loses the race to a newcomer goes to the back.

    SQLAlchemy's pool hands a returned connection to whoever asks next, and a request that
    has just arrived often asks before the ones already waiting get their turn. With more
    concurrent requests than connections some waited the whole pool timeout and got a 503
    while later ones were served (docs/performance.md, "The request path"). A FIFO semaphore
    of the pool's size in front of it serves them in order, with the same bound.
    """

    def __init__(self, size: int, timeout_seconds: float) -> None:
        self._slots = asyncio.Semaphore(size)
        self._timeout = timeout_seconds

    async def acquire(self) -> None:
        try:
            if self._slots.locked():  # only a request that must wait pays for a timer
                async with asyncio.timeout(self._timeout):
                    await self._slots.acquire()
            else:
                await self._slots.acquire()
        except TimeoutError:
            raise DatabaseUnavailable(
                f"no database connection free within {self._timeout:g} s"
            ) from None

    def release(self) -> None:
        self._slots.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()


def create_gate(settings: Settings) -> ConnectionGate | None:
    """A gate as wide as the PostgreSQL pool; SQLite serializes writers itself."""
    if settings.is_sqlite:
        return None
    size = settings.db_pool_size + settings.db_max_overflow
    return ConnectionGate(size, settings.db_pool_timeout_seconds)


# Opens a write session when a service asks for it: a login opens one only once its password
# is checked, so a burst of logins waiting on the hashing threads holds no connection.
OpenSession = Callable[[], AbstractAsyncContextManager[AsyncSession]]


# Session.info key: the ReadPool a write session's single-statement writes may run on
# (src/services/sql.py, run_alone).
LONE_STATEMENTS = "conduit_lone_statements"


def create_sessionmaker(
    engine: AsyncEngine, lone_statements: Any = None
) -> async_sessionmaker[AsyncSession]:
    """Write sessions; `lone_statements`: where their single-statement writes may run instead
    of on the session's connection (a ReadPool: src/services/sql.py, run_alone)."""
    info = {LONE_STATEMENTS: lone_statements} if lone_statements is not None else None
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)


@asynccontextmanager
async def write_session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session of `sessions`, closed at the end if it holds a transaction. One that began
    nothing (its write ran alone on the pool, src/services/sql.py, or it was committed) holds
    no connection, and AsyncSession's close would cost a task of its own for nothing."""
    session = sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            async with session:  # closed to the end, even if this task is cancelled meanwhile
                pass


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests that only read (GET, HEAD).

    On PostgreSQL their connections run in autocommit: every read is one statement (pages,
    their tags and totals are built in one query), so a transaction would add only a BEGIN and
    a ROLLBACK round trip to each request (docs/performance.md, "The request path"). SQLite needs
    explicit transactions (see _configure_sqlite); there they are deferred snapshots rather
    than write locks.
    """
    if engine.dialect.name == "postgresql":
        reader = engine.execution_options(isolation_level="AUTOCOMMIT")
    else:
        reader = engine.execution_options(**{READ_ONLY: True})
    return async_sessionmaker(reader, expire_on_commit=False, autoflush=False)
