from httpx import AsyncClient

from tests.factories import create_article, register


async def test_a_registered_user_can_publish_and_list_an_article(client: AsyncClient) -> None:
    jake = await register(client)
    article = await create_article(client, jake, title="Hello world")
    assert article["slug"] == "hello-world"
    listed = (await client.get("/api/articles")).json()
    assert listed["articlesCount"] == 1
    assert listed["articles"][0]["slug"] == "hello-world"
    assert "body" not in listed["articles"][0]


async def test_tables_are_clean_between_tests(client: AsyncClient) -> None:
    assert (await client.get("/api/articles")).json()["articlesCount"] == 0
