"""articlesCount comes from maintained counters: it stays exact through every write.

Each test drives writes through the HTTP API, then compares every `articlesCount` the API
reports (global, by tag, by author, by favorited, combined filters, the feed) with the truth
counted by hand from what the test did, and with a count(*) over the tables.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from src.core.reads import SessionReads
from src.models import Article, ArticleTag, Favorite, Tag, User
from src.services import article_queries, articles
from src.services.sql import key_probe
from tests.api.article_helpers import assert_feeds_match_follows, list_page
from tests.factories import RegisteredUser, comment, create_article, favorite, follow, register
from tests.jobs import run_jobs_until_idle


async def count_of(client: AsyncClient, path: str = "/api/articles", **params: Any) -> int:
    headers = params.pop("headers", None)
    page = await list_page(client, path, headers=headers, limit=1, **params)
    return int(page["articlesCount"])


async def assert_counters_match_rows(app: FastAPI) -> None:
    """Every maintained counter equals a count(*) over the rows it summarizes."""
    async with app.state.engine.connect() as conn:
        users = (
            await conn.execute(
                select(
                    User.id,
                    User.articles_count,
                    User.favorites_count,
                    select(func.count()).where(Article.author_id == User.id).scalar_subquery(),
                    select(func.count()).where(Favorite.user_id == User.id).scalar_subquery(),
                )
            )
        ).all()
        for user_id, articles, favorites, real_articles, real_favorites in users:
            assert (articles, favorites) == (real_articles, real_favorites), user_id
        await assert_feeds_match_follows(conn)
        tags = (
            await conn.execute(
                select(
                    Tag.name,
                    Tag.articles_count,
                    select(func.count()).where(ArticleTag.tag_id == Tag.id).scalar_subquery(),
                )
            )
        ).all()
        for name, counted, real in tags:
            assert counted == real, name
        # Each article's copy of its tag names (articles.tag_names) is its rows' names.
        names = (await conn.execute(select(ArticleTag.article_id, Tag.name).join(Tag))).all()
        tagged: dict[int, list[str]] = {}
        for article_id, name in names:
            tagged.setdefault(article_id, []).append(name)
        for article_id, copy in (await conn.execute(select(Article.id, Article.tag_names))).all():
            assert json.loads(copy) == sorted(tagged.get(article_id, [])), article_id
        # Each favorite's copy of its article's tag ids (favorites.article_tag_ids) is too.
        tag_ids: dict[int, list[int]] = {}
        for article_id, tag_id in (
            await conn.execute(select(ArticleTag.article_id, ArticleTag.tag_id))
        ).all():
            tag_ids.setdefault(article_id, []).append(tag_id)
        favorites = select(Favorite.user_id, Favorite.article_id, Favorite.article_tag_ids)
        for user_id, article_id, copied in (await conn.execute(favorites)).all():
            assert copied == sorted(tag_ids.get(article_id, [])), (user_id, article_id)


async def delete_article(client: AsyncClient, user: RegisteredUser, slug: str) -> None:
    response = await client.delete(f"/api/articles/{slug}", headers=user.headers)
    assert response.status_code in (200, 204), response.text


async def test_every_count_follows_creates_favorites_and_deletes(
    client: AsyncClient, app: FastAPI
) -> None:
    alice, bob, carol = [await register(client) for _ in range(3)]
    a1 = await create_article(client, alice, tagList=["red", "blue"])
    await create_article(client, alice, tagList=["red"])
    b1 = await create_article(client, bob, tagList=["blue", "green"])
    await favorite(client, carol, a1["slug"])
    await favorite(client, carol, b1["slug"])
    await favorite(client, carol, b1["slug"])  # idempotent: counted once
    await favorite(client, bob, a1["slug"])
    await follow(client, carol, alice.username)
    await follow(client, carol, bob.username)
    await run_jobs_until_idle(app)

    assert await count_of(client) == 3
    assert await count_of(client, tag="red") == 2
    assert await count_of(client, tag="blue") == 2
    assert await count_of(client, tag="green") == 1
    assert await count_of(client, tag="nope") == 0
    assert await count_of(client, author=alice.username) == 2
    assert await count_of(client, author=alice.username.upper()) == 2
    assert await count_of(client, author="nobody") == 0
    assert await count_of(client, favorited=carol.username) == 2
    assert await count_of(client, favorited=bob.username) == 1
    assert await count_of(client, favorited=alice.username) == 0
    assert await count_of(client, "/api/articles/feed", headers=carol.headers) == 3
    assert await count_of(client, "/api/articles/feed", headers=alice.headers) == 0
    await assert_counters_match_rows(app)

    # Deleting a1 takes it out of the global, tag, author, favorited and feed counts.
    await delete_article(client, alice, a1["slug"])
    await run_jobs_until_idle(app)

    assert await count_of(client) == 2
    assert await count_of(client, tag="red") == 1
    assert await count_of(client, tag="blue") == 1
    assert await count_of(client, author=alice.username) == 1
    assert await count_of(client, favorited=carol.username) == 1
    assert await count_of(client, favorited=bob.username) == 0
    assert await count_of(client, "/api/articles/feed", headers=carol.headers) == 2
    await assert_counters_match_rows(app)


async def test_unfavorite_and_unfollow_lower_the_counts_once(
    client: AsyncClient, app: FastAPI
) -> None:
    author, fan = await register(client), await register(client)
    article = await create_article(client, author)
    await favorite(client, fan, article["slug"])
    await follow(client, fan, author.username)

    for _ in range(2):  # the second unfavorite is a no-op and must not go below zero
        response = await client.delete(
            f"/api/articles/{article['slug']}/favorite", headers=fan.headers
        )
        assert response.status_code == 200, response.text
    assert await count_of(client, favorited=fan.username) == 0

    response = await client.delete(f"/api/profiles/{author.username}/follow", headers=fan.headers)
    assert response.status_code == 200, response.text
    assert await count_of(client, "/api/articles/feed", headers=fan.headers) == 0
    await assert_counters_match_rows(app)


async def test_changing_tags_moves_the_tag_counts_and_the_tag_list(
    client: AsyncClient, app: FastAPI
) -> None:
    author = await register(client)
    article = await create_article(client, author, tagList=["old", "kept"])
    await create_article(client, author, tagList=["kept"])

    response = await client.put(
        f"/api/articles/{article['slug']}",
        json={"article": {"tagList": ["kept", "new"]}},
        headers=author.headers,
    )
    assert response.status_code == 200, response.text

    assert await count_of(client, tag="old") == 0
    assert await count_of(client, tag="kept") == 2
    assert await count_of(client, tag="new") == 1
    tags = (await client.get("/api/tags")).json()["tags"]
    assert tags == ["kept", "new"]  # most used first; a tag no article uses is not listed
    await assert_counters_match_rows(app)


async def test_deleting_a_comment_or_a_commented_article_keeps_counts_exact(
    client: AsyncClient, app: FastAPI
) -> None:
    author, reader = await register(client), await register(client)
    article = await create_article(client, author, tagList=["talk"])
    other = await create_article(client, author, tagList=["talk"])
    said = await comment(client, reader, article["slug"])
    await comment(client, reader, other["slug"])
    await favorite(client, reader, other["slug"])

    response = await client.delete(
        f"/api/articles/{article['slug']}/comments/{said['id']}", headers=reader.headers
    )
    assert response.status_code in (200, 204), response.text
    assert await count_of(client) == 2
    assert await count_of(client, tag="talk") == 2

    await delete_article(client, author, other["slug"])  # with a comment and a favorite
    assert await count_of(client) == 1
    assert await count_of(client, tag="talk") == 1
    assert await count_of(client, favorited=reader.username) == 0
    await assert_counters_match_rows(app)


async def test_combined_filters_are_counted_exactly(client: AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    liked = await create_article(client, alice, tagList=["x"])
    await create_article(client, alice, tagList=["y"])
    await create_article(client, bob, tagList=["x"])
    await favorite(client, bob, liked["slug"])

    assert await count_of(client, tag="x", author=alice.username) == 1
    assert await count_of(client, tag="y", author=bob.username) == 0
    assert await count_of(client, tag="x", favorited=bob.username) == 1
    assert await count_of(client, author=alice.username, favorited=bob.username) == 1
    page = await list_page(client, author=alice.username, offset=5)
    assert page == {"articles": [], "articlesCount": 2}


async def test_favorited_with_a_tag_follows_the_favorited_articles_tag_edits(
    client: AsyncClient, app: FastAPI
) -> None:
    author, fan = await register(client), await register(client)
    liked = await create_article(client, author, tagList=["old", "kept"])
    await favorite(client, fan, liked["slug"])
    assert await count_of(client, tag="old", favorited=fan.username) == 1

    response = await client.put(
        f"/api/articles/{liked['slug']}",
        json={"article": {"tagList": ["kept", "new"]}},
        headers=author.headers,
    )
    assert response.status_code == 200, response.text
    assert await count_of(client, tag="old", favorited=fan.username) == 0
    page = await list_page(client, tag="new", favorited=fan.username)
    assert [article["slug"] for article in page["articles"]] == [liked["slug"]]
    assert page["articlesCount"] == 1
    assert await count_of(client, tag="kept", favorited=fan.username) == 1
    await assert_counters_match_rows(app)


async def test_a_new_filter_without_a_maintained_count_counts_its_matches(
    client: AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter declared without a maintained count is counted with count(*), alone or not:
    never given the global total."""
    named = aliased(Article)
    titled = article_queries.Filter(
        "title",
        keeps=lambda title, article_id: key_probe(named.id == article_id, named.title == title),
    )
    monkeypatch.setattr(article_queries, "FILTERS", (*article_queries.FILTERS, titled))
    monkeypatch.setitem(article_queries._BY_NAME, "title", titled)
    alice = await register(client)
    await create_article(client, alice, title="Wanted", tagList=["x"])
    await create_article(client, alice, title="Other", tagList=["x"])

    async with app.state.sessionmaker() as session:
        for given, count in [({"title": "Wanted"}, 1), ({"title": "Wanted", "tag": "x"}, 1)]:
            filters = article_queries.ArticleFilter.of(given)
            page = await articles.list_articles(SessionReads(session), filters, None, 20, 0)
            assert page.articles_count == count, given
            assert [article["title"] for article in page.articles] == ["Wanted"]


