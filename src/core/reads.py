"""Read-only statements for the hot reads: through SQLAlchemy, or straight on asyncpg.

Services run their page and single-article reads against `Reads`, whatever the database:

- `SessionReads` executes them on an `AsyncSession` (SQLite, and reads inside a write's own
  transaction, which must see its uncommitted rows).
- `ReadPool` (PostgreSQL) compiles each prebuilt statement once to its PostgreSQL text and
  runs it on a pool of plain asyncpg connections, which keep it prepared, skipping the ORM
  session's execution path (docs/performance.md, "The request path").

Both hand back rows that are read by column name (`row["slug"]`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Select
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from src.core.config import Settings
from src.core.db import ConnectionGate, DatabaseUnavailable

Row = Mapping[Any, Any]
Statement = Select[Any]
StatementListener = Callable[[str], None]

logger = logging.getLogger("conduit.db")

# The database is away or overloaded: a 503 (docs/deploy.md, "Outages, restarts and deploys").
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,  # connect, pool wait or statement (command_timeout) ran out
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
)


class Reads(Protocol):
    dialect: str  # "postgresql" or "sqlite": statements are built per dialect

    async def all(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Row]: ...

    async def first(self, statement: Statement, params: Mapping[str, Any]) -> Row | None: ...

    async def scalar(self, statement: Statement, params: Mapping[str, Any]) -> Any: ...


# Opens `Reads` for as long as a service needs them: a service that then waits (a login, on its
# password hash) gives the connection back first.
OpenReads = Callable[[], AbstractAsyncContextManager[Reads]]


class SessionReads:
    """Reads on an ORM session: in its transaction, counted by SQLAlchemy's events."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    async def all(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Row]:
        return (await self.session.execute(statement, params)).mappings().all()

    async def first(self, statement: Statement, params: Mapping[str, Any]) -> Row | None:
        return (await self.session.execute(statement, params)).mappings().first()

    async def scalar(self, statement: Statement, params: Mapping[str, Any]) -> Any:
        return await self.session.scalar(statement, params)


MAX_TEXTS_PER_STATEMENT = 1024


