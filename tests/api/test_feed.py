"""The feed: articles by the authors the caller follows."""

from __future__ import annotations

from httpx import AsyncClient

from tests.api.article_helpers import (
    LIST_ITEM_KEYS,
    assert_error,
    assert_unauthorized,
    list_page,
    slugs,
)
from tests.factories import create_article, favorite, follow, register

FEED = "/api/articles/feed"


async def test_the_feed_shows_only_followed_authors_newest_first(client: AsyncClient) -> None:
    reader, jake, anna, stranger = [await register(client) for _ in range(4)]
    await follow(client, reader, jake.username)
    await follow(client, reader, anna.username)
    first = await create_article(client, jake)
    await create_article(client, stranger)
    second = await create_article(client, anna)
    third = await create_article(client, jake)
    await create_article(client, reader)

    page = await list_page(client, FEED, headers=reader.headers)

    assert slugs(page) == [third["slug"], second["slug"], first["slug"]]
    assert page["articlesCount"] == 3
    for item in page["articles"]:
        assert set(item) == LIST_ITEM_KEYS
        assert "body" not in item
        assert item["author"]["following"] is True


async def test_the_feed_computes_favorited_for_the_caller(client: AsyncClient) -> None:
    reader, jake = await register(client), await register(client)
    await follow(client, reader, jake.username)
    liked = await create_article(client, jake)
    other = await create_article(client, jake)
    await favorite(client, reader, liked["slug"])

    page = await list_page(client, FEED, headers=reader.headers)

    flags = {item["slug"]: item["favorited"] for item in page["articles"]}
    assert flags == {liked["slug"]: True, other["slug"]: False}


async def test_the_feed_pages_with_limit_and_offset_and_counts_everything(
    client: AsyncClient,
) -> None:
    reader, jake = await register(client), await register(client)
    await follow(client, reader, jake.username)
    newest_first = list(reversed([(await create_article(client, jake))["slug"] for _ in range(5)]))

    first = await list_page(client, FEED, headers=reader.headers, limit=2)
    second = await list_page(client, FEED, headers=reader.headers, limit=2, offset=2)
    last = await list_page(client, FEED, headers=reader.headers, limit=2, offset=4)
    beyond = await list_page(client, FEED, headers=reader.headers, limit=2, offset=10)

    assert slugs(first) + slugs(second) + slugs(last) == newest_first
    assert slugs(beyond) == []
    for page in (first, second, last, beyond):
        assert page["articlesCount"] == 5


async def test_the_feed_defaults_to_twenty_articles(client: AsyncClient) -> None:
    reader, jake = await register(client), await register(client)
    await follow(client, reader, jake.username)
    for _ in range(21):
        await create_article(client, jake)

    page = await list_page(client, FEED, headers=reader.headers)

    assert len(page["articles"]) == 20
    assert page["articlesCount"] == 21


async def test_the_feed_rejects_out_of_range_paging(client: AsyncClient) -> None:
    reader = await register(client)

    too_big = await client.get(FEED, params={"limit": 101}, headers=reader.headers)
    zero = await client.get(FEED, params={"limit": 0}, headers=reader.headers)
    negative = await client.get(FEED, params={"offset": -1}, headers=reader.headers)

    assert_error(too_big, 422, "limit", "must be less than or equal to 100")
    assert_error(zero, 422, "limit", "must be greater than or equal to 1")
    assert_error(negative, 422, "offset", "must be greater than or equal to 0")


async def test_the_feed_needs_a_token(client: AsyncClient) -> None:
    assert_unauthorized(await client.get(FEED))


async def test_the_feed_is_empty_when_following_nobody(client: AsyncClient) -> None:
    reader, jake = await register(client), await register(client)
    await create_article(client, jake)
    await create_article(client, reader)

    page = await list_page(client, FEED, headers=reader.headers)

    assert page == {"articles": [], "articlesCount": 0}


async def test_the_feed_is_empty_when_followed_authors_wrote_nothing(client: AsyncClient) -> None:
    reader, jake = await register(client), await register(client)
    await follow(client, reader, jake.username)

    assert await list_page(client, FEED, headers=reader.headers) == {
        "articles": [],
        "articlesCount": 0,
    }


async def test_unfollowing_an_author_removes_their_articles_from_the_feed(
    client: AsyncClient,
) -> None:
    reader, jake, anna = await register(client), await register(client), await register(client)
    await follow(client, reader, jake.username)
    await follow(client, reader, anna.username)
    await create_article(client, jake)
    kept = await create_article(client, anna)
    assert (await list_page(client, FEED, headers=reader.headers))["articlesCount"] == 2

    unfollowed = await client.delete(
        f"/api/profiles/{jake.username}/follow", headers=reader.headers
    )
    assert unfollowed.status_code == 200

    page = await list_page(client, FEED, headers=reader.headers)
    assert slugs(page) == [kept["slug"]]
    assert page["articlesCount"] == 1


async def test_the_feed_belongs_to_the_caller_not_to_other_followers(
    client: AsyncClient,
) -> None:
    reader, other, jake = await register(client), await register(client), await register(client)
    await follow(client, other, jake.username)
    await create_article(client, jake)

    mine = await list_page(client, FEED, headers=reader.headers)
    theirs = await list_page(client, FEED, headers=other.headers)

    assert mine["articlesCount"] == 0
    assert theirs["articlesCount"] == 1
