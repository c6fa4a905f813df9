"""The hot reads (src/api/asgi/hot_reads.py) answer exactly as the documented FastAPI routes do.

Every request here goes to two apps on the same database: the real one, and one built with
HOT_READS_ENABLED=false so that FastAPI's router serves everything. Status, body bytes and the
headers a client acts on must be the same, for plain requests (served by the hot path) and
for every odd one it hands on to FastAPI (bad limits, repeated or empty parameters...).

The requests with query parameters are generated from the routes' declarations
(src/api/query_params.py): for each declared parameter, valid values, its bounds, bad values
and repeats. A parameter one door ignores fails them (tested below, with a door that does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Annotated
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from httpx import AsyncClient

from src.api.asgi import hot_reads
from src.api.query_params import (
    IntParam,
    NotPlain,
    Param,
    QueryParams,
    QueryValues,
    TextParam,
)
from src.api.routes import articles
from src.core.config import Settings
from src.services import article_queries
from tests.apps import app_client
from tests.factories import (
    RegisteredUser,
    comment,
    create_article,
    favorite,
    follow,
    register,
)

COMPARED_HEADERS = ("content-type", "cache-control", "www-authenticate", "retry-after", "link")
HUGE = "9" * 5000  # past every bound, and past Python's and Pydantic's integer parsing limits


@pytest.fixture
async def router_only(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The same service with the hot path off: FastAPI's routes answer everything."""
    async with app_client(settings.model_copy(update={"hot_reads_enabled": False})) as http:
        yield http


async def difference(
    client: AsyncClient, router_only: AsyncClient, url: str, headers: dict[str, str] | None = None
) -> str | None:
    """How the two doors' answers to one request differ, None when they do not."""
    hot = await client.get(url, headers=headers)
    routed = await router_only.get(url, headers=headers)
    if (hot.status_code, hot.content) != (routed.status_code, routed.content):
        return (
            f"{url}: {hot.status_code} {hot.text[:200]} != {routed.status_code} {routed.text[:200]}"
        )
    for name in COMPARED_HEADERS:
        if hot.headers.get(name) != routed.headers.get(name):
            return f"{url}: header {name}"
    return None


async def assert_same_answer(
    client: AsyncClient, router_only: AsyncClient, url: str, headers: dict[str, str] | None = None
) -> int:
    found = await difference(client, router_only, url, headers)
    assert found is None, found
    return (await client.get(url, headers=headers)).status_code


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


# Requests whose parameters the declarations do not cover: paths, undeclared parameters.
URLS = [
    "/api/articles",
    "/api/articles?unknown=ignored",
    "/api/articles?unknown=1&unknown=2",
    "/api/articles/feed",
    "/api/articles/no-such-article",
    "/api/articles/no-such-article/comments",
    "/api/articles/no-such-article?limit=abc",
    "/api/profiles/no-such-user",
    "/api/tags",
    "/api/tags?limit=5",
    "/api/articles/",
]


@pytest.mark.parametrize("url", URLS)
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


# ------------------------------------------------ generated from the parameters' declarations


def valid_values(param: Param) -> list[str]:
    """Values the route takes, each with an answer of its own on the fixture's articles (an
    ignored one would answer as the default does)."""
    if isinstance(param, IntParam):
        numbers = {param.ge, param.ge + 1, param.le, param.default or param.ge}
        return [*map(str, sorted(numbers)), f"0{param.ge + 1}"]  # a leading zero reads as digits
    return ["hot", "no-such-value", "x" * param.max_length, quote("ünïcødé <b>")]


def odd_values(param: Param) -> list[str]:
    """Values the hot parser hands on to FastAPI: out of bounds, not plain digits, empty or
    absurdly long (FastAPI refuses all but `-0` and thousands of leading zeros)."""
    if isinstance(param, IntParam):
        bounds = [str(param.ge - 1), str(param.le + 1), HUGE, f"-{HUGE}", f"{'0' * 5000}1"]
        odd = ["abc", "1.0", "1e2", "0x1", "1_0", "%2B1", "%201", "1%20", "%D9%A3", "-", "-0"]
        return [*bounds, *odd, ""]
    return ["x" * (param.max_length + 1), quote("é" * (param.max_length + 1)), ""]


def parameter_urls(path: str, param: Param) -> list[str]:
    """One declared parameter's requests: valid, refused, and repeated values."""
    values = [*valid_values(param), *odd_values(param)]
    first, second = valid_values(param)[:2]
    repeats = [(first, second), (first, first), (odd_values(param)[0], first)]
    return [
        *(f"{path}?{param.name}={value}" for value in values),
        *(f"{path}?{param.name}={one}&{param.name}={other}" for one, other in repeats),
    ]


def declaration_urls(path: str, declared: QueryParams) -> list[str]:
    """Every parameter's requests, and all of them valid at once."""
    together = "&".join(f"{param.name}={valid_values(param)[1]}" for param in declared.params)
    urls = [f"{path}?{together}"] if declared.params else []
    return urls + [url for param in declared.params for url in parameter_urls(path, param)]


def on_fixture(template: str, slugs: list[str]) -> str:
    """A route's path on the fixture's first article (which has comments)."""
    return template.replace("{slug}", slugs[0])


# Each hot route with query parameters, as a client writes it, and its declaration.
DECLARED = {
    template: params for template, params in hot_reads.QUERY_PARAMS.items() if params.params
}


