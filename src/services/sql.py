"""Small SQL helpers shared by services, written once for both supported dialects."""

from __future__ import annotations

import json
from typing import Any, cast

from sqlalchemy import ColumnElement, ScalarSelect, Select, exists, false, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from src.models import ArticleTag, Base, Favorite, Follow, Tag

AnySelect = Select[*tuple[Any, ...]]
# A viewer's id, or a bound parameter for it in a prebuilt statement; None when anonymous.
Viewer = int | ColumnElement[int] | None


async def insert_ignoring_duplicates(
    session: AsyncSession, entity: type[Base], values: dict[str, Any]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when a row was actually written.

    Race-free idempotency: two concurrent identical inserts write one row, neither fails.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(entity).values(**values).on_conflict_do_nothing()
    result = cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount == 1


def is_following(viewer_id: Viewer, author_id: Any) -> ColumnElement[bool]:
    """SQL expression: does the viewer follow this author? Always false when anonymous."""
    if viewer_id is None:
        return false()
    return exists().where(Follow.follower_id == viewer_id, Follow.followee_id == author_id)


def has_favorited(viewer_id: Viewer, article_id: Any) -> ColumnElement[bool]:
    """SQL expression: has the viewer favorited this article? Always false when anonymous.

    A scalar subquery, not EXISTS: PostgreSQL turned the EXISTS into a hashed subplan that
    read every favorite of the viewer once per page (hundreds, at a million articles about a
    thousand, bench/EXPLAIN-1M.md); this way each listed article is one probe of
    `pk_favorites (user_id, article_id)`.
    """
    if viewer_id is None:
        return false()
    probe = select(literal(True)).where(
        Favorite.user_id == viewer_id, Favorite.article_id == article_id
    )
    return probe.scalar_subquery().is_not(None)


def tag_names_of(dialect: str, article_id: Any) -> ScalarSelect[Any]:
    """Correlated subquery: the article's tag names in one column, so a page and its tags are
    one statement. An array on PostgreSQL, a JSON array text on SQLite (decode_tag_names).

    Each name is its own primary-key lookup: written as a join, PostgreSQL at a million
    articles hashed the whole tags table once per listed article (bench/RESULTS.md).
    """
    name = select(Tag.name).where(Tag.id == ArticleTag.tag_id).scalar_subquery()
    aggregate = func.array_agg(name) if dialect == "postgresql" else func.json_group_array(name)
    return select(aggregate).where(ArticleTag.article_id == article_id).scalar_subquery()


def decode_tag_names(value: Any) -> list[str]:
    """The names from tag_names_of, sorted: alphabetical whatever the database's collation."""
    if value is None:  # PostgreSQL's array_agg over no rows
        return []
    names: list[str] = json.loads(value) if isinstance(value, str) else list(value)
    names.sort()
    return names
