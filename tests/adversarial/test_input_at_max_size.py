"""Hostile input at the largest size the service accepts: every pre-parser and validator
answers it with its 4xx in the envelope, and none of them needs more than one pass to do so.

Every body here is as large as MAX_BODY_BYTES allows. A check that backtracks (or otherwise
costs more than linear time) takes minutes to hours on such input, so these tests run under a
hang guard: a deadline far above anything a linear pass needs, that fails the test instead of
freezing the suite. It asserts nothing about speed.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from starlette.types import Message

from src.api.asgi.request_guard import json_depth
from src.api.asgi.security_headers import RawHeaders
from src.api.asgi.text_guard import (
    MAX_NUMBER_DIGITS,
    NOT_UTF8_MESSAGE,
    NUL_MESSAGE,
    NUMBER_TOO_LONG_MESSAGE,
)
from src.core.config import Settings
from src.models.user import EMAIL_MAX_LENGTH
from src.services import messages
from tests.api.article_helpers import URL_SAFE_SLUG
from tests.factories import DEFAULT_PASSWORD, RegisteredUser, create_article, register

JSON = {"Content-Type": "application/json"}
CREDENTIALS = b'"email": "j@example.com", "password": "long-enough-pw"}}'
TOO_DEEP = {"body": [messages.BODY_TOO_DEEP]}
NOT_JSON = {"body": ["is not valid JSON"]}
NUMBER_TOO_LONG = {"body": [NUMBER_TOO_LONG_MESSAGE.format(digits=MAX_NUMBER_DIGITS)]}
# Paths and queries have no bound of ours (the server's request line has one): they get the
# body's, whose default is this.
MAX = Settings.model_fields["max_body_bytes"].default
# Far above what a linear pass over a maximum-size body needs, far below what a quadratic one does.
HANG_GUARD_SECONDS = 60


class Hung(Exception):
    """A check ran past the hang guard: it is not linear in its input."""


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    """Interrupt a test stuck in a check (the regex engine, too, stops for signals)."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise Hung(f"still running after {HANG_GUARD_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, HANG_GUARD_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def max_size(settings: Settings, head: bytes, unit: bytes, tail: bytes = b"") -> bytes:
    """`head`, then `unit` repeated, then `tail`: as many bytes as a body may have."""
    room = settings.max_body_bytes - len(head) - len(tail)
    body = head + unit * (room // len(unit)) + tail
    assert settings.max_body_bytes - len(unit) < len(body) <= settings.max_body_bytes
    return body


def text_of(settings: Settings, unit: str) -> str:
    """A string that fills a body on its own."""
    return unit * (settings.max_body_bytes // len(unit.encode()) - 100)


async def post_raw(
    client: AsyncClient, path: str, body: bytes, headers: dict[str, str] | None = None
) -> Response:
    return await client.post(path, content=body, headers={**(headers or {}), **JSON})


def assert_refused(response: Response, status: int, errors: dict[str, list[str]]) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.json() == {"errors": errors}


def assert_field_refused(response: Response, field: str) -> None:
    """A 422 naming exactly `field` (the wording is the validator's)."""
    assert response.status_code == 422, response.text[:500]
    errors = response.json()["errors"]
    assert list(errors) == [field], errors
    assert all(isinstance(m, str) and m for m in errors[field])


@pytest.fixture
async def jake(client: AsyncClient) -> RegisteredUser:
    return await register(client)


# ---------------------------------------------------------------- the depth scan


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b'{"a": "[[[{{{"}', 1),
        (b'{"a": "\\"[[["}', 1),  # an escaped quote does not end the string
        (b'{"a": "\\\\", "b": [[1]]}', 3),  # an escaped backslash does not escape the quote
        (b'["\\\\\\"[", [[]]]', 3),
        (b'["\\u0022[", [[]]]', 3),  # a quote written as \u0022 is text
        (b'"[[[', 0),  # an unterminated string holds the rest
        (b"[[]]", 2),
        (b"[[]] [[[[]]]]", 2),  # the parser stops after the first value
        (b"]]] [[[[]]]]", 0),  # and at a closer that matches nothing
        (b"", 0),
    ],
)
def test_the_depth_scan_counts_what_the_parser_would_nest(text: bytes, depth: int) -> None:
    assert json_depth(text) == depth


