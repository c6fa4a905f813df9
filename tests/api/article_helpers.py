"""Helpers shared by the profile, article, feed and query-count tests."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from src.api.routes.articles import MAX_OFFSET
from src.core.statements import recording_statements
from src.models import Article, ArticleTag, Favorite, FeedCount, FeedEntry, Follow

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
URL_SAFE_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# The deep-offset bound's 422, which names `cursor` as the way further.
DEEPEST_OFFSET_MESSAGE = f"must be less than or equal to {MAX_OFFSET}; page further with cursor"
PROFILE_KEYS = {"username", "bio", "image", "following"}
LIST_ITEM_KEYS = {
    "slug",
    "title",
    "description",
    "tagList",
    "createdAt",
    "updatedAt",
    "favorited",
    "favoritesCount",
    "author",
}
ARTICLE_KEYS = LIST_ITEM_KEYS | {"body"}


def assert_error(response: Response, status_code: int, field: str, message: str) -> None:
    """The RealWorld envelope: {"errors": {field: [message, ...]}} with the status. The first
    message is compared, as the spec's conformance suite compares it."""
    assert response.status_code == status_code, response.text
    errors = response.json()["errors"]
    assert errors.get(field, [None])[0] == message, errors


def assert_unauthorized(response: Response) -> None:
    assert_error(response, 401, "token", "is missing")
    assert response.headers["WWW-Authenticate"] == "Token"


def slugs(page: dict[str, Any]) -> list[str]:
    return [article["slug"] for article in page["articles"]]


async def list_page(
    client: AsyncClient,
    path: str = "/api/articles",
    headers: dict[str, str] | None = None,
    **params: Any,
) -> dict[str, Any]:
    response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def set_timestamps(
    app: FastAPI, slug: str, created_at: datetime, updated_at: datetime | None = None
) -> None:
    """Move an article in time; the API never lets a client do this.

    The copies of created_at that order ?tag= and ?favorited= pages and the feeds move with it,
    as they would had the article been written then.
    """
    async with app.state.engine.begin() as conn:
        article_id = (
            await conn.execute(
                update(Article)
                .where(Article.slug == slug)
                .values(created_at=created_at, updated_at=updated_at or created_at)
                .returning(Article.id)
            )
        ).scalar_one()
        for copy in (ArticleTag, Favorite, FeedEntry):
            await conn.execute(
                update(copy)
                .where(copy.article_id == article_id)
                .values(article_created_at=created_at)
            )


async def count_rows(app: FastAPI, entity: Any) -> int:
    async with app.state.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(entity))).scalar_one())


@contextmanager
def count_statements(app: FastAPI) -> Iterator[list[str]]:
    """Record every SQL statement the app sends while the block runs (SQLAlchemy's events,
    and on PostgreSQL the hot reads' own asyncpg pool too)."""
    with recording_statements(app.state.engine, app.state.read_pool) as statements:
        yield statements


async def assert_feeds_match_follows(conn: AsyncConnection) -> None:
    """The fanned-out feeds (src/services/feeds.py) hold exactly one entry per (follower,
    article of a followed author), with the article's own created_at, and each feed's count
    is its number of entries."""
    entries = (
        await conn.execute(
            select(FeedEntry.follower_id, FeedEntry.article_id, FeedEntry.article_created_at)
        )
    ).all()
    truth = (
        await conn.execute(
            select(Follow.follower_id, Article.id, Article.created_at).join(
                Article, Article.author_id == Follow.followee_id
            )
        )
    ).all()
    assert sorted(entries) == sorted(truth)
    counts = dict((await conn.execute(select(FeedCount.user_id, FeedCount.articles_count))).all())
    per_follower = Counter(follower for follower, _, _ in truth)
    assert {user: n for user, n in counts.items() if n} == dict(per_follower)
