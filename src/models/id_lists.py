"""A list of integer ids kept on a row, and the SQL that builds and searches one.

PostgreSQL keeps it as `integer[]`, SQLite as a JSON array: one declaration, compiled for each
(docs/performance.md, "Combined filters": a favorite carries its article's tag ids).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Boolean, Integer, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine


class IdList(TypeDecorator[list[int]]):
    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(Integer))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: list[int] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return orjson.dumps(sorted(value)).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> list[int] | None:
        if value is None:
            return None
        ids: list[int] = list(value) if dialect.name == "postgresql" else orjson.loads(value)
        return sorted(ids)


class id_list_of(FunctionElement[list[int]]):  # named as the SQL functions they stand for
    """Aggregate: the ids of a group as an IdList (empty, never NULL, for no rows)."""

    type = IdList()
    inherit_cache = True


class has_id(FunctionElement[bool]):
    """`has_id(id_list, id)`: is the id in the list?"""

    type = Boolean()
    inherit_cache = True


@compiles(id_list_of)  # any other dialect (and str() of a statement): PostgreSQL's form
@compiles(id_list_of, "postgresql")
def _id_list_of_postgresql(element: id_list_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"coalesce(array_agg({compiler.process(element.clauses, **kw)}), '{{}}')"


@compiles(id_list_of, "sqlite")
def _id_list_of_sqlite(element: id_list_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


def _list_and_id(element: has_id, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    id_list, wanted = element.clauses.clauses
    return compiler.process(id_list, **kw), compiler.process(wanted, **kw)


@compiles(has_id)
@compiles(has_id, "postgresql")
def _has_id_postgresql(element: has_id, compiler: SQLCompiler, **kw: Any) -> str:
    id_list, wanted = _list_and_id(element, compiler, **kw)
    return f"({wanted} = ANY({id_list}))"


@compiles(has_id, "sqlite")
def _has_id_sqlite(element: has_id, compiler: SQLCompiler, **kw: Any) -> str:
    id_list, wanted = _list_and_id(element, compiler, **kw)
    # Both parts are compiled SQL (columns and bound parameters), never values.
    return f"EXISTS (SELECT 1 FROM json_each({id_list}) WHERE json_each.value = {wanted})"  # noqa: S608  # nosec B608