async def parity_failures(
    client: AsyncClient,
    router_only: AsyncClient,
    urls: Iterable[str],
    headers: Iterable[dict[str, str] | None],
) -> list[str]:
    """The parity check: every request whose two answers differ."""
    failures = []
    for url in urls:
        for each in headers:
            found = await difference(client, router_only, url, each)
            if found is not None:
                failures.append(found)
    return failures


def query_parameters(dependant: Dependant) -> set[str]:
    """The query parameters a route reads, its dependencies' included."""
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= query_parameters(sub)
    return names


def unread_by_the_hot_path(app: FastAPI) -> dict[str, set[str]]:
    """Per hot route: the query parameters its FastAPI route declares that the hot path's
    declaration does not (a parameter added to a route's signature beside the declaration)."""
    unread: dict[str, set[str]] = {}
    for route in app.routes:
        if not isinstance(route, APIRoute) or "GET" not in route.methods:
            continue
        declared = hot_reads.QUERY_PARAMS.get(route.path_format)
        if declared is None:
            continue
        on_route = query_parameters(route.dependant)
        if on_route != declared.names:
            unread[route.path_format] = on_route ^ declared.names
    return unread


@pytest.mark.parametrize(
    ("template", "name"),
    [(template, param.name) for template, params in DECLARED.items() for param in params.params],
)
async def test_each_declared_parameter_is_answered_alike_by_both_doors(
    client: AsyncClient,
    router_only: AsyncClient,
    reader_and_slugs: tuple[RegisteredUser, list[str]],
    template: str,
    name: str,
) -> None:
    reader, slugs = reader_and_slugs
    (param,) = [param for param in DECLARED[template].params if param.name == name]
    urls = parameter_urls(on_fixture(template, slugs), param)
    assert await parity_failures(client, router_only, urls, [None, reader.headers]) == []


@pytest.mark.parametrize("template", list(DECLARED))
async def test_all_declared_parameters_at_once_are_answered_alike(
    client: AsyncClient,
    router_only: AsyncClient,
    reader_and_slugs: tuple[RegisteredUser, list[str]],
    template: str,
) -> None:
    reader, slugs = reader_and_slugs
    urls = declaration_urls(on_fixture(template, slugs), DECLARED[template])[:1]
    assert await parity_failures(client, router_only, urls, [None, reader.headers]) == []


def test_every_query_parameter_of_a_hot_route_is_the_hot_paths_too(app: FastAPI) -> None:
    assert unread_by_the_hot_path(app) == {}


def test_the_lists_text_parameters_are_the_query_modules_filters() -> None:
    """A filter declared on the route but unknown to the query module would be ignored by
    both doors alike; one the route does not declare could never be asked for."""
    texts = {param.name for param in articles.LIST_PARAMS.params if isinstance(param, TextParam)}
    assert texts == article_queries.FILTER_NAMES


@pytest.mark.parametrize(
    ("template", "name"),
    [(template, param.name) for template, params in DECLARED.items() for param in params.params],
)
async def test_a_parameter_the_hot_path_ignores_fails_the_parity_check(
    client: AsyncClient,
    router_only: AsyncClient,
    reader_and_slugs: tuple[RegisteredUser, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    template: str,
    name: str,
) -> None:
    """A hot path reading the route's parameters but one: the generated requests notice."""
    reader, slugs = reader_and_slugs
    declared = DECLARED[template]
    (param,) = [param for param in declared.params if param.name == name]
    but_one = QueryParams(*(other for other in declared.params if other.name != name))
    monkeypatch.setitem(hot_reads.QUERY_PARAMS, template, but_one)
    urls = parameter_urls(on_fixture(template, slugs), param)
    failures = await parity_failures(client, router_only, urls, [reader.headers])
    assert failures, f"ignoring {name} went unnoticed"
    assert all(f"{name}=" in failure for failure in failures)


def test_a_parameter_declared_on_a_route_beside_the_declaration_is_reported() -> None:
    """A route that takes one more query parameter than the hot path's declaration."""
    extra = FastAPI()

    @extra.get(hot_reads.ARTICLES)
    async def with_title(
        query: Annotated[QueryValues, articles.LIST_PARAMS.depends], title: str | None = None
    ) -> None:
        """A route whose `title` the hot path would never read."""

    assert unread_by_the_hot_path(extra) == {hot_reads.ARTICLES: {"title"}}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (HUGE, "must be less than or equal to 100"),
        (f"-{HUGE}", "must be greater than or equal to 1"),
        (f"{'0' * 5000}7", None),
        ("1.5", "must be an integer"),
    ],
)
async def test_an_absurdly_long_limit_gets_the_declared_message_from_both_doors(
    client: AsyncClient, router_only: AsyncClient, value: str, message: str | None
) -> None:
    for http in (client, router_only):
        response = await http.get(f"/api/articles?limit={value}")
        if message is None:
            assert response.status_code == 200, response.text
        else:
            assert response.json() == {"errors": {"limit": [message]}}, response.text
            assert response.status_code == 422


@pytest.mark.parametrize(
    ("template", "name"),
    [(template, param.name) for template, params in DECLARED.items() for param in params.params],
)
def test_the_hot_parser_hands_every_odd_value_on_to_fastapi(template: str, name: str) -> None:
    declared = DECLARED[template]
    (param,) = [param for param in declared.params if param.name == name]
    for value in odd_values(param):
        with pytest.raises(NotPlain):
            declared.parse(f"{name}={value}".encode())
    for value in valid_values(param):
        assert name in declared.parse(f"{name}={value}".encode())


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
    with pytest.raises(NotPlain):
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
