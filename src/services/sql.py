"""Small SQL helpers shared by services, written once for both supported dialects."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, exists, false
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from src.models import Base, Favorite, Follow


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


def is_following(viewer_id: int | None, author_id: Any) -> ColumnElement[bool]:
    """SQL expression: does the viewer follow this author? Always false when anonymous."""
    if viewer_id is None:
        return false()
    return exists().where(Follow.follower_id == viewer_id, Follow.followee_id == author_id)


def has_favorited(viewer_id: int | None, article_id: Any) -> ColumnElement[bool]:
    """SQL expression: has the viewer favorited this article? Always false when anonymous."""
    if viewer_id is None:
        return false()
    return exists().where(Favorite.user_id == viewer_id, Favorite.article_id == article_id)
