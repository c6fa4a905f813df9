"""Favoriting and unfavoriting articles: counts, flags, filters and errors."""

from __future__ import annotations

import asyncio

from httpx import AsyncClient

from tests.factories import create_article, favorite, register


async def test_favoriting_an_article_marks_it_favorited_with_a_count_of_one(
    client: AsyncClient,
) -> None:
    author, reader = await register(client), await register(client)
    article = await create_article(client, author)

    response = await client.post(
        f"/api/articles/{article['slug']}/favorite", headers=reader.headers
    )

    assert response.status_code == 200
    body = response.json()["article"]
    assert body["slug"] == article["slug"]
    assert body["favorited"] is True
    assert body["favoritesCount"] == 1


async def test_favoriting_twice_counts_once(client: AsyncClient) -> None:
    author, reader = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]

    await favorite(client, reader, slug)
    second = await favorite(client, reader, slug)

    assert second.json()["article"]["favoritesCount"] == 1
    assert second.json()["article"]["favorited"] is True
    fetched = await client.get(f"/api/articles/{slug}")
    assert fetched.json()["article"]["favoritesCount"] == 1


async def test_two_users_favoriting_the_same_article_count_two(client: AsyncClient) -> None:
    author, first, second = await register(client), await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]

    await favorite(client, first, slug)
    response = await favorite(client, second, slug)

    assert response.json()["article"]["favoritesCount"] == 2


async def test_unfavoriting_removes_the_favorite_and_decrements_the_count(
    client: AsyncClient,
) -> None:
    author, first, second = await register(client), await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    await favorite(client, first, slug)
    await favorite(client, second, slug)

    response = await client.delete(f"/api/articles/{slug}/favorite", headers=first.headers)

    assert response.status_code == 200
    body = response.json()["article"]
    assert body["favorited"] is False
    assert body["favoritesCount"] == 1


async def test_unfavoriting_twice_is_idempotent(client: AsyncClient) -> None:
    author, reader = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    await favorite(client, reader, slug)

    first = await client.delete(f"/api/articles/{slug}/favorite", headers=reader.headers)
    second = await client.delete(f"/api/articles/{slug}/favorite", headers=reader.headers)

    assert first.status_code == second.status_code == 200
    assert second.json()["article"]["favoritesCount"] == 0
    assert second.json()["article"]["favorited"] is False


async def test_unfavoriting_an_article_never_favorited_keeps_the_count_at_zero(
    client: AsyncClient,
) -> None:
    author, fan, stranger = await register(client), await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]

    response = await client.delete(f"/api/articles/{slug}/favorite", headers=stranger.headers)
    assert response.status_code == 200
    assert response.json()["article"]["favoritesCount"] == 0

    # Someone else's favorite is untouched by a stranger's unfavorite.
    await favorite(client, fan, slug)
    response = await client.delete(f"/api/articles/{slug}/favorite", headers=stranger.headers)
    assert response.json()["article"]["favoritesCount"] == 1


async def test_the_favorited_flag_depends_on_who_asks(client: AsyncClient) -> None:
    author, fan, other = await register(client), await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    await favorite(client, fan, slug)

    as_fan = (await client.get(f"/api/articles/{slug}", headers=fan.headers)).json()["article"]
    as_other = (await client.get(f"/api/articles/{slug}", headers=other.headers)).json()["article"]
    anonymous = (await client.get(f"/api/articles/{slug}")).json()["article"]

    assert as_fan["favorited"] is True
    assert as_other["favorited"] is False
    assert anonymous["favorited"] is False
    assert (
        as_fan["favoritesCount"] == as_other["favoritesCount"] == anonymous["favoritesCount"] == 1
    )

    listed = (await client.get("/api/articles", headers=fan.headers)).json()["articles"]
    assert [(a["slug"], a["favorited"]) for a in listed] == [(slug, True)]
    listed = (await client.get("/api/articles", headers=other.headers)).json()["articles"]
    assert [(a["slug"], a["favorited"]) for a in listed] == [(slug, False)]


async def test_articles_can_be_filtered_by_the_user_who_favorited_them(
    client: AsyncClient,
) -> None:
    author, fan, other = await register(client), await register(client), await register(client)
    liked = await create_article(client, author, title="Liked one")
    also_liked = await create_article(client, author, title="Also liked")
    await create_article(client, author, title="Ignored one")
    other_pick = await create_article(client, author, title="Other pick")
    await favorite(client, fan, liked["slug"])
    await favorite(client, fan, also_liked["slug"])
    await favorite(client, other, other_pick["slug"])

    response = await client.get("/api/articles", params={"favorited": fan.username})

    assert response.status_code == 200
    body = response.json()
    assert body["articlesCount"] == 2
    assert [a["slug"] for a in body["articles"]] == [also_liked["slug"], liked["slug"]]


async def test_filtering_by_favorites_of_an_unknown_user_matches_nothing(
    client: AsyncClient,
) -> None:
    author, fan = await register(client), await register(client)
    await favorite(client, fan, (await create_article(client, author))["slug"])

    response = await client.get("/api/articles", params={"favorited": "nobody-at-all"})

    assert response.status_code == 200
    assert response.json() == {"articles": [], "articlesCount": 0}


async def test_an_unfavorited_article_leaves_the_favorited_filter(client: AsyncClient) -> None:
    author, fan = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    await favorite(client, fan, slug)
    await client.delete(f"/api/articles/{slug}/favorite", headers=fan.headers)

    response = await client.get("/api/articles", params={"favorited": fan.username})

    assert response.json()["articlesCount"] == 0


async def test_favoriting_requires_authentication(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]

    for method in ("POST", "DELETE"):
        response = await client.request(method, f"/api/articles/{slug}/favorite")
        assert response.status_code == 401, method
        assert response.json() == {"errors": {"token": ["is missing"]}}

    fetched = await client.get(f"/api/articles/{slug}")
    assert fetched.json()["article"]["favoritesCount"] == 0


async def test_favoriting_an_unknown_article_is_not_found(client: AsyncClient) -> None:
    reader = await register(client)

    for method in ("POST", "DELETE"):
        response = await client.request(
            method, "/api/articles/no-such-article/favorite", headers=reader.headers
        )
        assert response.status_code == 404, method
        assert response.json() == {"errors": {"article": ["not found"]}}


async def test_concurrent_favorites_by_many_users_are_all_counted(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    fans = await asyncio.gather(*(register(client) for _ in range(20)))

    responses = await asyncio.gather(
        *(client.post(f"/api/articles/{slug}/favorite", headers=fan.headers) for fan in fans)
    )

    assert [r.status_code for r in responses] == [200] * 20
    counts = sorted(r.json()["article"]["favoritesCount"] for r in responses)
    assert counts[-1] == 20
    fetched = await client.get(f"/api/articles/{slug}")
    assert fetched.json()["article"]["favoritesCount"] == 20
    listed = await client.get("/api/articles", params={"favorited": fans[7].username})
    assert listed.json()["articlesCount"] == 1


async def test_concurrent_unfavorites_bring_the_count_back_to_zero(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    fans = await asyncio.gather(*(register(client) for _ in range(20)))
    for fan in fans:
        await favorite(client, fan, slug)

    # Each fan unfavorites twice at once: duplicates must not push the count below zero.
    responses = await asyncio.gather(
        *(
            client.delete(f"/api/articles/{slug}/favorite", headers=fan.headers)
            for fan in fans + fans
        )
    )

    assert all(r.status_code == 200 for r in responses)
    fetched = await client.get(f"/api/articles/{slug}")
    assert fetched.json()["article"]["favoritesCount"] == 0
