"""Articles: create, read, update, delete and list, through HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from src.api.routes.articles import MAX_OFFSET
from src.core.config import Settings
from src.models import Comment, Favorite
from src.services import article_queries
from src.services.slugs import RESERVED_SLUGS
from tests.api.article_helpers import (
    ARTICLE_KEYS,
    DEEPEST_OFFSET_MESSAGE,
    LIST_ITEM_KEYS,
    PROFILE_KEYS,
    TIMESTAMP,
    URL_SAFE_SLUG,
    assert_error,
    assert_unauthorized,
    count_rows,
    list_page,
    set_timestamps,
    slugs,
)
from tests.apps import app_client
from tests.factories import (
    article_payload,
    comment,
    create_article,
    favorite,
    follow,
    register,
    unique,
)
from tests.jobs import run_jobs_until_idle

# ---------------------------------------------------------------- create


async def test_creating_an_article_returns_201_with_exactly_the_spec_shape(
    client: AsyncClient,
) -> None:
    jake = await register(client)
    payload = {
        "article": {
            "title": "How to train your dragon",
            "description": "Ever wonder how?",
            "body": "You have to believe",
            "tagList": ["dragons", "training"],
        }
    }

    response = await client.post("/api/articles", json=payload, headers=jake.headers)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"article"}
    article = body["article"]
    assert set(article) == ARTICLE_KEYS
    assert article["slug"] == "how-to-train-your-dragon"
    assert article["title"] == "How to train your dragon"
    assert article["description"] == "Ever wonder how?"
    assert article["body"] == "You have to believe"
    assert article["tagList"] == ["dragons", "training"]
    assert TIMESTAMP.match(article["createdAt"]), article["createdAt"]
    assert TIMESTAMP.match(article["updatedAt"]), article["updatedAt"]
    assert article["createdAt"] == article["updatedAt"]
    assert article["favorited"] is False
    assert article["favoritesCount"] == 0
    assert article["author"] == {
        "username": jake.username,
        "bio": None,
        "image": None,
        "following": False,
    }


async def test_created_tags_are_de_duplicated_and_sorted_by_name(client: AsyncClient) -> None:
    # Alphabetical, as the official RealWorld Postman suite expects (it sends
    # ["training", "dragons"] and checks that "dragons" comes first).
    jake = await register(client)

    article = await create_article(
        client, jake, tagList=["zebra", "apple", "zebra", "mango", "apple"]
    )

    assert article["tagList"] == ["apple", "mango", "zebra"]
    fetched = (await client.get(f"/api/articles/{article['slug']}")).json()["article"]
    assert fetched["tagList"] == ["apple", "mango", "zebra"]
    listed = (await list_page(client))["articles"][0]
    assert listed["tagList"] == ["apple", "mango", "zebra"]


async def test_an_article_may_have_no_tags(client: AsyncClient) -> None:
    jake = await register(client)
    payload = article_payload()
    del payload["article"]["tagList"]

    response = await client.post("/api/articles", json=payload, headers=jake.headers)

    assert response.status_code == 201, response.text
    assert response.json()["article"]["tagList"] == []


async def test_creating_an_article_without_a_token_is_401(client: AsyncClient) -> None:
    response = await client.post("/api/articles", json=article_payload())

    assert_unauthorized(response)
    assert (await list_page(client))["articlesCount"] == 0


async def test_the_slug_comes_from_the_title(client: AsyncClient) -> None:
    jake = await register(client)

    article = await create_article(client, jake, title="  Why Rust? A 2024 Retrospective!  ")

    assert article["slug"] == "why-rust-a-2024-retrospective"
    assert article["title"] == "Why Rust? A 2024 Retrospective!"


async def test_two_articles_with_the_same_title_get_distinct_slugs(client: AsyncClient) -> None:
    jake, anna = await register(client), await register(client)

    first = await create_article(client, jake, title="Same title")
    second = await create_article(client, anna, title="Same title")
    third = await create_article(client, jake, title="Same title")

    found = {first["slug"], second["slug"], third["slug"]}
    assert len(found) == 3
    assert first["slug"] == "same-title"
    for slug in found:
        assert slug.startswith("same-title")
        assert URL_SAFE_SLUG.match(slug), slug
        fetched = await client.get(f"/api/articles/{slug}")
        assert fetched.status_code == 200


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Привет мир", "privet-mir"),
        ("Crème brûlée à la café", "creme-brulee-a-la-cafe"),
        ("Straße über Köln", "strasse-uber-koln"),
        ("北京", "bei-jing"),
    ],
    ids=["cyrillic", "accented", "german", "cjk"],
)
async def test_unicode_titles_give_readable_ascii_slugs(
    client: AsyncClient, title: str, slug: str
) -> None:
    jake = await register(client)

    article = await create_article(client, jake, title=title)

    assert article["slug"] == slug
    assert article["title"] == title
    assert (await client.get(f"/api/articles/{slug}")).json()["article"]["title"] == title


@pytest.mark.parametrize(
    "title", ["🐉🔥", "!!! ??? ...", "— … —"], ids=["emoji", "ascii", "dashes"]
)
async def test_titles_without_letters_still_get_a_non_empty_url_safe_slug(
    client: AsyncClient, title: str
) -> None:
    jake = await register(client)

    first = await create_article(client, jake, title=title)
    second = await create_article(client, jake, title=title)

    for article in (first, second):
        assert article["slug"], article
        assert URL_SAFE_SLUG.match(article["slug"]), article["slug"]
        assert (await client.get(f"/api/articles/{article['slug']}")).status_code == 200
    assert first["slug"] != second["slug"]


async def test_a_very_long_title_gives_a_bounded_slug(client: AsyncClient) -> None:
    jake = await register(client)

    article = await create_article(client, jake, title="word " * 51)

    assert URL_SAFE_SLUG.match(article["slug"])
    assert len(article["slug"]) <= 200
    assert (await client.get(f"/api/articles/{article['slug']}")).status_code == 200


@pytest.mark.parametrize("title", ["Feed", "FEED!", "  feed  "])
async def test_a_title_that_names_a_fixed_route_gets_a_slug_that_can_be_read(
    client: AsyncClient, title: str
) -> None:
    # `GET /api/articles/feed` is the feed: an article with the slug `feed` could never be read.
    jake = await register(client)
    retitled = await create_article(client, jake)

    created = await create_article(client, jake, title=title)
    updated = await client.put(
        f"/api/articles/{retitled['slug']}",
        json={"article": {"title": title}},
        headers=jake.headers,
    )

    assert updated.status_code == 200, updated.text
    for article in (created, updated.json()["article"]):
        assert article["slug"].startswith("feed-"), article["slug"]
        fetched = await client.get(f"/api/articles/{article['slug']}")
        assert fetched.status_code == 200
        assert fetched.json()["article"]["title"] == title.strip()
    feed = await client.get("/api/articles/feed", headers=jake.headers)
    assert feed.status_code == 200
    assert feed.json() == {"articles": [], "articlesCount": 0}


async def test_every_fixed_route_segment_under_articles_is_a_reserved_slug(app: FastAPI) -> None:
    segments = {
        path.removeprefix("/api/articles/").split("/")[0]
        for path in app.openapi()["paths"]
        if path.startswith("/api/articles/")
    }
    fixed = {segment for segment in segments if not segment.startswith("{")}

    assert "feed" in fixed
    assert fixed <= RESERVED_SLUGS


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": None}, "title", "can't be blank"),
        ({"title": ""}, "title", "can't be blank"),
        ({"title": "   "}, "title", "can't be blank"),
        ({"title": "x" * 256}, "title", "is too long (maximum is 255 characters)"),
        ({"title": 42}, "title", "must be a string"),
        ({"description": None}, "description", "can't be blank"),
        ({"description": " \n "}, "description", "can't be blank"),
        ({"description": ["a"]}, "description", "must be a string"),
        ({"body": None}, "body", "can't be blank"),
        ({"body": "\t  "}, "body", "can't be blank"),
        ({"body": {"text": "x"}}, "body", "must be a string"),
        ({"tagList": "dragons"}, "tagList", "must be an array"),
        ({"tagList": {"a": 1}}, "tagList", "must be an array"),
        ({"tagList": ["ok", ""]}, "tagList", "can't be blank"),
        ({"tagList": ["ok", "   "]}, "tagList", "can't be blank"),
        ({"tagList": ["ok", 7]}, "tagList", "must be a string"),
        ({"tagList": ["x" * 65]}, "tagList", "is too long (maximum is 64 characters)"),
        (
            {"tagList": [f"tag{n}" for n in range(21)]},
            "tagList",
            "has too many items (maximum is 20)",
        ),
    ],
    ids=[
        "title-null",
        "title-empty",
        "title-blank",
        "title-too-long",
        "title-number",
        "description-null",
        "description-blank",
        "description-list",
        "body-null",
        "body-blank",
        "body-object",
        "tags-string",
        "tags-object",
        "tag-empty",
        "tag-blank",
        "tag-number",
        "tag-too-long",
        "too-many-tags",
    ],
)
async def test_an_invalid_field_is_rejected_with_422_naming_that_field(
    client: AsyncClient, changes: dict[str, Any], field: str, message: str
) -> None:
    jake = await register(client)

    response = await client.post(
        "/api/articles", json=article_payload(**changes), headers=jake.headers
    )

    assert_error(response, 422, field, message)
    assert set(response.json()["errors"]) == {field}
    assert (await list_page(client))["articlesCount"] == 0


@pytest.mark.parametrize("field", ["title", "description", "body"])
async def test_a_missing_required_field_is_rejected_with_422(
    client: AsyncClient, field: str
) -> None:
    jake = await register(client)
    payload = article_payload()
    del payload["article"][field]

    response = await client.post("/api/articles", json=payload, headers=jake.headers)

    assert_error(response, 422, field, "can't be blank")


async def test_every_missing_field_is_reported_at_once(client: AsyncClient) -> None:
    jake = await register(client)

    response = await client.post("/api/articles", json={"article": {}}, headers=jake.headers)

    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "title": ["can't be blank"],
            "description": ["can't be blank"],
            "body": ["can't be blank"],
        }
    }


async def test_twenty_tags_and_a_255_character_title_are_accepted(client: AsyncClient) -> None:
    jake = await register(client)
    tags = [f"tag{n}" for n in range(20)]

    article = await create_article(client, jake, title="t" * 255, tagList=tags)

    assert article["title"] == "t" * 255
    assert article["tagList"] == sorted(tags)


@pytest.mark.parametrize(
    "payload",
    [{}, {"article": None}, {"article": "text"}, {"title": "no wrapper"}, []],
    ids=["empty", "null", "string", "unwrapped", "array"],
)
async def test_a_request_without_the_article_object_is_422(
    client: AsyncClient, payload: Any
) -> None:
    jake = await register(client)

    response = await client.post("/api/articles", json=payload, headers=jake.headers)

    assert response.status_code == 422
    assert response.json()["errors"]


async def test_a_body_that_is_not_json_is_422(client: AsyncClient) -> None:
    jake = await register(client)

    response = await client.post(
        "/api/articles",
        content=b'{"article": {',
        headers={**jake.headers, "Content-Type": "application/json"},
    )

    assert_error(response, 422, "body", "is not valid JSON")


# ---------------------------------------------------------------- read


async def test_anyone_can_read_an_article_by_its_slug(client: AsyncClient) -> None:
    jake = await register(client)
    created = await create_article(client, jake, body="It takes a Jacobian")

    response = await client.get(f"/api/articles/{created['slug']}")

    assert response.status_code == 200
    article = response.json()["article"]
    assert article == created
    assert article["body"] == "It takes a Jacobian"
    assert article["favorited"] is False
    assert article["author"]["following"] is False


async def test_a_reader_sees_whether_they_favorited_the_article_and_follow_its_author(
    client: AsyncClient,
) -> None:
    jake, reader, other = await register(client), await register(client), await register(client)
    article = await create_article(client, jake)
    await favorite(client, reader, article["slug"])
    await follow(client, reader, jake.username)

    as_reader = (
        await client.get(f"/api/articles/{article['slug']}", headers=reader.headers)
    ).json()["article"]
    as_other = (await client.get(f"/api/articles/{article['slug']}", headers=other.headers)).json()[
        "article"
    ]
    anonymous = (await client.get(f"/api/articles/{article['slug']}")).json()["article"]

    assert as_reader["favorited"] is True
    assert as_reader["author"]["following"] is True
    assert as_reader["favoritesCount"] == 1
    for view in (as_other, anonymous):
        assert view["favorited"] is False
        assert view["author"]["following"] is False
        assert view["favoritesCount"] == 1


async def test_an_unknown_slug_is_404(client: AsyncClient) -> None:
    response = await client.get(f"/api/articles/{unique('no-such-article-')}")

    assert_error(response, 404, "article", "not found")


async def test_reading_an_article_with_a_bad_token_is_401_not_anonymous(
    client: AsyncClient,
) -> None:
    jake = await register(client)
    article = await create_article(client, jake)

    response = await client.get(
        f"/api/articles/{article['slug']}", headers={"Authorization": "Token garbage"}
    )

    assert_error(response, 401, "token", "is invalid or expired")


# ---------------------------------------------------------------- update


async def test_the_author_can_change_only_the_body_and_the_rest_is_kept(
    client: AsyncClient,
) -> None:
    jake = await register(client)
    article = await create_article(client, jake, tagList=["a", "b"])

    response = await client.put(
        f"/api/articles/{article['slug']}",
        json={"article": {"body": "A new body"}},
        headers=jake.headers,
    )

    assert response.status_code == 200, response.text
    updated = response.json()["article"]
    assert set(updated) == ARTICLE_KEYS
    assert updated["body"] == "A new body"
    for key in ("slug", "title", "description", "tagList", "createdAt", "author"):
        assert updated[key] == article[key], key
    fetched = (await client.get(f"/api/articles/{article['slug']}")).json()["article"]
    assert fetched["body"] == "A new body"


async def test_changing_the_description_keeps_title_body_and_slug(client: AsyncClient) -> None:
    jake = await register(client)
    article = await create_article(client, jake)

    response = await client.put(
        f"/api/articles/{article['slug']}",
        json={"article": {"description": "Fresh summary"}},
        headers=jake.headers,
    )

    updated = response.json()["article"]
    assert updated["description"] == "Fresh summary"
    assert (updated["slug"], updated["title"], updated["body"]) == (
        article["slug"],
        article["title"],
        article["body"],
    )


async def test_a_new_title_gives_a_new_slug_and_the_old_slug_is_gone(client: AsyncClient) -> None:
    jake = await register(client)
    article = await create_article(client, jake, title="Original title")

    response = await client.put(
        "/api/articles/original-title",
        json={"article": {"title": "Did you train your dragon?"}},
        headers=jake.headers,
    )

    assert response.status_code == 200, response.text
    updated = response.json()["article"]
    assert updated["title"] == "Did you train your dragon?"
    assert updated["slug"] == "did-you-train-your-dragon"
    assert updated["body"] == article["body"]
    assert_error(await client.get("/api/articles/original-title"), 404, "article", "not found")
    fetched = await client.get("/api/articles/did-you-train-your-dragon")
    assert fetched.json()["article"]["title"] == "Did you train your dragon?"


async def test_a_new_title_that_is_taken_gets_a_distinct_slug(client: AsyncClient) -> None:
    jake = await register(client)
    await create_article(client, jake, title="Taken title")
    mine = await create_article(client, jake, title="Something else")

    response = await client.put(
        f"/api/articles/{mine['slug']}",
        json={"article": {"title": "Taken title"}},
        headers=jake.headers,
    )

    new_slug = response.json()["article"]["slug"]
    assert new_slug != "taken-title"
    assert new_slug.startswith("taken-title-")
    assert (await client.get("/api/articles/taken-title")).json()["article"]["slug"] == (
        "taken-title"
    )
    assert (await client.get(f"/api/articles/{mine['slug']}")).status_code == 404


async def test_updating_moves_updated_at_but_not_created_at(
    client: AsyncClient, app: FastAPI
) -> None:
    jake = await register(client)
    article = await create_article(client, jake)
    an_hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    await set_timestamps(app, article["slug"], an_hour_ago)
    before = (await client.get(f"/api/articles/{article['slug']}")).json()["article"]

    response = await client.put(
        f"/api/articles/{article['slug']}",
        json={"article": {"body": "Edited"}},
        headers=jake.headers,
    )

    updated = response.json()["article"]
    assert updated["createdAt"] == before["createdAt"]
    assert TIMESTAMP.match(updated["updatedAt"])
    assert updated["updatedAt"] > before["updatedAt"]


async def test_the_tag_list_can_be_replaced_or_emptied(client: AsyncClient) -> None:
    jake = await register(client)
    article = await create_article(client, jake, tagList=["old", "kept"])
    slug = article["slug"]

    replaced = await client.put(
        f"/api/articles/{slug}",
        json={"article": {"tagList": ["kept", "new", "new"]}},
        headers=jake.headers,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["article"]["tagList"] == ["kept", "new"]
    assert slugs(await list_page(client, tag="old")) == []
    assert slugs(await list_page(client, tag="new")) == [slug]

    emptied = await client.put(
        f"/api/articles/{slug}", json={"article": {"tagList": []}}, headers=jake.headers
    )
    assert emptied.json()["article"]["tagList"] == []
    assert (await client.get(f"/api/articles/{slug}")).json()["article"]["tagList"] == []


async def test_an_update_that_leaves_out_the_tag_list_keeps_the_tags(client: AsyncClient) -> None:
    jake = await register(client)
    article = await create_article(client, jake, tagList=["dragons", "training"])

    response = await client.put(
        f"/api/articles/{article['slug']}",
        json={"article": {"body": "A new body"}},
        headers=jake.headers,
    )

    assert response.status_code == 200, response.text
    assert response.json()["article"]["tagList"] == ["dragons", "training"]
    assert slugs(await list_page(client, tag="dragons")) == [article["slug"]]


@pytest.mark.parametrize("field", ["title", "description", "body", "tagList"])
async def test_setting_a_field_to_null_is_422(client: AsyncClient, field: str) -> None:
    jake = await register(client)
    article = await create_article(client, jake)

    response = await client.put(
        f"/api/articles/{article['slug']}", json={"article": {field: None}}, headers=jake.headers
    )

    assert_error(response, 422, field, "can't be blank")
    assert (await client.get(f"/api/articles/{article['slug']}")).json()["article"] == article


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "  "}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"body": ""}, "body"),
        ({"tagList": "one"}, "tagList"),
        ({"tagList": [f"t{n}" for n in range(21)]}, "tagList"),
    ],
    ids=["blank-title", "long-title", "empty-body", "tags-not-array", "too-many-tags"],
)
async def test_an_invalid_update_is_422_and_changes_nothing(
    client: AsyncClient, changes: dict[str, Any], field: str
) -> None:
    jake = await register(client)
    article = await create_article(client, jake)

    response = await client.put(
        f"/api/articles/{article['slug']}", json={"article": changes}, headers=jake.headers
    )

    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert (await client.get(f"/api/articles/{article['slug']}")).json()["article"] == article


async def test_read_only_keys_in_an_update_are_ignored(client: AsyncClient) -> None:
    jake, mallory = await register(client), await register(client)
    article = await create_article(client, jake)

    response = await client.put(
        f"/api/articles/{article['slug']}",
        json={
            "article": {
                "body": "Legit change",
                "slug": "hijacked-slug",
                "author": {"username": mallory.username},
                "authorId": 999,
                "favoritesCount": 1000,
                "favorited": True,
                "createdAt": "2000-01-01T00:00:00.000Z",
            }
        },
        headers=jake.headers,
    )

    assert response.status_code == 200, response.text
    updated = response.json()["article"]
    assert updated["body"] == "Legit change"
    assert updated["slug"] == article["slug"]
    assert updated["author"]["username"] == jake.username
    assert updated["favoritesCount"] == 0
    assert updated["favorited"] is False
    assert updated["createdAt"] == article["createdAt"]
    assert (await client.get("/api/articles/hijacked-slug")).status_code == 404


async def test_read_only_keys_on_create_are_ignored(client: AsyncClient) -> None:
    jake, mallory = await register(client), await register(client)
    payload = article_payload(
        title="Honest title",
        slug="chosen-slug",
        author={"username": mallory.username},
        favoritesCount=50,
        favorited=True,
        createdAt="2000-01-01T00:00:00.000Z",
    )

    response = await client.post("/api/articles", json=payload, headers=jake.headers)

    assert response.status_code == 201, response.text
    article = response.json()["article"]
    assert article["slug"] == "honest-title"
    assert article["author"]["username"] == jake.username
    assert article["favoritesCount"] == 0
    assert article["favorited"] is False
    assert not article["createdAt"].startswith("2000")
    assert (await client.get("/api/articles/chosen-slug")).status_code == 404


async def test_only_the_author_may_update_an_article(client: AsyncClient) -> None:
    jake, mallory = await register(client), await register(client)
    article = await create_article(client, jake)

    response = await client.put(
        f"/api/articles/{article['slug']}",
        json={"article": {"body": "Defaced"}},
        headers=mallory.headers,
    )

    assert_error(response, 403, "article", "forbidden")
    assert (await client.get(f"/api/articles/{article['slug']}")).json()["article"] == article


async def test_updating_without_a_token_is_401(client: AsyncClient) -> None:
    jake = await register(client)
    article = await create_article(client, jake)

    response = await client.put(
        f"/api/articles/{article['slug']}", json={"article": {"body": "Anonymous edit"}}
    )

    assert_unauthorized(response)


async def test_updating_an_unknown_article_is_404(client: AsyncClient) -> None:
    jake = await register(client)

    response = await client.put(
        f"/api/articles/{unique('missing-')}",
        json={"article": {"body": "Nothing to edit"}},
        headers=jake.headers,
    )

    assert_error(response, 404, "article", "not found")


# ---------------------------------------------------------------- delete


async def test_the_author_deletes_an_article_with_204_and_then_it_is_gone(
    client: AsyncClient,
) -> None:
    jake = await register(client)
    article = await create_article(client, jake)

    response = await client.delete(f"/api/articles/{article['slug']}", headers=jake.headers)

    assert response.status_code == 204
    assert response.content == b""
    assert_error(await client.get(f"/api/articles/{article['slug']}"), 404, "article", "not found")
    again = await client.delete(f"/api/articles/{article['slug']}", headers=jake.headers)
    assert_error(again, 404, "article", "not found")
    assert (await list_page(client))["articlesCount"] == 0


async def test_deleting_an_article_removes_its_comments_and_favorites_only(
    client: AsyncClient, app: FastAPI
) -> None:
    jake, reader = await register(client), await register(client)
    doomed = await create_article(client, jake)
    kept = await create_article(client, jake)
    for article in (doomed, kept):
        await comment(client, reader, article["slug"])
        await favorite(client, reader, article["slug"])
    assert await count_rows(app, Comment) == 2
    assert await count_rows(app, Favorite) == 2

    response = await client.delete(f"/api/articles/{doomed['slug']}", headers=jake.headers)

    assert response.status_code == 204
    assert await count_rows(app, Comment) == 1
    assert await count_rows(app, Favorite) == 1
    favorites = await list_page(client, favorited=reader.username)
    assert slugs(favorites) == [kept["slug"]]
    assert favorites["articlesCount"] == 1
    comments = await client.get(f"/api/articles/{kept['slug']}/comments")
    assert len(comments.json()["comments"]) == 1


async def test_only_the_author_may_delete_an_article(client: AsyncClient) -> None:
    jake, mallory = await register(client), await register(client)
    article = await create_article(client, jake)

    response = await client.delete(f"/api/articles/{article['slug']}", headers=mallory.headers)

    assert_error(response, 403, "article", "forbidden")
    assert (await client.get(f"/api/articles/{article['slug']}")).status_code == 200


async def test_deleting_without_a_token_is_401(client: AsyncClient) -> None:
    jake = await register(client)
    article = await create_article(client, jake)

    response = await client.delete(f"/api/articles/{article['slug']}")

    assert_unauthorized(response)
    assert (await client.get(f"/api/articles/{article['slug']}")).status_code == 200


# ---------------------------------------------------------------- list


async def test_the_list_is_newest_first_without_bodies(client: AsyncClient) -> None:
    jake = await register(client)
    created = [(await create_article(client, jake))["slug"] for _ in range(4)]

    page = await list_page(client)

    assert set(page) == {"articles", "articlesCount"}
    assert slugs(page) == list(reversed(created))
    assert page["articlesCount"] == 4
    for item in page["articles"]:
        assert set(item) == LIST_ITEM_KEYS
        assert "body" not in item
        assert set(item["author"]) == PROFILE_KEYS
        assert TIMESTAMP.match(item["createdAt"])
        assert TIMESTAMP.match(item["updatedAt"])


async def test_the_list_orders_by_creation_time_not_by_insertion(
    client: AsyncClient, app: FastAPI
) -> None:
    jake = await register(client)
    first, second, third = [(await create_article(client, jake))["slug"] for _ in range(3)]
    now = datetime.now(UTC)
    await set_timestamps(app, first, now - timedelta(days=1))
    await set_timestamps(app, second, now - timedelta(days=3))
    await set_timestamps(app, third, now - timedelta(days=2))

    assert slugs(await list_page(client)) == [first, third, second]


async def test_an_empty_database_lists_no_articles(client: AsyncClient) -> None:
    assert await list_page(client) == {"articles": [], "articlesCount": 0}


async def test_the_list_filters_by_tag(client: AsyncClient) -> None:
    jake = await register(client)
    dragons = await create_article(client, jake, tagList=["dragons", "fire"])
    await create_article(client, jake, tagList=["cats"])
    both = await create_article(client, jake, tagList=["fire", "dragons"])

    page = await list_page(client, tag="dragons")

    assert slugs(page) == [both["slug"], dragons["slug"]]
    assert page["articlesCount"] == 2
    # Tags are matched exactly, not as substrings.
    assert (await list_page(client, tag="drag"))["articlesCount"] == 0


async def test_the_list_filters_by_author(client: AsyncClient) -> None:
    jake, anna = await register(client), await register(client)
    mine = await create_article(client, jake)
    await create_article(client, anna)

    page = await list_page(client, author=jake.username)

    assert slugs(page) == [mine["slug"]]
    assert page["articlesCount"] == 1
    assert page["articles"][0]["author"]["username"] == jake.username


async def test_the_author_filter_ignores_case(client: AsyncClient) -> None:
    jake = await register(client, username=unique("JakeAuthor"))
    mine = await create_article(client, jake)

    page = await list_page(client, author=jake.username.upper())

    assert slugs(page) == [mine["slug"]]


async def test_the_list_filters_by_who_favorited(client: AsyncClient) -> None:
    jake, fan = await register(client), await register(client)
    liked = await create_article(client, jake)
    await create_article(client, jake)
    await favorite(client, fan, liked["slug"])

    page = await list_page(client, favorited=fan.username)

    assert slugs(page) == [liked["slug"]]
    assert page["articlesCount"] == 1
    assert page["articles"][0]["favoritesCount"] == 1
    # The flag is about the caller (anonymous here), not about the filtered user.
    assert page["articles"][0]["favorited"] is False


async def test_filters_combine_to_narrow_the_list(client: AsyncClient) -> None:
    jake, anna, fan = await register(client), await register(client), await register(client)
    target = await create_article(client, jake, tagList=["rust"])
    not_favorited = await create_article(client, jake, tagList=["rust"])
    other_tag = await create_article(client, jake, tagList=["go"])
    other_author = await create_article(client, anna, tagList=["rust"])
    for article in (target, other_tag, other_author):
        await favorite(client, fan, article["slug"])

    page = await list_page(client, tag="rust", author=jake.username, favorited=fan.username)

    assert slugs(page) == [target["slug"]]
    assert page["articlesCount"] == 1
    tag_and_author = await list_page(client, tag="rust", author=jake.username)
    assert slugs(tag_and_author) == [not_favorited["slug"], target["slug"]]
    tag_and_fan = await list_page(client, tag="rust", favorited=fan.username)
    assert slugs(tag_and_fan) == [other_author["slug"], target["slug"]]


FILTER_SHAPES = [
    shape for size in (1, 2, 3) for shape in combinations(("tag", "author", "favorited"), size)
]


@pytest.mark.parametrize("shape", FILTER_SHAPES, ids="+".join)
async def test_every_combination_of_filters_pages_and_counts_exactly_its_matches(
    client: AsyncClient, app: FastAPI, shape: tuple[str, ...]
) -> None:
    """Each filter alone, any two, all three; anonymous and signed in: every page is the slice
    of the matches, newest first (ties included), and articlesCount is their number."""
    alice, bob, fan, reader = [await register(client) for _ in range(4)]
    wide, narrow = unique("wide"), unique("narrow")
    await follow(client, reader, bob.username)
    base = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    made: dict[str, dict[str, Any]] = {}  # by slug, in creation order
    for i in range(12):
        author = bob if i % 3 == 0 else alice
        tags = [narrow] if i % 4 == 3 else [wide, narrow] if i % 2 else [wide]
        slug = (await create_article(client, author, tagList=tags))["slug"]
        await set_timestamps(app, slug, base + timedelta(hours=i * 7 % 5))  # with ties
        made[slug] = {
            "author": author,
            "tags": tags,
            "fan": i % 2 == 0 or i == 5,
            "read": i % 5 == 0,
        }
        for who in (fan, reader):
            if made[slug]["fan" if who is fan else "read"]:
                await favorite(client, who, slug)
        made[slug]["at"] = (i * 7 % 5, i)
    given = {"tag": wide, "author": alice.username, "favorited": fan.username}
    params: dict[str, Any] = {name: given[name] for name in shape}
    wanted: dict[str, Callable[[dict[str, Any]], bool]] = {
        "tag": lambda m: wide in m["tags"],
        "author": lambda m: m["author"] is alice,
        "favorited": lambda m: m["fan"],
    }
    # Newest first; among equal timestamps the later-created article first.
    newest_first = sorted(made, key=lambda slug: made[slug]["at"], reverse=True)
    expected = [s for s in newest_first if all(wanted[name](made[s]) for name in shape)]
    assert 0 < len(expected) < 12

    for headers in (None, reader.headers):
        for limit in (1, 3, 20):
            paged: list[str] = []
            for offset in range(0, len(expected) + 2, limit):
                page = await list_page(
                    client, headers=headers, limit=limit, offset=offset, **params
                )
                assert page["articlesCount"] == len(expected), (limit, offset)
                paged += slugs(page)
                for article in page["articles"]:
                    mine = made[article["slug"]]
                    flags = (article["favorited"], article["author"]["following"])
                    signed_in = headers is not None
                    assert flags == (
                        signed_in and mine["read"],
                        signed_in and mine["author"] is bob,
                    )
            assert paged == expected, (headers is not None, limit)
    for name in shape:
        nobody = await list_page(client, **{**params, name: unique("nobody")})
        assert nobody == {"articles": [], "articlesCount": 0}, name


@pytest.mark.parametrize(
    ("given", "walked"),
    [
        ({"author": "a", "tag": "t"}, "articles"),
        ({"author": "a", "favorited": "f"}, "articles"),
        ({"author": "a", "favorited": "f", "tag": "t"}, "articles"),
        ({"favorited": "f", "tag": "t"}, "favorites"),
        ({"tag": "t"}, "article_tags"),
    ],
)
def test_combined_filters_walk_the_narrowest_filters_index_and_probe_the_others(
    given: dict[str, str], walked: str
) -> None:
    """An author's articles or a user's favorites are few, a tag's may be most of them: a page
    and its count walk the narrowest filter's index and look each entry up in the others'
    keys, never reading every article of the tag (docs/performance.md, "Combined filters")."""
    shape = article_queries.ArticleFilter.of(given).shape
    matches = article_queries._matches(shape)

    assert [table.name for table in matches.get_final_froms()] == [walked]  # type: ignore[attr-defined]


async def test_offset_goes_as_deep_as_its_bound_and_a_page_past_it_is_a_422(
    client: AsyncClient, settings: Settings
) -> None:
    """Both doors, the hot path and FastAPI's router, take the deepest page and refuse the next
    one with the bound in the envelope (docs/performance.md, "Deep pages")."""
    jake = await register(client)
    await create_article(client, jake)
    routed = settings.model_copy(update={"hot_reads_enabled": False})
    async with app_client(routed) as router_only:
        for door in (client, router_only):
            deepest = await door.get("/api/articles", params={"offset": MAX_OFFSET})
            assert deepest.status_code == 200, deepest.text
            assert deepest.json() == {"articles": [], "articlesCount": 1}
            past = await door.get("/api/articles", params={"offset": MAX_OFFSET + 1, "tag": "x"})
            assert_error(past, 422, "offset", DEEPEST_OFFSET_MESSAGE)


@pytest.mark.parametrize("param", ["tag", "author", "favorited"])
async def test_an_unknown_filter_value_gives_an_empty_list(client: AsyncClient, param: str) -> None:
    jake = await register(client)
    await create_article(client, jake)

    page = await list_page(client, **{param: unique("unknown")})

    assert page == {"articles": [], "articlesCount": 0}


async def test_limit_and_offset_page_through_and_count_all_matches(client: AsyncClient) -> None:
    jake = await register(client)
    created = [(await create_article(client, jake))["slug"] for _ in range(5)]
    newest_first = list(reversed(created))

    first = await list_page(client, limit=2, offset=0)
    second = await list_page(client, limit=2, offset=2)
    last = await list_page(client, limit=2, offset=4)
    beyond = await list_page(client, limit=2, offset=5)

    assert slugs(first) == newest_first[0:2]
    assert slugs(second) == newest_first[2:4]
    assert slugs(last) == newest_first[4:5]
    assert slugs(beyond) == []
    for page in (first, second, last, beyond):
        assert page["articlesCount"] == 5


async def test_articles_count_is_the_filtered_total_not_the_page_size(
    client: AsyncClient,
) -> None:
    jake, anna = await register(client), await register(client)
    for _ in range(3):
        await create_article(client, jake)
    await create_article(client, anna)

    page = await list_page(client, author=jake.username, limit=1)

    assert len(page["articles"]) == 1
    assert page["articlesCount"] == 3


async def test_the_default_page_size_is_twenty(client: AsyncClient) -> None:
    jake = await register(client)
    for _ in range(22):
        await create_article(client, jake)

    page = await list_page(client)

    assert len(page["articles"]) == 20
    assert page["articlesCount"] == 22
    assert len((await list_page(client, limit=100))["articles"]) == 22


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"limit": 0}, "limit", "must be greater than or equal to 1"),
        ({"limit": -5}, "limit", "must be greater than or equal to 1"),
        ({"limit": 101}, "limit", "must be less than or equal to 100"),
        ({"limit": "ten"}, "limit", "must be an integer"),
        ({"limit": "1.5"}, "limit", "must be an integer"),
        ({"offset": -1}, "offset", "must be greater than or equal to 0"),
        ({"offset": "x"}, "offset", "must be an integer"),
        ({"offset": "0.0"}, "offset", "must be an integer"),
        ({"limit": " 5"}, "limit", "must be an integer"),
        ({"limit": "1_0"}, "limit", "must be an integer"),
        ({"limit": "\u0665"}, "limit", "must be an integer"),
    ],
    ids=[
        "limit-0",
        "limit-negative",
        "limit-101",
        "limit-word",
        "limit-float",
        "offset-neg",
        "offset-word",
        "offset-zero-point-zero",
        "limit-padded",
        "limit-underscored",
        "limit-arabic-digit",
    ],
)
async def test_out_of_range_paging_parameters_are_422(
    client: AsyncClient, params: dict[str, Any], field: str, message: str
) -> None:
    response = await client.get("/api/articles", params=params)

    assert_error(response, 422, field, message)


@pytest.mark.parametrize("path", ["/api/articles", "/api/articles/feed"])
@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("offset=5&offset=0", ["offset"]),
        ("limit=1&limit=1", ["limit"]),
        ("limit=2&offset=1&limit=3&offset=0", ["limit", "offset"]),
    ],
)
async def test_a_paging_parameter_given_twice_is_422(
    client: AsyncClient, path: str, query: str, fields: list[str]
) -> None:
    jake = await register(client)

    response = await client.get(f"{path}?{query}", headers=jake.headers)

    assert response.status_code == 422
    assert response.json() == {"errors": {field: ["must be given only once"] for field in fields}}


async def test_a_filter_given_twice_is_422_and_other_parameters_may_repeat(
    client: AsyncClient,
) -> None:
    twice = await client.get("/api/articles?tag=a&tag=b&author=x&favorited=")
    unknown = await client.get("/api/articles?unknown=1&unknown=2")

    assert_error(twice, 422, "tag", "must be given only once")
    assert unknown.status_code == 200


async def test_a_limit_of_one_hundred_is_accepted(client: AsyncClient) -> None:
    jake = await register(client)
    await create_article(client, jake)

    page = await list_page(client, limit=100)

    assert page["articlesCount"] == 1
    assert len(page["articles"]) == 1


async def test_list_flags_are_computed_for_the_caller(client: AsyncClient) -> None:
    jake, anna, reader = await register(client), await register(client), await register(client)
    by_jake = await create_article(client, jake)
    by_anna = await create_article(client, anna)
    await favorite(client, reader, by_jake["slug"])
    await follow(client, reader, anna.username)

    as_reader = {
        a["slug"]: a for a in (await list_page(client, headers=reader.headers))["articles"]
    }
    anonymous = {a["slug"]: a for a in (await list_page(client))["articles"]}
    as_jake = {a["slug"]: a for a in (await list_page(client, headers=jake.headers))["articles"]}

    assert as_reader[by_jake["slug"]]["favorited"] is True
    assert as_reader[by_jake["slug"]]["author"]["following"] is False
    assert as_reader[by_anna["slug"]]["favorited"] is False
    assert as_reader[by_anna["slug"]]["author"]["following"] is True
    for view in (anonymous, as_jake):
        for article in view.values():
            assert article["favorited"] is False
            assert article["author"]["following"] is False
    assert anonymous[by_jake["slug"]]["favoritesCount"] == 1


async def test_pages_never_repeat_or_skip_articles_created_at_the_same_instant(
    client: AsyncClient, app: FastAPI
) -> None:
    jake = await register(client)
    created = [(await create_article(client, jake))["slug"] for _ in range(7)]
    same_instant = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    for slug in created:
        await set_timestamps(app, slug, same_instant)

    everything = slugs(await list_page(client, limit=100))
    paged: list[str] = []
    for offset in range(0, 7, 2):
        paged += slugs(await list_page(client, limit=2, offset=offset))

    assert paged == everything
    assert sorted(paged) == sorted(created)
    assert len(set(paged)) == 7
    # Ties are broken by insertion: the later article is shown first.
    assert everything == list(reversed(created))


@pytest.mark.parametrize("listing", ["tag", "favorited", "feed"])
async def test_filtered_pages_are_newest_first_and_never_repeat_or_skip(
    client: AsyncClient, app: FastAPI, listing: str
) -> None:
    """?tag=, ?favorited= and the feed read their own page-order indexes (migration 0004):
    pages must still follow the articles' created_at, ties broken the same way."""
    jake, anna, reader = [await register(client) for _ in range(3)]
    tag = unique("order")
    await follow(client, reader, jake.username)
    created = [(await create_article(client, jake, tagList=[tag]))["slug"] for _ in range(7)]
    await create_article(client, anna, tagList=[unique("other")])  # matches none of them
    for slug in created:
        await favorite(client, reader, slug)
    await run_jobs_until_idle(app)  # the feed fanned out, then the times move
    # Out of creation order, with three at one instant: the order comes from the timestamps.
    base = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    moments = [base + timedelta(hours=h) for h in (5, 1, 3, 3, 3, 0, 9)]
    for slug, moment in zip(created, moments, strict=True):
        await set_timestamps(app, slug, moment)
    # Newest first; among equal timestamps the later-created article first.
    expected = [s for _, _, s in sorted(zip(moments, range(7), created, strict=True), reverse=True)]
    path, params, headers = {
        "tag": ("/api/articles", {"tag": tag}, None),
        "favorited": ("/api/articles", {"favorited": reader.username}, None),
        "feed": ("/api/articles/feed", {}, reader.headers),
    }[listing]

    for limit in (1, 2, 3, 7, 20):
        paged: list[str] = []
        for offset in range(0, 8, limit):
            page = await list_page(
                client, path, headers=headers, limit=limit, offset=offset, **params
            )
            assert page["articlesCount"] == 7
            paged += slugs(page)
        assert paged == expected, f"limit={limit}"
