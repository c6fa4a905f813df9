"""Small SQL helpers shared by services, written once for both supported dialects."""

from __future__ import annotations

import collections
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol, cast

import asyncpg
import orjson
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    TypeDecorator,
    bindparam,
    exists,
    false,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine

from src.core.db import LONE_STATEMENTS
from src.models import ArticleTag, Base, Favorite, Follow
from src.models.id_lists import id_list_of

AnySelect = Select[*tuple[Any, ...]]
# A viewer's id, or a bound parameter for it in a prebuilt statement; None when anonymous.
ViewerId = int | ColumnElement[int] | None


class IntegerList(TypeDecorator[list[int]]):
    """A list of integers as one parameter: an array on PostgreSQL, JSON text on SQLite."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(Integer()))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: list[int] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return orjson.dumps(list(value)).decode()


class _MemberOf(FunctionElement[bool]):
    """`column` is one of the integers of an IntegerList parameter (`member_of`)."""

    inherit_cache = True
    type = Boolean()
    name = "member_of"


@compiles(_MemberOf, "postgresql")
def _member_of_postgresql(element: _MemberOf, compiler: SQLCompiler, **kw: Any) -> str:
    column, ids = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"{column} = ANY({ids})"


@compiles(_MemberOf)
def _member_of_sqlite(element: _MemberOf, compiler: SQLCompiler, **kw: Any) -> str:
    column, ids = (compiler.process(clause, **kw) for clause in element.clauses)
    # Both parts are compiled SQL (a column and a bound parameter), never values.
    return f"{column} IN (SELECT value FROM json_each({ids}))"  # noqa: S608  # nosec B608


def member_of(column: Any, name: str) -> ColumnElement[bool]:
    """SQL: `column` is among the integers of the list parameter `name`. Unlike an expanding
    IN, the statement's text does not depend on the list's length, so a statement built once
    is not rendered again at each run."""
    return cast(ColumnElement[bool], _MemberOf(column, bindparam(name, type_=IntegerList())))


def conflict_insert(dialect: str) -> Callable[[Any], postgresql.Insert | sqlite.Insert]:
    """The dialect's `insert`, the one with ON CONFLICT (`on_conflict_do_update/nothing`)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def table_of(entity: type[Base]) -> Table:
    """The model's table, for statements built once on it and run on the connection: the hot
    writes need no ORM unit of work (docs/performance.md, "Cheap writes")."""
    return cast(Table, entity.__table__)


async def own_transaction(session: AsyncSession) -> AsyncConnection:
    """The connection for a write that is one statement: on PostgreSQL, when the session has
    begun nothing yet, in autocommit, so the statement is its own transaction and costs no
    BEGIN and COMMIT round trips (docs/performance.md, "One statement, its own transaction").
    Otherwise the session's transaction, committed by the caller as usual."""
    if session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return await session.connection()
    return await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


@functools.cache
def _row_type(keys: tuple[str, ...]) -> Any:
    return collections.namedtuple("Row", keys, rename=True)


def _as_rows(records: list[Any]) -> list[Any]:
    """asyncpg's records read by attribute, as SQLAlchemy's rows are."""
    if not records:
        return []
    row = _row_type(tuple(records[0].keys()))
    return [row(*record) for record in records]


class Statements(Protocol):
    """Where a write's statements run: `all` gives a statement's rows."""

    async def all(self, statement: Any, params: dict[str, Any]) -> list[Any]: ...


class _OnConnection:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def all(self, statement: Any, params: dict[str, Any]) -> list[Any]:
        return list((await self._conn.execute(statement, params)).all())


class _OnPool:
    def __init__(self, reads: Any) -> None:
        self._reads = reads

    async def all(self, statement: Any, params: dict[str, Any]) -> list[Any]:
        try:
            return _as_rows(list(await self._reads.all(statement, params)))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(statement), params, exc) from exc


def _straight(session: AsyncSession) -> Any:
    """The pool a write may run on straight (src/core/reads.py), when it may."""
    pool = session.info.get(LONE_STATEMENTS)
    return None if pool is None or session.in_transaction() else pool


