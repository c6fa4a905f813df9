"""Comments: adding, listing and deleting them, with their permissions and errors."""

from __future__ import annotations

import re
from typing import Any

from httpx import AsyncClient

from tests.factories import comment, create_article, follow, register

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def comments_url(slug: str, comment_id: int | str | None = None) -> str:
    base = f"/api/articles/{slug}/comments"
    return base if comment_id is None else f"{base}/{comment_id}"


async def post_comment(
    client: AsyncClient, slug: str, payload: Any, headers: dict[str, str] | None = None
) -> Any:
    return await client.post(comments_url(slug), json=payload, headers=headers)


# ------------------------------------------------------------------ adding


async def test_adding_a_comment_returns_it_with_its_author(client: AsyncClient) -> None:
    author, reader = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]

    response = await post_comment(
        client, slug, {"comment": {"body": "Thank you so much!"}}, reader.headers
    )

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    created = response.json()["comment"]
    assert set(created) == {"id", "createdAt", "updatedAt", "body", "author"}
    assert isinstance(created["id"], int)
    assert created["body"] == "Thank you so much!"
    assert TIMESTAMP.match(created["createdAt"])
    assert created["updatedAt"] == created["createdAt"]
    assert created["author"] == {
        "username": reader.username,
        "bio": None,
        "image": None,
        "following": False,
    }


async def test_a_comment_body_is_kept_verbatim(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    body = "  Indented *markdown*\n\n- with a list\n"

    created = await comment(client, author, slug, body=body)

    assert created["body"] == body
    listed = (await client.get(comments_url(slug))).json()["comments"]
    assert listed[0]["body"] == body


async def test_a_blank_comment_is_rejected(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]

    for body in ("", "   ", "\n\t"):
        response = await post_comment(client, slug, {"comment": {"body": body}}, author.headers)
        assert response.status_code == 422, repr(body)
        assert response.json() == {"errors": {"body": ["can't be blank"]}}

    assert (await client.get(comments_url(slug))).json() == {"comments": []}


async def test_a_comment_without_a_body_is_rejected(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]

    for payload in ({"comment": {}}, {"comment": {"body": None}}):
        response = await post_comment(client, slug, payload, author.headers)
        assert response.status_code == 422, payload
        assert response.json() == {"errors": {"body": ["can't be blank"]}}

    response = await post_comment(client, slug, {}, author.headers)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["comment"]


async def test_a_comment_body_that_is_not_a_string_is_rejected(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]

    response = await post_comment(client, slug, {"comment": {"body": 42}}, author.headers)

    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["must be a string"]}}


async def test_a_too_long_comment_is_rejected_and_the_longest_allowed_is_accepted(
    client: AsyncClient,
) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]

    too_long = await post_comment(client, slug, {"comment": {"body": "x" * 10_001}}, author.headers)
    longest = await post_comment(client, slug, {"comment": {"body": "x" * 10_000}}, author.headers)

    assert too_long.status_code == 422
    assert too_long.json() == {"errors": {"body": ["is too long (maximum is 10000 characters)"]}}
    assert longest.status_code == 201


async def test_adding_a_comment_requires_authentication(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]

    response = await post_comment(client, slug, {"comment": {"body": "Hi"}})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Token"
    assert response.json() == {"errors": {"token": ["is missing"]}}
    assert (await client.get(comments_url(slug))).json() == {"comments": []}


async def test_adding_a_comment_with_a_bad_token_is_unauthorized(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]

    response = await post_comment(
        client, slug, {"comment": {"body": "Hi"}}, {"Authorization": "Token not-a-jwt"}
    )

    assert response.status_code == 401


async def test_commenting_on_an_unknown_article_is_not_found(client: AsyncClient) -> None:
    reader = await register(client)

    response = await post_comment(
        client, "no-such-article", {"comment": {"body": "Hello?"}}, reader.headers
    )

    assert response.status_code == 404
    assert response.json() == {"errors": {"article": ["not found"]}}


# ------------------------------------------------------------------ listing


async def test_anyone_can_list_comments_newest_first(client: AsyncClient) -> None:
    author, reader = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    first = await comment(client, reader, slug, body="first")
    second = await comment(client, author, slug, body="second")
    third = await comment(client, reader, slug, body="third")

    response = await client.get(comments_url(slug))

    assert response.status_code == 200
    listed = response.json()["comments"]
    assert [c["id"] for c in listed] == [third["id"], second["id"], first["id"]]
    assert [c["body"] for c in listed] == ["third", "second", "first"]
    assert listed[1] == second


async def test_listing_comments_shows_only_that_articles_comments(client: AsyncClient) -> None:
    author = await register(client)
    one = (await create_article(client, author))["slug"]
    other = (await create_article(client, author))["slug"]
    mine = await comment(client, author, one, body="on one")
    await comment(client, author, other, body="on other")

    listed = (await client.get(comments_url(one))).json()["comments"]

    assert [c["id"] for c in listed] == [mine["id"]]


async def test_an_article_without_comments_lists_none(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]

    response = await client.get(comments_url(slug))

    assert response.status_code == 200
    assert response.json() == {"comments": []}


async def test_comment_authors_show_whether_the_caller_follows_them(client: AsyncClient) -> None:
    author, followed, unfollowed, reader = (
        await register(client),
        await register(client),
        await register(client),
        await register(client),
    )
    slug = (await create_article(client, author))["slug"]
    await comment(client, followed, slug, body="by followed")
    await comment(client, unfollowed, slug, body="by unfollowed")
    await follow(client, reader, followed.username)

    as_reader = (await client.get(comments_url(slug), headers=reader.headers)).json()
    anonymous = (await client.get(comments_url(slug))).json()
    as_followed = (await client.get(comments_url(slug), headers=followed.headers)).json()

    following = {c["author"]["username"]: c["author"]["following"] for c in as_reader["comments"]}
    assert following == {followed.username: True, unfollowed.username: False}
    assert all(c["author"]["following"] is False for c in anonymous["comments"])
    assert all(c["author"]["following"] is False for c in as_followed["comments"])