class _Compiled:
    """One statement's PostgreSQL text, its parameter order and their bind conversions."""

    __slots__ = ("defaults", "inlined", "names", "processors", "sql", "statement", "texts")

    def __init__(self, statement: Statement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)  # noqa: S101 - a select always is
        self.statement = statement  # keeps the cache key (its id) from being reused
        self.sql = str(compiled)
        if compiled.post_compile_params - compiled.literal_execute_params:
            raise ValueError("an expanding parameter: its text depends on the values")
        if compiled.insert_prefetch or compiled.update_prefetch:  # SQLAlchemy computes those
            raise ValueError("a column default computed in Python: give its value instead")
        # `literal_execute` parameters (page bounds) are integers written into the text, one
        # text per distinct set of values, as SQLAlchemy's own execution does.
        self.inlined = tuple(sorted(bind.key for bind in compiled.literal_execute_params))
        self.texts: dict[tuple[int, ...], str] = {}
        self.names: tuple[str, ...] = tuple(
            name for name in compiled.positiontup or () if name not in self.inlined
        )
        # Values the statement carries itself (e.g. `Counter.name == "articles"`).
        self.defaults = {name: compiled.binds[name].effective_value for name in self.names}
        self.processors = {
            name: processor
            for name in self.names
            if (processor := compiled.binds[name].type.bind_processor(dialect)) is not None
        }

    def text(self, params: Mapping[str, Any]) -> str:
        if not self.inlined:
            return self.sql
        values = tuple(int(params[name]) for name in self.inlined)
        text = self.texts.get(values)
        if text is None:
            if len(self.texts) >= MAX_TEXTS_PER_STATEMENT:  # deep offsets: keep it bounded
                self.texts.clear()
            text = self.sql
            for name, value in zip(self.inlined, values, strict=True):
                text = text.replace(f"__[POSTCOMPILE_{name}]", str(value))
            self.texts[values] = text
        return text

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = [params[name] if name in params else self.defaults[name] for name in self.names]
        if self.processors:
            for index, name in enumerate(self.names):
                processor = self.processors.get(name)
                if processor is not None and values[index] is not None:
                    values[index] = processor(values[index])
        return values


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Returned connections skip asyncpg's reset query (a round trip per request): they only
    ever run single statements outside a transaction, or transactions ended before they are
    returned (`_PooledTransaction`), which leave no session state behind - no SET, LISTEN,
    session advisory lock or open transaction to undo."""


def _unavailable(exc: BaseException) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"database read failed ({type(exc).__name__}: {exc})")


class ReadPool:
    """PostgreSQL reads on their own asyncpg pool, opened on first use; `request()` gives one
    request its `Reads`.

    Sized by DB_READ_POOL_SIZE (per worker, beside the SQLAlchemy pool that serves writes); the
    same connect, wait and statement time limits as the main pool, and any sign of an outage
    raised as DatabaseUnavailable (a 503). asyncpg drops a broken connection and connects anew
    on the next request, so reads recover by themselves when the database is back.
    """

    def __init__(self, settings: Settings, dialect: Dialect) -> None:
        url = make_url(settings.database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._size = settings.db_read_pool_size
        self._connect_timeout = settings.db_connect_timeout_seconds
        self._acquire_timeout = settings.db_pool_timeout_seconds
        self._command_timeout = settings.db_command_timeout_seconds
        self._dialect = dialect
        self.dialect = dialect.name
        self._pool: asyncpg.Pool | None = None
        # In front of the pool, as wide as it: waiting happens here, in arrival order, and a
        # request that passes always finds a free connection (no timer in asyncpg's acquire).
        self._gate = ConnectionGate(self._size, self._acquire_timeout)
        self._opening = asyncio.Lock()
        self._compiled: dict[int, _Compiled] = {}
        # Called with each statement's text before it runs: statement counts in the tests and
        # in bench/run, which SQLAlchemy's events cannot see on this path.
        self.listeners: list[StatementListener] = []
        # An OpenTelemetry tracer and span kind when tracing is on (trace_with): each statement
        # gets a client span, as SQLAlchemy's instrumentation gives the other statements.
        self._tracer: Any = None
        self._span_kind: Any = None

    def trace_with(self, tracer: Any, client_kind: Any) -> None:
        """Give each statement an OpenTelemetry span (src/core/integrations.py)."""
        self._tracer, self._span_kind = tracer, client_kind

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,  # connect on demand: a worker that serves no read holds none
                    max_size=self._size,
                    timeout=self._connect_timeout,
                    command_timeout=self._command_timeout,
                    reset=_keep_session,
                )
            return self._pool

    def _compile(self, statement: Statement) -> _Compiled:
        compiled = self._compiled.get(id(statement))
        if compiled is None:
            compiled = self._compiled[id(statement)] = _Compiled(statement, self._dialect)
        return compiled

    async def _run(
        self, connection: asyncpg.Connection, statement: Statement, params: Mapping[str, Any]
    ) -> list[Any]:
        compiled = self._compile(statement)
        text = compiled.text(params)
        for listener in self.listeners:
            listener(text)
        arguments = compiled.arguments(params)
        if self._tracer is None:
            return await self._fetch_rows(connection, text, arguments)
        attributes = {"db.system": "postgresql", "db.statement": text}
        with self._tracer.start_as_current_span(
            "SELECT", kind=self._span_kind, attributes=attributes
        ):
            return await self._fetch_rows(connection, text, arguments)

    @staticmethod
    async def _fetch_rows(connection: asyncpg.Connection, text: str, args: list[Any]) -> list[Any]:
        try:
            rows: list[Any] = await connection.fetch(text, *args)
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        return rows

    async def _acquire(self) -> asyncpg.Connection:
        await self._gate.acquire()
        try:
            pool = self._pool or await self._open()
            return await pool.acquire()
        except BaseException as exc:  # no connection taken: give the slot back
            self._gate.release()
            if isinstance(exc, _UNAVAILABLE):
                raise _unavailable(exc) from exc
            raise

    async def _release(self, connection: asyncpg.Connection) -> None:
        try:
            if self._pool is not None:
                await self._pool.release(connection)
        except _UNAVAILABLE:  # a broken connection: the pool has dropped it already
            logger.debug("read connection released broken", exc_info=True)
        finally:
            self._gate.release()

    async def alone(self, statement: Statement, params: Mapping[str, Any]) -> list[Any]:
        """One statement on a connection of its own, outside any transaction, so it is its
        own (a write of one statement, too: it leaves no session state behind either)."""
        connection = await self._acquire()
        try:
            return await self._run(connection, statement, params)
        finally:
            await self._release(connection)

    def transaction(self) -> AbstractAsyncContextManager[Reads]:
        """Statements of one transaction (writes, too) on one connection: begun at the first
        statement, committed when the block ends, rolled back if it raises."""
        return _PooledTransaction(self)

    def request(self) -> AbstractAsyncContextManager[Reads]:
        """Reads for one request: its statements share one connection, taken at the first
        statement (a request refused before it runs any holds none) and returned at the end."""
        return _PooledReads(self)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=self._acquire_timeout)
            except Exception:  # whatever went wrong, do not leave it open
                logger.warning("read pool did not close cleanly; terminating it")
                pool.terminate()


class _PooledReads:
    """`Reads` for one request, on one connection of the ReadPool; `async with` gives it back.
    A class, not an @asynccontextmanager: that costs a generator and its frames per request."""

    def __init__(self, pool: ReadPool) -> None:
        self._pool = pool
        self.dialect = pool.dialect
        self.connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> _PooledReads:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            await self._pool._release(connection)

    async def _fetch(self, statement: Statement, params: Mapping[str, Any]) -> list[Any]:
        if self.connection is None:
            self.connection = await self._pool._acquire()
        return await self._pool._run(self.connection, statement, params)

    async def all(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Row]:
        return await self._fetch(statement, params)

    async def first(self, statement: Statement, params: Mapping[str, Any]) -> Row | None:
        rows = await self._fetch(statement, params)
        return rows[0] if rows else None

    async def scalar(self, statement: Statement, params: Mapping[str, Any]) -> Any:
        rows = await self._fetch(statement, params)
        return rows[0][0] if rows else None


class _PooledTransaction(_PooledReads):
    """`ReadPool.transaction()`: `_PooledReads` inside one transaction."""

    def __init__(self, pool: ReadPool) -> None:
        super().__init__(pool)
        self._transaction: Any = None

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._transaction is not None:
                if exc[0] is None:
                    await self._transaction.commit()
                else:
                    await self._transaction.rollback()
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        finally:
            # Never back to the pool inside a transaction (its reset is skipped): a commit or
            # rollback that did not finish (cancelled, failed) ends the connection instead.
            if self.connection is not None and self.connection.is_in_transaction():
                self.connection.terminate()
            await super().__aexit__(*exc)

    async def _fetch(self, statement: Statement, params: Mapping[str, Any]) -> list[Any]:
        if self._transaction is None:
            self.connection = await self._pool._acquire()
            self._transaction = self.connection.transaction()
            try:
                await self._transaction.start()
            except _UNAVAILABLE as exc:
                raise _unavailable(exc) from exc
        return await self._pool._run(self.connection, statement, params)