def test_the_depth_scan_stops_past_its_limit() -> None:
    assert json_depth(b"[" * 1000 + b"]" * 1000, 32) == 33


@pytest.mark.parametrize(
    ("head", "unit", "tail", "errors"),
    [
        # The first four froze a worker: a regex scan of strings took time quadratic in them.
        (b'"', b'\\"', b"", NOT_JSON),
        (b'{"user": {"username": "', b'\\"', b"", NOT_JSON),
        (b'["', b'\\"', b"", NOT_JSON),
        (b'["', b'\\"\\\\', b"", NOT_JSON),
        (b'"', b"\\", b"", NOT_JSON),
        (b"", b"[", b"", TOO_DEEP),
        (b"", b'{"a":', b"", TOO_DEEP),
        (b"", b"]", b"", NOT_JSON),
        (b"", b"[]", b"", NOT_JSON),
        (b"", b'"', b"", NOT_JSON),
    ],
    ids=[
        "unterminated string of escaped quotes",
        "the same inside an object",
        "the same inside an array",
        "escaped quotes and backslashes",
        "backslashes",
        "open arrays",
        "open objects",
        "closers",
        "empty arrays",
        "quotes",
    ],
)
async def test_a_maximum_size_body_built_against_the_depth_scan_is_a_422(
    client: AsyncClient, settings: Settings, head: bytes, unit: bytes, tail: bytes, errors: Any
) -> None:
    body = max_size(settings, head, unit, tail)

    assert_refused(await post_raw(client, "/api/users", body), 422, errors)


