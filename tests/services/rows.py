"""Rows written straight through a session: service tests build their own data this way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from src.models import Article, User
from tests.factories import unique

START = datetime(2026, 1, 1, tzinfo=UTC)


async def new_user(session: AsyncSession) -> int:
    name = unique("row")
    user = User(username=name, email=f"{name}@example.com", password_hash="!unusable")
    session.add(user)
    await session.flush()
    return user.id


async def new_article(session: AsyncSession, author_id: int, minutes: int = 0) -> Article:
    """The article row alone, `minutes` after a fixed start; its counts are the caller's."""
    slug = unique("row-")
    created_at = START + timedelta(minutes=minutes)
    article = Article(
        slug=slug,
        title=slug,
        description="d",
        body="b",
        author_id=author_id,
        created_at=created_at,
        updated_at=created_at,
    )
    session.add(article)
    await session.flush()
    return article
