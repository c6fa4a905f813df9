"""Favorites, with an exact per-article counter kept in the same transaction."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import delete, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from src.core.reads import SessionReads
from src.models import Article, Favorite, User
from src.services import counters
from src.services.articles import find_article, get_article
from src.services.auth import Viewer
from src.services.read_models import ArticleView
from src.services.sql import insert_ignoring_duplicates


async def _bump_count(session: AsyncSession, article_id: int, delta: int) -> None:
    # Relative update: concurrent favorites serialize on the row lock, none is lost.
    await session.execute(
        update(Article)
        .where(Article.id == article_id)
        .values(favorites_count=Article.favorites_count + delta)
    )


async def favorite(session: AsyncSession, slug: str, user: User) -> ArticleView:
    """Idempotent: the count moves only when a favorite row is actually written."""
    # The article row first: one lock order with deletes and the counters (counters.py).
    article = await find_article(session, slug, lock=True)
    # Then the user's row, before the favorite references it (counters.py: "locked before
    # they are referenced").
    await counters.lock_users(session, [user.id])
    if await insert_ignoring_duplicates(
        session,
        Favorite,
        # article_created_at: the ?favorited= page order key (migration 0004).
        {"user_id": user.id, "article_id": article.id, "article_created_at": article.created_at},
    ):
        await counters.bump_user_favorites(session, [user.id], +1)
        await _bump_count(session, article.id, +1)
    await session.commit()
    return await get_article(SessionReads(session), slug, Viewer(user.id))


async def unfavorite(session: AsyncSession, slug: str, user: User) -> ArticleView:
    """Idempotent: the count moves only when a favorite row is actually removed."""
    # The article row first: one lock order with deletes and the counters (counters.py).
    article = await find_article(session, slug, lock=True)
    result = cast(
        CursorResult[Any],
        await session.execute(
            delete(Favorite).where(Favorite.user_id == user.id, Favorite.article_id == article.id)
        ),
    )
    if result.rowcount == 1:
        await counters.bump_user_favorites(session, [user.id], -1)
        await _bump_count(session, article.id, -1)
    await session.commit()
    return await get_article(SessionReads(session), slug, Viewer(user.id))