async def test_brackets_hidden_behind_escaped_backslashes_still_count(
    client: AsyncClient, settings: Settings
) -> None:
    # An even run of backslashes escapes itself: the quote after it closes the string.
    half = settings.max_body_bytes // 2
    body = b'["' + b"\\\\" * (half // 2) + b'", '
    body += b"[" * (settings.max_body_bytes - len(body))

    assert_refused(await post_raw(client, "/api/users", body), 422, TOO_DEEP)


async def test_brackets_behind_an_escaped_quote_stay_inside_the_string(
    client: AsyncClient, settings: Settings
) -> None:
    half = settings.max_body_bytes // 2
    body = b'["' + b'\\"' * (half // 2)
    body += b"[" * (settings.max_body_bytes - len(body))

    assert_refused(await post_raw(client, "/api/users", body), 422, NOT_JSON)


async def test_deep_brackets_inside_a_maximum_size_string_are_text(
    client: AsyncClient, settings: Settings
) -> None:
    username = text_of(settings, "[{")

    response = await client.post(
        "/api/users",
        json={"user": {"username": username, "email": "j@example.com", "password": "x" * 12}},
    )

    assert_field_refused(response, "username")


async def test_the_scan_runs_before_routing_and_ends_on_an_unknown_path(
    client: AsyncClient, settings: Settings
) -> None:
    response = await post_raw(client, "/api/nowhere", max_size(settings, b'"', b'\\"'))

    assert response.status_code == 404


# ---------------------------------------------------------------- the text guard


async def test_invalid_utf8_at_the_end_of_a_maximum_size_body_is_a_422(
    client: AsyncClient, settings: Settings
) -> None:
    body = max_size(settings, b'{"user": {"username": "', b"x", b'\xff"}}')

    assert_refused(await post_raw(client, "/api/users", body), 422, {"body": [NOT_UTF8_MESSAGE]})


async def test_a_nul_after_a_maximum_run_of_backslashes_is_a_422(
    client: AsyncClient, settings: Settings
) -> None:
    body = max_size(settings, b'{"user": {"username": "', b"\\\\", b'\\u0000"}}')

    assert_refused(await post_raw(client, "/api/users", body), 422, {"body": [NUL_MESSAGE]})


async def test_a_maximum_size_text_that_only_mentions_nul_reaches_validation(
    client: AsyncClient, settings: Settings
) -> None:
    # Every run of backslashes ends one character short of a NUL escape.
    body = max_size(settings, b'{"user": {"username": "', b"\\\\u0000", b'", ' + CREDENTIALS)

    assert_field_refused(await post_raw(client, "/api/users", body), "username")


async def test_a_duplicate_key_after_a_maximum_number_of_keys_is_a_422(
    client: AsyncClient, settings: Settings
) -> None:
    keys = (f'"k{i}": 0, '.encode() for i in range(settings.max_body_bytes))
    body = b'{"user": {'
    for key in keys:
        if len(body) + len(key) > settings.max_body_bytes - 20:
            break
        body += key
    body += b'"k0": 1}}'

    response = await post_raw(client, "/api/users", body)

    assert_refused(response, 422, {"body": ["has the key 'k0' more than once"]})


# ---------------------------------------------------------------- numbers


async def test_a_maximum_size_number_is_a_422(client: AsyncClient, settings: Settings) -> None:
    body = max_size(settings, b'{"user": ', b"9", b"}")

    assert_refused(await post_raw(client, "/api/users", body), 422, NUMBER_TOO_LONG)


async def test_a_maximum_size_fraction_is_a_422_naming_its_field(
    client: AsyncClient, settings: Settings
) -> None:
    body = max_size(settings, b'{"user": {' + CREDENTIALS[:-2] + b', "username": 1.', b"5", b"}}")

    assert_field_refused(await post_raw(client, "/api/users", body), "username")


def _number(digits: int) -> bytes:
    return b"1" + b"0" * (digits - 1)


@pytest.mark.parametrize("digits", [MAX_NUMBER_DIGITS + 1, 5000])
async def test_a_number_too_long_to_convert_is_a_422_on_registration(
    client: AsyncClient, digits: int
) -> None:
    # It was an undocumented 400: Python refuses to convert it inside FastAPI's parser.
    body = b'{"user": {"username": ' + _number(digits) + b', "email": "a@b.co", "password": 1}}'

    assert_refused(await post_raw(client, "/api/users", body), 422, NUMBER_TOO_LONG)


async def test_a_number_too_long_to_convert_is_a_422_on_article_create(
    client: AsyncClient, jake: RegisteredUser
) -> None:
    body = b'{"article": {"title": "t", "description": "d", "body": "b", "tagList": ['
    body += _number(5000) + b"]}}"

    response = await post_raw(client, "/api/articles", body, jake.headers)

    assert_refused(response, 422, NUMBER_TOO_LONG)
    assert (await client.get("/api/articles")).json()["articlesCount"] == 0


async def test_a_number_too_long_to_convert_is_a_422_on_comment_create(
    client: AsyncClient, jake: RegisteredUser
) -> None:
    slug = (await create_article(client, jake))["slug"]
    body = b'{"comment": {"body": ' + _number(5000) + b"}}"

    response = await post_raw(client, f"/api/articles/{slug}/comments", body, jake.headers)

    assert_refused(response, 422, NUMBER_TOO_LONG)
    assert (await client.get(f"/api/articles/{slug}/comments")).json()["comments"] == []


async def test_a_number_of_the_longest_convertible_length_reaches_validation(
    client: AsyncClient,
) -> None:
    body = b'{"user": {"username": ' + _number(MAX_NUMBER_DIGITS) + b"}}"

    response = await post_raw(client, "/api/users", body)

    assert response.status_code == 422
    assert "username" in response.json()["errors"]


# ---------------------------------------------------------------- paths and queries


async def raw_request(
    app: FastAPI, method: str, path: str, query: bytes = b"", headers: RawHeaders | None = None
) -> tuple[int, Any]:
    """A request handed straight to the app: httpx refuses URLs this long, a server may not."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"conduit.test"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("conduit.test", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return sent[0]["status"], json.loads(body)


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/api/articles", b"tag=" + b"a" * MAX + b"%00", "tag"),
        ("/api/articles", b"x=1&" * (MAX // 4) + b"author=%00", "author"),
        ("/api/profiles/" + "a" * MAX + "\x00", b"", "path"),
        ("/api/articles/" + "a-" * (MAX // 2) + "\x00/comments", b"", "path"),
    ],
    ids=["long value", "many parameters", "long profile path", "long slug path"],
)
async def test_a_nul_at_the_end_of_a_maximum_size_path_or_query_is_a_422(
    app: FastAPI, path: str, query: bytes, field: str
) -> None:
    status, body = await raw_request(app, "GET", path, query)

    assert (status, body) == (422, {"errors": {field: [NUL_MESSAGE]}})


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (b"limit=" + b"9" * MAX, "limit"),
        (b"offset=" + b"0" * MAX + b"1", None),  # leading zeros are still plain digits
        (b"offset=" + b"1" * MAX, "offset"),
        (b"limit=-" + b"0" * MAX + b"1", "limit"),
        (b"limit=1&" * (MAX // 8), "limit"),
        (b"tag=" + b"a" * MAX, "tag"),
        (b"author=" + b"%41" * (MAX // 3), "author"),
    ],
    ids=["long limit", "zeros", "long offset", "negative", "repeated", "long tag", "escapes"],
)
async def test_a_maximum_size_query_is_a_422_naming_its_parameter(
    app: FastAPI, query: bytes, field: str | None
) -> None:
    status, body = await raw_request(app, "GET", "/api/articles", query)

    if field is None:
        assert (status, body) == (200, {"articles": [], "articlesCount": 0})
    else:
        assert status == 422
        assert list(body["errors"]) == [field]


@pytest.mark.parametrize(
    ("length", "status"),
    [(b"9" * 5000, 413), (b"0" * 5000 + b"1", 422), ("\u00b2".encode("latin-1"), 422)],
    ids=["too many digits", "leading zeros", "a digit that is not ASCII"],
)
async def test_a_hostile_content_length_is_judged_without_converting_it(
    app: FastAPI, length: bytes, status: int
) -> None:
    # Converting either of the first and last raised inside the guard (a 500).
    headers = [(b"content-length", length), (b"content-type", b"application/json")]

    answer, body = await raw_request(app, "POST", "/api/users", headers=headers)

    assert answer == status
    assert list(body) == ["errors"]


# ---------------------------------------------------------------- titles and slugs


async def test_a_maximum_size_title_is_a_422(
    client: AsyncClient, settings: Settings, jake: RegisteredUser
) -> None:
    article = {"title": text_of(settings, "word "), "description": "d", "body": "b"}

    response = await client.post("/api/articles", json={"article": article}, headers=jake.headers)

    assert_field_refused(response, "title")


@pytest.mark.parametrize(
    "unit",
    ["﷽", "-", "a-", "'", "9,", "ß", "ǅ", "\u2010", "&amp;", "%20"],
    ids=[
        "long transliteration",
        "dashes",
        "short words",
        "quotes",
        "digit commas",
        "sharp s",
        "digraph",
        "unicode hyphen",
        "entity",
        "escape",
    ],
)
async def test_a_longest_title_of_pathological_characters_gets_a_bounded_readable_slug(
    client: AsyncClient, jake: RegisteredUser, unit: str
) -> None:
    title = (unit * 255)[:255]

    article = await create_article(client, jake, title=title)

    assert URL_SAFE_SLUG.match(article["slug"]), article["slug"]
    assert len(article["slug"]) <= 200
    assert (await client.get(f"/api/articles/{article['slug']}")).status_code == 200


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_a_maximum_size_slug_is_a_404(
    app: FastAPI, jake: RegisteredUser, method: str
) -> None:
    slug = "a-" * (MAX // 2) + "deadbeef"
    token = [(b"authorization", jake.headers["Authorization"].encode())]

    status, body = await raw_request(app, method, f"/api/articles/{slug}", headers=token)

    assert status == 404
    assert list(body["errors"]) == ["article"]


# ---------------------------------------------------------------- emails, usernames, tags


def _emails(settings: Settings) -> dict[str, str]:
    """Pathological addresses, at the body's size and at the longest an address may be."""
    fill = settings.max_body_bytes - 200
    return {
        "long local part": "a" * fill + "@example.com",
        "dotted local part": "a." * (fill // 2) + "a@example.com",
        "quoted local part": '"' + "\\ " * (fill // 4) + '"@example.com',
        "long domain": "a@" + "a" * fill + ".com",
        "dotted domain": "a@" + "a." * (fill // 2) + "com",
        "hyphens": "a@" + "-" * fill,
        "address literal": "a@[" + "1." * (fill // 2) + "1]",
        "many at signs": "@" * fill,
        "dotted local part at the bound": "a." * 120 + "@example.com",
        "hyphenated domain at the bound": "a@" + "a-" * 120 + "com",
        "quoted local part at the bound": '"' + "\\ " * 120 + '"@example.com',
    }


@pytest.mark.parametrize(
    "case",
    [
        "long local part",
        "dotted local part",
        "quoted local part",
        "long domain",
        "dotted domain",
        "hyphens",
        "address literal",
        "many at signs",
        "dotted local part at the bound",
        "hyphenated domain at the bound",
        "quoted local part at the bound",
    ],
)
async def test_a_pathological_email_is_a_422_on_every_route_that_takes_one(
    client: AsyncClient, settings: Settings, jake: RegisteredUser, case: str
) -> None:
    email = _emails(settings)[case]
    register_body = {"user": {"username": "mallory", "email": email, "password": DEFAULT_PASSWORD}}
    login_body = {"user": {"email": email, "password": DEFAULT_PASSWORD}}

    registered = await client.post("/api/users", json=register_body)
    logged_in = await client.post("/api/users/login", json=login_body)
    updated = await client.put("/api/user", json={"user": {"email": email}}, headers=jake.headers)

    assert_field_refused(registered, "email")
    assert_field_refused(updated, "email")
    if len(email) > EMAIL_MAX_LENGTH:
        assert_field_refused(logged_in, "email")
    else:  # login only looks the address up: an address nobody has
        assert logged_in.status_code == 401, logged_in.text[:500]
        assert list(logged_in.json()) == ["errors"]
    assert (await client.get("/api/profiles/mallory")).status_code == 404


@pytest.mark.parametrize("unit", ["a", "-", "é", " "])
async def test_a_maximum_size_username_is_a_422(
    client: AsyncClient, settings: Settings, unit: str
) -> None:
    user = {"username": text_of(settings, unit), "email": "j@example.com", "password": "x" * 12}

    assert_field_refused(await client.post("/api/users", json={"user": user}), "username")


async def test_a_maximum_size_tag_is_a_422(
    client: AsyncClient, settings: Settings, jake: RegisteredUser
) -> None:
    article = {"title": "t", "description": "d", "body": "b", "tagList": [text_of(settings, "t")]}

    response = await client.post("/api/articles", json={"article": article}, headers=jake.headers)

    assert_field_refused(response, "tagList")


async def test_a_maximum_number_of_tags_is_a_422(
    client: AsyncClient, settings: Settings, jake: RegisteredUser
) -> None:
    body = max_size(
        settings,
        b'{"article": {"title": "t", "description": "d", "body": "b", "tagList": [',
        b'"t", ',
        b'"t"]}}',
    )

    response = await post_raw(client, "/api/articles", body, jake.headers)

    assert_field_refused(response, "tagList")


async def test_a_maximum_size_comment_is_a_422(
    client: AsyncClient, settings: Settings, jake: RegisteredUser
) -> None:
    slug = (await create_article(client, jake))["slug"]

    response = await client.post(
        f"/api/articles/{slug}/comments",
        json={"comment": {"body": text_of(settings, "x")}},
        headers=jake.headers,
    )

    assert_field_refused(response, "body")
