"""Small SQL helpers shared by services, written once for both supported dialects."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

import orjson
from sqlalchemy import ColumnElement, Select, Table, exists, false, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from src.models import ArticleTag, Base, Favorite, Follow
from src.models.id_lists import id_list_of

AnySelect = Select[*tuple[Any, ...]]
# A viewer's id, or a bound parameter for it in a prebuilt statement; None when anonymous.
ViewerId = int | ColumnElement[int] | None


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
