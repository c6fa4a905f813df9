"""Cursor pages: the article list, the feed and comments, by `cursor` and `nextCursor`.

A page by cursor starts right after the last entry of the page before, whatever was published
or deleted in between; cursors are signed, bound to their list and filters, and bounded in
length before anything decodes them.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from pydantic import SecretStr

from src.api.routes.articles import MAX_OFFSET
from src.core.config import Settings
from src.services import cursors, messages
from tests.api.article_helpers import assert_error, set_timestamps, slugs
from tests.apps import app_client
from tests.factories import (
    RegisteredUser,
    comment,
    create_article,
    favorite,
    follow,
    register,
)
from tests.jobs import run_jobs_until_idle

START = datetime(2001, 1, 1, tzinfo=UTC)  # before any article the tests publish now


def next_cursor_of(response: Response) -> str | None:
    """The body's `nextCursor`, checked against the `Link` header that must say the same."""
    assert response.status_code == 200, response.text
    cursor: str | None = response.json().get("nextCursor")
    link = response.headers.get("link")
    if cursor is None:
        assert link is None
        return None
    assert link is not None and link.endswith('>; rel="next"'), link
    target = urlsplit(link[1 : link.index(">")])
    assert (target.scheme, target.netloc, target.path) == ("", "", "")  # relative: `?...` only
    assert dict(parse_qsl(target.query))["cursor"] == cursor
    return cursor


