"""The tag list: tags in use, each once, most used first."""

from __future__ import annotations

from httpx import AsyncClient

from tests.factories import create_article, register


async def tags(client: AsyncClient) -> list[str]:
    response = await client.get("/api/tags")
    assert response.status_code == 200, response.text
    names: list[str] = response.json()["tags"]
    return names


async def test_there_are_no_tags_without_articles(client: AsyncClient) -> None:
    response = await client.get("/api/tags")

    assert response.status_code == 200
    assert response.json() == {"tags": []}


async def test_articles_without_tags_give_no_tags(client: AsyncClient) -> None:
    author = await register(client)
    await create_article(client, author, tagList=[])

    assert await tags(client) == []


async def test_tags_in_use_are_listed_once_each(client: AsyncClient) -> None:
    author = await register(client)
    await create_article(client, author, tagList=["python", "asyncio"])
    await create_article(client, author, tagList=["asyncio", "python"])
    await create_article(client, author, tagList=["python", "python"])

    listed = await tags(client)

    assert sorted(listed) == ["asyncio", "python"]
    assert len(listed) == len(set(listed))


async def test_the_most_used_tags_come_first(client: AsyncClient) -> None:
    author, other = await register(client), await register(client)
    await create_article(client, author, tagList=["rare", "common", "middling"])
    await create_article(client, other, tagList=["common", "middling"])
    await create_article(client, author, tagList=["common"])

    assert await tags(client) == ["common", "middling", "rare"]


async def test_a_tag_only_on_a_deleted_article_disappears(client: AsyncClient) -> None:
    author = await register(client)
    kept = await create_article(client, author, tagList=["shared"])
    doomed = await create_article(client, author, tagList=["shared", "ephemeral"])
    assert sorted(await tags(client)) == ["ephemeral", "shared"]

    deleted = await client.delete(f"/api/articles/{doomed['slug']}", headers=author.headers)

    assert deleted.status_code == 204
    assert await tags(client) == ["shared"]
    await client.delete(f"/api/articles/{kept['slug']}", headers=author.headers)
    assert await tags(client) == []


async def test_a_tag_removed_from_its_only_article_disappears(client: AsyncClient) -> None:
    author = await register(client)
    article = await create_article(client, author, tagList=["before", "stays"])

    updated = await client.put(
        f"/api/articles/{article['slug']}",
        json={"article": {"tagList": ["stays", "after"]}},
        headers=author.headers,
    )

    assert updated.status_code == 200
    assert sorted(await tags(client)) == ["after", "stays"]


async def test_the_tag_list_needs_no_authentication_and_ignores_who_asks(
    client: AsyncClient,
) -> None:
    author = await register(client)
    await create_article(client, author, tagList=["open"])

    anonymous = await client.get("/api/tags")
    signed_in = await client.get("/api/tags", headers=author.headers)

    assert anonymous.json() == signed_in.json() == {"tags": ["open"]}