async def run_alone(session: AsyncSession, statement: Any, params: dict[str, Any]) -> list[Any]:
    """The rows of a write that is one statement (or a read before one), as its own
    transaction where it can be: on PostgreSQL, when the session has begun nothing, straight
    on asyncpg (the hot reads' pool, src/core/reads.py), which skips SQLAlchemy's execution
    path; else as `own_transaction` runs it. Rows read by attribute, as SQLAlchemy's;
    a constraint it breaks raises SQLAlchemy's IntegrityError, as there (docs/performance.md,
    "One statement, its own transaction")."""
    pool = _straight(session)
    if pool is None:
        return await _OnConnection(await own_transaction(session)).all(statement, params)
    async with pool.request() as reads:
        return await _OnPool(reads).all(statement, params)


@contextlib.asynccontextmanager
async def one_transaction(session: AsyncSession) -> AsyncIterator[Statements]:
    """A write of a few statements: as `run_alone`, straight on asyncpg in a transaction of
    its own, committed when the block ends (rolled back if it raises); else on the session's
    transaction, which the caller commits."""
    pool = _straight(session)
    if pool is None:
        yield _OnConnection(await session.connection())
        return
    async with pool.transaction() as reads:
        yield _OnPool(reads)


async def commit(session: AsyncSession) -> None:
    """Commit the write's session. A write that ran alone (`run_alone`, `one_transaction`)
    committed on the pool and left the session with nothing begun: only its after-commit
    listeners run then (the local workers' wake-up, src/services/jobs/worker.py), not an
    empty transaction of the session's own (docs/performance.md, "One statement, its own
    transaction")."""
    if session.in_transaction():
        await session.commit()
    else:
        session.sync_session.dispatch.after_commit(session.sync_session)


def insert_once(dialect: str, table: Table, values: dict[str, Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING: two concurrent identical inserts write one row and
    neither fails; the rowcount says whether this one wrote it."""
    return conflict_insert(dialect)(table).values(values).on_conflict_do_nothing()


def rows_matched(result: Any) -> int:
    """How many rows an UPDATE, DELETE or INSERT ... SELECT wrote (0 if the driver cannot say)."""
    return result.rowcount if isinstance(result, CursorResult) else 0


def is_following(viewer_id: ViewerId, author_id: Any) -> ColumnElement[bool]:
    """SQL expression: does the viewer follow this author? Always false when anonymous."""
    if viewer_id is None:
        return false()
    return exists().where(Follow.follower_id == viewer_id, Follow.followee_id == author_id)


def has_favorited(viewer_id: ViewerId, article_id: Any) -> ColumnElement[bool]:
    """SQL expression: has the viewer favorited this article? Always false when anonymous.

    A scalar subquery, not EXISTS: PostgreSQL turned the EXISTS into a hashed subplan that
    read every favorite of the viewer once per page; this way each listed article is one probe
    of `pk_favorites (user_id, article_id)` (docs/performance.md, "The request path").
    """
    if viewer_id is None:
        return false()
    return key_probe(Favorite.user_id == viewer_id, Favorite.article_id == article_id)


def key_probe(*conditions: Any) -> ColumnElement[bool]:
    """SQL expression: is there a row matching `conditions` (a unique key's columns)? A scalar
    subquery, not EXISTS, so that PostgreSQL probes the key once per outer row instead of
    hashing every row the other columns match (docs/performance.md, "Combined filters")."""
    return select(literal(True)).where(*conditions).scalar_subquery().is_not(None)


def encode_tag_names(names: Iterable[str]) -> str:
    """`articles.tag_names`: sorted (code point order, as decode_tag_names), compact JSON."""
    return orjson.dumps(sorted(set(names))).decode()


def decode_tag_names(value: str | None) -> list[str]:
    """The names in `articles.tag_names` (stored sorted: alphabetical in code point order,
    whatever the database's collation)."""
    if not value:
        return []
    names: list[str] = orjson.loads(value)
    return names


def article_tag_ids(article_id: Any) -> Any:
    """SQL: the article's tag ids, as `favorites.article_tag_ids` keeps them."""
    tagged = select(id_list_of(ArticleTag.tag_id)).where(ArticleTag.article_id == article_id)
    return tagged.scalar_subquery()
