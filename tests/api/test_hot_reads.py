"""The hot reads (src/api/hot_reads.py) answer exactly as the documented FastAPI routes do.

Every request here goes to two apps on the same database: the real one, and one built with
HOT_READS_ENABLED=false so that FastAPI's router serves everything. Status, body bytes and the
headers a client acts on must be the same, for plain requests (served by the hot path) and
for every odd one it hands on to FastAPI (bad limits, repeated or empty parameters...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from src.api import hot_reads
from src.core.config import Settings
from tests.apps import app_client
from tests.factories import (
    RegisteredUser,
    comment,
    create_article,
    favorite,
    follow,
    register,
)

COMPARED_HEADERS = ("content-type", "cache-control", "www-authenticate", "retry-after")


@pytest.fixture
async def router_only(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The same service with the hot path off: FastAPI's routes answer everything."""
    async with app_client(settings.model_copy(update={"hot_reads_enabled": False})) as http:
        yield http


async def assert_same_answer(
    client: AsyncClient, router_only: AsyncClient, url: str, headers: dict[str, str] | None = None
) -> int:
    hot = await client.get(url, headers=headers)
    routed = await router_only.get(url, headers=headers)
    assert (hot.status_code, hot.content) == (routed.status_code, routed.content), url
    for name in COMPARED_HEADERS:
        assert hot.headers.get(name) == routed.headers.get(name), (url, name)
    return hot.status_code


@pytest.fixture
async def reader_and_slugs(client: AsyncClient) -> tuple[RegisteredUser, list[str]]:
    author, reader = await register(client), await register(client)
    slugs = [
        (await create_article(client, author, title=f"Hot {i}", tagList=["hot", f"t{i}"]))["slug"]
        for i in range(5)
    ]
    await favorite(client, reader, slugs[1])
    await follow(client, reader, author.username)
    for n, slug in enumerate(slugs[:2]):
        await comment(client, reader, slug, body=f"Comment {n} <b>ünïcødé</b>")
        await comment(client, author, slug)
    return reader, slugs


PLAIN_URLS = [
    "/api/articles",
    "/api/articles?limit=2&offset=1",
    "/api/articles?tag=hot&limit=3",
    "/api/articles?tag=nope",
    "/api/articles?offset=100",
    "/api/articles?unknown=ignored",
    "/api/articles/feed",
    "/api/articles/feed?limit=1&offset=2",
    "/api/articles/no-such-article",
    "/api/articles/no-such-article/comments",
    "/api/profiles/no-such-user",
    "/api/tags",
    "/api/tags?limit=5",
]
ODD_URLS = [
    "/api/articles?limit=0",
    "/api/articles?limit=101",
    "/api/articles?limit=abc",
    "/api/articles?limit=-1",
    "/api/articles?limit=%2B5",
    "/api/articles?limit=1&limit=2",
    "/api/articles?offset=2147483648",
    "/api/articles?tag=",
    "/api/articles?tag=a&tag=b",
    f"/api/articles?author={'x' * 256}",
    "/api/articles/feed?limit=1000",
    "/api/articles/",
]


@pytest.mark.parametrize("url", PLAIN_URLS + ODD_URLS)
async def test_hot_and_routed_answers_are_identical_anonymous_and_signed_in(
    client: AsyncClient,
    router_only: AsyncClient,
    reader_and_slugs: tuple[RegisteredUser, list[str]],
    url: str,
) -> None:
    reader, _ = reader_and_slugs
    await assert_same_answer(client, router_only, url)
    await assert_same_answer(client, router_only, url, reader.headers)


async def test_filters_by_author_and_favorited_and_single_articles_match(
    client: AsyncClient,
    router_only: AsyncClient,
    reader_and_slugs: tuple[RegisteredUser, list[str]],
) -> None:
    reader, slugs = reader_and_slugs
    article = (await client.get(f"/api/articles/{slugs[0]}")).json()["article"]
    author = article["author"]["username"]
    urls = [
        f"/api/articles?author={author}",
        f"/api/articles?author={author.upper()}",
        f"/api/articles?favorited={reader.username}",
        *(f"/api/articles/{slug}" for slug in slugs),
        *(f"/api/articles/{slug}/comments" for slug in slugs[:2]),
        f"/api/profiles/{author}",
        f"/api/profiles/{reader.username.upper()}",
    ]
    for url in urls:
        for headers in (None, reader.headers):
            assert await assert_same_answer(client, router_only, url, headers) == 200


