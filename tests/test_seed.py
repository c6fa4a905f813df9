"""`conduit seed` at a tiny scale: a consistent, deterministic data set the API serves.

Benchmarks seed millions of rows (bench/); here the same code fills the test database with a
few dozen, then the API is asked about it the way a client would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from src.cli.bench_data import SEED_PASSWORD, DatabaseNotEmpty, SeedPlan, seed
from src.models import Article, Favorite, Follow
from tests.api.test_article_counts import assert_counters_match_rows, count_of
from tests.cli import Conduit

PLAN = SeedPlan(
    users=12,
    articles=60,
    tags=8,
    follows_per_user=4,
    favorites_per_article=3,
    comments_per_article=2,
    seed=7,
)


async def test_seeded_data_is_served_consistently(client: AsyncClient, app: FastAPI) -> None:
    steps: list[int] = []
    await seed(app.state.engine, PLAN, steps.append)

    assert sum(steps) == PLAN.work
    await assert_counters_match_rows(app)
    assert await count_of(client) == PLAN.articles
    page = (await client.get("/api/articles", params={"limit": 100})).json()
    assert len(page["articles"]) == PLAN.articles
    assert all(1 <= len(a["tagList"]) <= 5 for a in page["articles"])
    login = await client.post(
        "/api/users/login",
        json={"user": {"email": "user1@example.com", "password": SEED_PASSWORD}},
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Token {login.json()['user']['token']}"}
    feed = (await client.get("/api/articles/feed", headers=headers)).json()
    assert feed["articlesCount"] > 0
    assert all(a["author"]["following"] for a in feed["articles"])
    async with app.state.engine.connect() as conn:
        follows = (await conn.execute(select(Follow.follower_id, Follow.followee_id))).all()
        favorites = (await conn.execute(select(Favorite.article_id))).scalars().all()
        counted = (await conn.execute(select(Article.id, Article.favorites_count))).all()
    assert all(a != b for a, b in follows)
    assert len(follows) == PLAN.users * PLAN.follows_per_user
    assert sum(c for _, c in counted) == len(favorites)
    created = (
        await client.post(
            "/api/articles",
            headers=headers,
            json={"article": {"title": "After the seed", "description": "d", "body": "b"}},
        )
    ).status_code
    assert created == 201  # sequences were moved past the seeded ids

    with pytest.raises(DatabaseNotEmpty):
        await seed(app.state.engine, PLAN)


async def _slugs(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(select(Article.slug).order_by(Article.id))).scalars())
    finally:
        await engine.dispose()


def test_the_command_seeds_the_same_data_for_the_same_seed(
    conduit: Conduit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["seed", "--users", "5", "--articles", "30", "--tags", "6", "--follows", "2"]
    slugs: list[list[str]] = []
    for name in ("a", "b"):
        url = f"sqlite+aiosqlite:///{tmp_path / name}.db"
        monkeypatch.setenv("DATABASE_URL", url)
        result = conduit.invoke(*args, "--seed", "3")
        assert result.exit_code == 0, result.output
        assert "Seeded 5 users and 30 articles" in result.output
        slugs.append(asyncio.run(_slugs(url)))
    assert slugs[0] == slugs[1]
    assert len(slugs[0]) == 30

    again = conduit.invoke(*args, "--seed", "3")
    assert again.exit_code == 1
    assert "already has users" in again.output