async def test_concurrent_writes_leave_every_count_exact(client: AsyncClient, app: FastAPI) -> None:
    """Many creates, favorites and deletes at once: relative updates lose nothing."""
    authors = [await register(client) for _ in range(3)]
    fans = [await register(client) for _ in range(4)]
    tag_sets = [["hot"], ["hot", "cold"], ["cold", "warm"], ["warm", "hot"]]
    created = await asyncio.gather(
        *(create_article(client, authors[i % 3], tagList=tag_sets[i % 4]) for i in range(12))
    )
    slugs = [a["slug"] for a in created]
    await asyncio.gather(*(favorite(client, fan, slug) for fan in fans for slug in slugs))
    doomed = slugs[::3]
    unliked = slugs[1::3]
    await asyncio.gather(
        *(delete_article(client, authors[slugs.index(slug) % 3], slug) for slug in doomed),
        *(
            client.delete(f"/api/articles/{slug}/favorite", headers=fans[0].headers)
            for slug in unliked
        ),
    )

    alive = [i for i, slug in enumerate(slugs) if slug not in doomed]
    assert await count_of(client) == len(alive)
    for tag in ("hot", "cold", "warm"):
        expected = sum(1 for i in alive if tag in tag_sets[i % 4])
        assert await count_of(client, tag=tag) == expected, tag
    for n, author in enumerate(authors):
        assert await count_of(client, author=author.username) == sum(1 for i in alive if i % 3 == n)
    assert await count_of(client, favorited=fans[0].username) == len(alive) - len(unliked)
    assert await count_of(client, favorited=fans[1].username) == len(alive)
    await assert_counters_match_rows(app)