@pytest.mark.parametrize(
    "authorization",
    ["Token not-a-jwt", "Bearer", "Basic dXNlcjpwYXNz", "Token a b", ""],
)
async def test_bad_authorization_headers_are_refused_alike(
    client: AsyncClient, router_only: AsyncClient, authorization: str
) -> None:
    for url in (
        "/api/articles",
        "/api/articles/feed",
        "/api/articles/some-slug",
        "/api/articles/some-slug/comments",
        "/api/profiles/someone",
    ):
        await assert_same_answer(client, router_only, url, {"Authorization": authorization})


async def test_a_logged_out_token_is_refused_at_once_on_every_article_read(
    client: AsyncClient, router_only: AsyncClient
) -> None:
    """The session check rides in each read's own statement: pages, empty pages past the
    end, the feed, an article, and a missing article all say 401, on both paths."""
    user = await register(client)
    slug = (await create_article(client, user))["slug"]
    assert (await client.get("/api/articles/feed", headers=user.headers)).status_code == 200
    logout = await client.post("/api/users/logout", headers=user.headers)
    assert logout.status_code in (200, 204), logout.text

    urls = [
        "/api/articles",
        "/api/articles?offset=1000",
        f"/api/articles?author={user.username}",
        "/api/articles?tag=nothing-has-this",
        "/api/articles/feed",
        "/api/articles/feed?offset=1000",
        f"/api/articles/{slug}",
        "/api/articles/missing-article",
        f"/api/articles/{slug}/comments",
        "/api/articles/missing-article/comments",
        f"/api/profiles/{user.username}",
        "/api/profiles/nobody-at-all",
    ]
    for url in urls:
        assert await assert_same_answer(client, router_only, url, user.headers) == 401, url


def _scope(path: str, query: bytes = b"", method: str = "GET") -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "query_string": query}


def test_plain_requests_take_the_hot_path() -> None:
    assert hot_reads._route(_scope("/api/articles")) is not None
    assert hot_reads._route(_scope("/api/articles", b"tag=x&limit=100&offset=0")) is not None
    assert hot_reads._route(_scope("/api/articles/feed", b"limit=1")) is not None
    route = hot_reads._route(_scope("/api/articles/caf%C3%A9"))
    assert route is not None and route[2] == {"slug": "caf%C3%A9"}


@pytest.mark.parametrize("query", [b"limit=0", b"limit=1&limit=1", b"tag=", b"offset=x"])
def test_odd_parameters_go_on_to_fastapi(query: bytes) -> None:
    with pytest.raises(hot_reads._FallBack):
        hot_reads._route(_scope("/api/articles", query))


@pytest.mark.parametrize(
    "scope",
    [
        _scope("/api/articles", method="POST"),
        _scope("/api/articles", method="HEAD"),
        _scope("/api/articles/x/comments/1"),
        _scope("/api/articles//comments"),
        _scope("/api/profiles/x/follow"),
        _scope("/api/profiles/"),
        _scope("/api/tags/x"),
        _scope("/api/articles/"),
    ],
)
def test_other_requests_are_not_hot(scope: dict[str, object]) -> None:
    assert hot_reads._route(scope) is None


async def test_hot_reads_are_logged_and_counted_under_their_route_template(
    client: AsyncClient, app: FastAPI
) -> None:
    assert (await client.get("/api/articles/missing-slug")).status_code == 404
    metrics = (await client.get("/metrics")).text
    assert 'route="/api/articles/{slug}"' in metrics
    assert "missing-slug" not in metrics


@pytest.mark.parametrize(
    ("url", "status", "errors"),
    [
        ("/api/articles/feed", 401, {"token": ["is missing"]}),
        ("/api/articles/no-such-article", 404, {"article": ["not found"]}),
        ("/api/articles/no-such-article/comments", 404, {"article": ["not found"]}),
        ("/api/profiles/no-such-user", 404, {"profile": ["not found"]}),
    ],
)
async def test_both_paths_answer_the_specs_status_and_message(
    client: AsyncClient,
    router_only: AsyncClient,
    url: str,
    status: int,
    errors: dict[str, list[str]],
) -> None:
    assert hot_reads._route(_scope(url)) is not None  # the hot path serves it
    for http in (client, router_only):
        response = await http.get(url)
        assert (response.status_code, response.json()) == (status, {"errors": errors}), url