async def test_listing_comments_with_a_bad_token_is_unauthorized(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]

    response = await client.get(comments_url(slug), headers={"Authorization": "Token nope"})

    assert response.status_code == 401


async def test_listing_comments_of_an_unknown_article_is_not_found(client: AsyncClient) -> None:
    response = await client.get(comments_url("no-such-article"))

    assert response.status_code == 404
    assert response.json() == {"errors": {"article": ["not found"]}}


# ------------------------------------------------------------------ deleting


async def test_the_comment_author_can_delete_their_comment(client: AsyncClient) -> None:
    author, reader = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    kept = await comment(client, reader, slug, body="kept")
    doomed = await comment(client, reader, slug, body="doomed")

    response = await client.delete(comments_url(slug, doomed["id"]), headers=reader.headers)

    assert response.status_code == 204
    assert response.content == b""
    listed = (await client.get(comments_url(slug))).json()["comments"]
    assert [c["id"] for c in listed] == [kept["id"]]


async def test_the_article_author_can_delete_anyones_comment_on_it(client: AsyncClient) -> None:
    author, reader = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    doomed = await comment(client, reader, slug)

    response = await client.delete(comments_url(slug, doomed["id"]), headers=author.headers)

    assert response.status_code == 204
    assert (await client.get(comments_url(slug))).json() == {"comments": []}


async def test_a_third_user_cannot_delete_a_comment(client: AsyncClient) -> None:
    author, commenter, stranger = (
        await register(client),
        await register(client),
        await register(client),
    )
    slug = (await create_article(client, author))["slug"]
    target = await comment(client, commenter, slug)

    response = await client.delete(comments_url(slug, target["id"]), headers=stranger.headers)

    assert response.status_code == 403
    assert response.json() == {"errors": {"comment": ["forbidden"]}}
    listed = (await client.get(comments_url(slug))).json()["comments"]
    assert [c["id"] for c in listed] == [target["id"]]


async def test_authoring_another_article_grants_no_right_over_its_comments(
    client: AsyncClient,
) -> None:
    author, other_author, commenter = (
        await register(client),
        await register(client),
        await register(client),
    )
    slug = (await create_article(client, author))["slug"]
    await create_article(client, other_author)
    target = await comment(client, commenter, slug)

    response = await client.delete(comments_url(slug, target["id"]), headers=other_author.headers)

    assert response.status_code == 403


async def test_deleting_a_comment_requires_authentication(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    target = await comment(client, author, slug)

    response = await client.delete(comments_url(slug, target["id"]))

    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}
    assert len((await client.get(comments_url(slug))).json()["comments"]) == 1


async def test_deleting_an_unknown_comment_is_not_found(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    existing = await comment(client, author, slug)

    response = await client.delete(
        comments_url(slug, existing["id"] + 1000), headers=author.headers
    )

    assert response.status_code == 404
    assert response.json() == {"errors": {"comment": ["not found"]}}


async def test_an_unknown_comment_is_not_found_before_permissions_are_asked(
    client: AsyncClient,
) -> None:
    author, stranger = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    existing = await comment(client, author, slug)

    response = await client.delete(
        comments_url(slug, existing["id"] + 1000), headers=stranger.headers
    )

    assert response.status_code == 404
    assert response.json() == {"errors": {"comment": ["not found"]}}


async def test_deleting_an_already_deleted_comment_is_not_found(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    target = await comment(client, author, slug)
    await client.delete(comments_url(slug, target["id"]), headers=author.headers)

    response = await client.delete(comments_url(slug, target["id"]), headers=author.headers)

    assert response.status_code == 404


async def test_a_comment_cannot_be_deleted_through_another_article(client: AsyncClient) -> None:
    author = await register(client)
    home = (await create_article(client, author))["slug"]
    elsewhere = (await create_article(client, author))["slug"]
    target = await comment(client, author, home)

    response = await client.delete(comments_url(elsewhere, target["id"]), headers=author.headers)

    assert response.status_code == 404
    assert response.json() == {"errors": {"comment": ["not found"]}}
    assert len((await client.get(comments_url(home))).json()["comments"]) == 1


async def test_deleting_a_comment_of_an_unknown_article_is_not_found(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    target = await comment(client, author, slug)

    response = await client.delete(
        comments_url("no-such-article", target["id"]), headers=author.headers
    )

    assert response.status_code == 404
    assert response.json() == {"errors": {"article": ["not found"]}}


async def test_a_comment_id_must_be_a_positive_integer(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]

    for bad_id in ("abc", "1.5", "0", "-3", str(2**31)):
        response = await client.delete(comments_url(slug, bad_id), headers=author.headers)
        assert response.status_code == 422, bad_id
        assert list(response.json()["errors"]) == ["id"], bad_id


async def test_a_comment_id_of_thousands_of_digits_is_refused_in_plain_words(
    client: AsyncClient,
) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]

    response = await client.delete(comments_url(slug, "9" * 5000), headers=author.headers)

    assert response.status_code == 422
    assert response.json() == {"errors": {"id": ["has too many digits"]}}


async def test_an_article_with_comments_can_be_deleted_and_its_comments_go_with_it(
    client: AsyncClient,
) -> None:
    author, reader = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    await comment(client, reader, slug)

    deleted = await client.delete(f"/api/articles/{slug}", headers=author.headers)

    assert deleted.status_code == 204
    assert (await client.get(comments_url(slug))).status_code == 404