async def walk(
    client: AsyncClient,
    path: str,
    headers: dict[str, str] | None = None,
    between: Any = None,
    key: str = "articles",
    **params: Any,
) -> list[list[str]]:
    """Every page by cursor, as identifiers; `between(n)` runs after page n is read."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query, headers=headers)
        cursor = next_cursor_of(response)
        body = response.json()
        pages.append([item["slug"] if key == "articles" else item["id"] for item in body[key]])
        if between is not None:
            await between(len(pages))
        if cursor is None:
            return pages


async def publish(
    client: AsyncClient, app: FastAPI, author: RegisteredUser, count: int, **fields: Any
) -> list[str]:
    """`count` articles, newest last, the middle ones sharing one created_at (ties go by id)."""
    made = []
    for n in range(count):
        slug = (await create_article(client, author, title=f"Paged {n}", **fields))["slug"]
        moment = START + timedelta(minutes=min(max(n, 2), count - 3))
        await set_timestamps(app, slug, moment)
        made.append(slug)
    return made


def flat(pages: list[list[Any]]) -> list[Any]:
    return [item for page in pages for item in page]


# ------------------------------------------------------------------ articles


async def test_cursor_pages_neither_repeat_nor_skip_when_articles_come_and_go(
    client: AsyncClient, app: FastAPI
) -> None:
    author = await register(client)
    made = await publish(client, app, author, 9, tagList=["paged"])
    newest_first = await client.get("/api/articles", params={"author": author.username})
    expected = slugs(newest_first.json())
    assert sorted(expected) == sorted(made)
    seen_deleted, unseen_deleted = expected[0], expected[5]

    async def churn(page: int) -> None:
        if page == 1:  # after the first page: one new, one read and one unread deleted
            await create_article(client, author, title="Newcomer", tagList=["paged"])
            for slug in (seen_deleted, unseen_deleted):
                gone = await client.delete(f"/api/articles/{slug}", headers=author.headers)
                assert gone.status_code == 204, gone.text

    pages = await walk(client, "/api/articles", between=churn, author=author.username, limit=3)

    assert flat(pages) == [slug for slug in expected if slug != unseen_deleted]
    assert [len(page) for page in pages] == [3, 3, 2]


async def test_offset_pages_shift_where_cursor_pages_do_not(
    client: AsyncClient, app: FastAPI
) -> None:
    """Why cursors: the same insert makes an offset page repeat the last article read."""
    author = await register(client)
    await publish(client, app, author, 4)
    first = await client.get("/api/articles", params={"author": author.username, "limit": 2})
    await create_article(client, author, title="Newcomer")
    by_offset = await client.get(
        "/api/articles", params={"author": author.username, "limit": 2, "offset": 2}
    )
    by_cursor = await client.get(
        "/api/articles",
        params={"author": author.username, "limit": 2, "cursor": next_cursor_of(first)},
    )

    assert slugs(by_offset.json())[0] == slugs(first.json())[-1]
    assert not set(slugs(by_cursor.json())) & set(slugs(first.json()))


FILTERS = ("tag", "author", "favorited")


@pytest.fixture
async def filtered(client: AsyncClient, app: FastAPI) -> dict[str, Any]:
    """Two authors, two tags, one reader's favorites: every filter and pair of them matches
    several articles, and none matches all."""
    alice, bob, fan = await register(client), await register(client), await register(client)
    for n in range(10):
        writer = (alice, bob)[n % 3 == 0]
        tags = ["red"] if n % 2 else ["red", "blue"]
        slug = (await create_article(client, writer, title=f"Filtered {n}", tagList=tags))["slug"]
        await set_timestamps(app, slug, START + timedelta(minutes=n // 3))  # ties, in threes
        if n % 4 != 1:
            await favorite(client, fan, slug)
    return {"tag": "blue", "author": alice.username, "favorited": fan.username, "viewer": fan}


@pytest.mark.parametrize(
    "names",
    [combo for size in range(4) for combo in itertools.combinations(FILTERS, size)],
    ids=lambda names: "+".join(names) or "none",
)
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
async def test_every_filter_combination_pages_by_cursor_as_its_full_list(
    client: AsyncClient, filtered: dict[str, Any], names: tuple[str, ...], signed_in: bool
) -> None:
    params = {name: filtered[name] for name in names}
    headers = filtered["viewer"].headers if signed_in else None
    whole = await client.get("/api/articles", params={**params, "limit": 100}, headers=headers)
    expected = slugs(whole.json())
    assert expected, "each combination matches something"

    counts: list[int] = []
    cursor = None
    pages: list[list[str]] = []
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/articles", params=query, headers=headers)
        cursor = next_cursor_of(response)
        pages.append(slugs(response.json()))
        counts.append(response.json()["articlesCount"])
        if cursor is None:
            break

    assert flat(pages) == expected
    assert set(counts) == {len(expected)}  # articlesCount stays the whole list's, exact
    assert all(len(page) == 2 for page in pages[:-1])


async def test_the_last_page_has_no_next_cursor_even_when_full(
    client: AsyncClient, app: FastAPI
) -> None:
    author = await register(client)
    await publish(client, app, author, 4)
    pages = await walk(client, "/api/articles", author=author.username, limit=2)
    assert [len(page) for page in pages] == [2, 2]


# ------------------------------------------------------------------ the feed


async def test_the_feed_pages_by_cursor_across_an_insert_and_a_delete(
    client: AsyncClient, app: FastAPI
) -> None:
    author, reader = await register(client), await register(client)
    await follow(client, reader, author.username)
    await publish(client, app, author, 7)
    await run_jobs_until_idle(app)
    whole = await client.get("/api/articles/feed", headers=reader.headers)
    expected = slugs(whole.json())
    assert len(expected) == 7
    unseen_deleted = expected[4]

    async def churn(page: int) -> None:
        if page == 1:
            await create_article(client, author, title="Fresh")
            gone = await client.delete(f"/api/articles/{unseen_deleted}", headers=author.headers)
            assert gone.status_code == 204, gone.text
            await run_jobs_until_idle(app)

    pages = await walk(client, "/api/articles/feed", reader.headers, between=churn, limit=3)

    assert flat(pages) == [slug for slug in expected if slug != unseen_deleted]


async def test_a_feed_cursor_is_its_readers_alone(client: AsyncClient, app: FastAPI) -> None:
    author, reader, other = await register(client), await register(client), await register(client)
    for follower in (reader, other):
        await follow(client, follower, author.username)
    await publish(client, app, author, 4)
    await run_jobs_until_idle(app)
    first = await client.get("/api/articles/feed", params={"limit": 2}, headers=reader.headers)
    cursor = next_cursor_of(first)

    foreign = await client.get(
        "/api/articles/feed", params={"cursor": cursor}, headers=other.headers
    )
    assert_error(foreign, 422, "cursor", messages.CURSOR_INVALID)


# ------------------------------------------------------------------ refused cursors


@pytest.fixture
async def first_page(client: AsyncClient, app: FastAPI) -> tuple[RegisteredUser, str]:
    """An author with four articles and the cursor after the first two."""
    author = await register(client)
    await publish(client, app, author, 4, tagList=["cursed"])
    page = await client.get("/api/articles", params={"author": author.username, "limit": 2})
    cursor = next_cursor_of(page)
    assert cursor is not None
    return author, cursor


def tampered(cursor: str) -> list[str]:
    """The cursor with one character changed at each end and in the middle, and cut short."""
    swap = {"A": "B"}
    changed = []
    for index in (0, len(cursor) // 2, len(cursor) - 1):
        char = swap.get(cursor[index], "A")
        changed.append(cursor[:index] + char + cursor[index + 1 :])
    return [*changed, cursor[:-1], cursor + "A", "!" * len(cursor), "é" * len(cursor)]


async def test_a_tampered_cursor_is_refused_naming_cursor(
    client: AsyncClient, first_page: tuple[RegisteredUser, str]
) -> None:
    author, cursor = first_page
    for bad in tampered(cursor):
        response = await client.get(
            "/api/articles", params={"author": author.username, "cursor": bad}
        )
        assert_error(response, 422, "cursor", messages.CURSOR_INVALID)


async def test_a_cursor_signed_under_another_secret_is_refused(
    client: AsyncClient, settings: Settings, first_page: tuple[RegisteredUser, str]
) -> None:
    author, cursor = first_page
    other = settings.model_copy(update={"secret_key": SecretStr("another-secret-" + "x" * 32)})
    async with app_client(other) as elsewhere:
        response = await elsewhere.get(
            "/api/articles", params={"author": author.username, "cursor": cursor}
        )
    assert_error(response, 422, "cursor", messages.CURSOR_INVALID)


@pytest.mark.parametrize(
    "other_filters",
    [{}, {"author": "someone-else"}, {"tag": "cursed"}, {"favorited": "{author}"}],
    ids=["no-filter", "other-author", "one-more-filter", "another-filter"],
)
async def test_a_cursor_reused_with_other_filters_is_refused(
    client: AsyncClient, first_page: tuple[RegisteredUser, str], other_filters: dict[str, str]
) -> None:
    author, cursor = first_page
    params = {name: value.format(author=author.username) for name, value in other_filters.items()}
    if "tag" in params:
        params["author"] = author.username
    response = await client.get("/api/articles", params={**params, "cursor": cursor})
    assert_error(response, 422, "cursor", messages.CURSOR_INVALID)


async def test_the_same_filters_in_another_case_or_order_keep_the_cursor(
    client: AsyncClient, first_page: tuple[RegisteredUser, str]
) -> None:
    """Usernames match case-insensitively, so their cursors do too; the limit may change."""
    author, cursor = first_page
    response = await client.get(
        "/api/articles",
        params={"limit": 5, "cursor": cursor, "author": author.username.upper()},
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["articles"]) == 2


async def test_a_list_cursor_is_refused_by_the_feed_and_comments(
    client: AsyncClient, first_page: tuple[RegisteredUser, str]
) -> None:
    author, cursor = first_page
    slug = (await client.get("/api/articles", params={"author": author.username})).json()[
        "articles"
    ][0]["slug"]
    for path in ("/api/articles/feed", f"/api/articles/{slug}/comments"):
        response = await client.get(path, params={"cursor": cursor}, headers=author.headers)
        assert_error(response, 422, "cursor", messages.CURSOR_INVALID)


@pytest.mark.parametrize("path", ["/api/articles", "/api/articles/feed"])
async def test_a_cursor_with_an_offset_is_refused(
    client: AsyncClient, first_page: tuple[RegisteredUser, str], path: str
) -> None:
    author, cursor = first_page
    params: dict[str, str | int] = {"cursor": cursor, "offset": 2}
    if path == "/api/articles":
        params["author"] = author.username
    response = await client.get(path, params=params, headers=author.headers)
    assert_error(response, 422, "cursor", messages.CURSOR_WITH_OFFSET)


async def test_a_cursor_with_offset_zero_is_a_cursor_page(
    client: AsyncClient, first_page: tuple[RegisteredUser, str]
) -> None:
    author, cursor = first_page
    response = await client.get(
        "/api/articles", params={"author": author.username, "cursor": cursor, "offset": 0}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["articles"]) == 2


@pytest.mark.parametrize(
    "path", ["/api/articles", "/api/articles/feed", "/api/articles/some-slug/comments"]
)
async def test_an_overlong_cursor_is_refused_by_its_length_alone(
    client: AsyncClient, path: str
) -> None:
    """Bounded before decoding: the declared length, whatever the characters."""
    user = await register(client)
    too_long = "A" * (cursors.MAX_LENGTH + 1)
    for value in (too_long, "%" * 10_000):
        response = await client.get(path, params={"cursor": value}, headers=user.headers)
        maximum = f"is too long (maximum is {cursors.MAX_LENGTH} characters)"
        assert_error(response, 422, "cursor", maximum)


async def test_the_deepest_offset_names_cursor_as_the_way_further(client: AsyncClient) -> None:
    response = await client.get("/api/articles", params={"offset": MAX_OFFSET + 1})
    assert_error(response, 422, "offset", messages.OFFSET_PAST_MAXIMUM.format(maximum=MAX_OFFSET))


# ------------------------------------------------------------------ comments


@pytest.fixture
async def discussed(client: AsyncClient) -> tuple[RegisteredUser, str, list[int]]:
    """An article with seven comments by two people; their ids newest first."""
    author, reader = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    ids = [(await comment(client, (author, reader)[n % 2], slug, f"c{n}"))["id"] for n in range(7)]
    return author, slug, ids[::-1]


async def test_comments_without_a_limit_are_all_of_them_with_no_cursor(
    client: AsyncClient, discussed: tuple[RegisteredUser, str, list[int]]
) -> None:
    _, slug, ids = discussed
    response = await client.get(f"/api/articles/{slug}/comments")
    assert [each["id"] for each in response.json()["comments"]] == ids
    assert next_cursor_of(response) is None
    assert set(response.json()) == {"comments"}


async def test_comments_page_by_limit_and_cursor_across_an_insert_and_a_delete(
    client: AsyncClient, discussed: tuple[RegisteredUser, str, list[int]]
) -> None:
    author, slug, ids = discussed
    unseen_deleted = ids[4]

    async def churn(page: int) -> None:
        if page == 1:
            await comment(client, author, slug, "late")
            gone = await client.delete(
                f"/api/articles/{slug}/comments/{unseen_deleted}", headers=author.headers
            )
            assert gone.status_code == 204, gone.text

    pages = await walk(
        client, f"/api/articles/{slug}/comments", between=churn, key="comments", limit=3
    )

    assert flat(pages) == [each for each in ids if each != unseen_deleted]
    assert [len(page) for page in pages] == [3, 3]


async def test_a_comment_cursor_holds_for_its_article_only(
    client: AsyncClient, discussed: tuple[RegisteredUser, str, list[int]]
) -> None:
    author, slug, _ = discussed
    other = (await create_article(client, author))["slug"]
    await comment(client, author, other)
    first = await client.get(f"/api/articles/{slug}/comments", params={"limit": 2})
    response = await client.get(
        f"/api/articles/{other}/comments", params={"cursor": next_cursor_of(first)}
    )
    assert_error(response, 422, "cursor", messages.CURSOR_INVALID)


@pytest.mark.parametrize(
    ("limit", "message"),
    [("0", "must be greater than or equal to 1"), ("101", "must be less than or equal to 100")],
)
async def test_a_comment_limit_out_of_bounds_is_refused(
    client: AsyncClient, discussed: tuple[RegisteredUser, str, list[int]], limit: str, message: str
) -> None:
    _, slug, _ = discussed
    response = await client.get(f"/api/articles/{slug}/comments", params={"limit": limit})
    assert_error(response, 422, "limit", message)


async def test_comments_of_a_missing_article_are_not_found_with_a_limit(
    client: AsyncClient,
) -> None:
    response = await client.get("/api/articles/no-such-article/comments", params={"limit": 5})
    assert_error(response, 404, "article", messages.NOT_FOUND)


async def test_an_article_without_comments_pages_to_an_empty_last_page(
    client: AsyncClient,
) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    response = await client.get(f"/api/articles/{slug}/comments", params={"limit": 5})
    assert response.json() == {"comments": []}


# ------------------------------------------------------------------ both doors


@pytest.fixture
async def router_only(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The same service with the hot path off: FastAPI's routes answer everything."""
    async with app_client(settings.model_copy(update={"hot_reads_enabled": False})) as http:
        yield http


async def test_cursor_pages_are_the_same_bytes_and_links_from_both_doors(
    client: AsyncClient,
    router_only: AsyncClient,
    app: FastAPI,
    discussed: tuple[RegisteredUser, str, list[int]],
) -> None:
    author, slug, _ = discussed
    reader = await register(client)
    await follow(client, reader, author.username)
    await publish(client, app, author, 5, tagList=["both"])
    await run_jobs_until_idle(app)
    lists: list[tuple[str, dict[str, str | int]]] = [
        ("/api/articles", {"tag": "both", "author": author.username, "limit": 2}),
        ("/api/articles/feed", {"limit": 2}),
        (f"/api/articles/{slug}/comments", {"limit": 2}),
    ]
    for path, params in lists:
        cursor = None
        for _ in range(2):
            query = {**params, **({"cursor": cursor} if cursor else {})}
            hot = await client.get(path, params=query, headers=reader.headers)
            routed = await router_only.get(path, params=query, headers=reader.headers)
            assert (hot.status_code, hot.content) == (routed.status_code, routed.content)
            assert hot.headers.get("link") == routed.headers.get("link")
            cursor = next_cursor_of(hot)
            assert cursor is not None
