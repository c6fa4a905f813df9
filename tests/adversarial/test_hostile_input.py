"""Hostile request bodies: whatever a client sends, a 4xx in the envelope and nothing written.

Hypothesis corrupts valid bodies of every write route (wrong types, nulls, huge numbers,
unexpected keys and wrappers); hand-written cases cover what JSON generators do not produce
(invalid UTF-8, duplicate keys, deep nesting, non-JSON content types).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import func, select

from src.core.config import Settings
from src.models import Base
from tests.factories import RegisteredUser, create_article
from tests.seeding import seed_users

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63),  # past every integer column
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
NOT_A_STRING = JSON.filter(lambda v: not isinstance(v, str) and v is not None)
NOT_AN_OBJECT = JSON.filter(lambda v: not isinstance(v, dict))

# Route -> (method, wrapper, a valid body's fields). Every field is a string (tagList a list).
ROUTES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "/api/users": (
        "POST",
        "user",
        {"username": "valid", "email": "valid@example.com", "password": "long-enough-pw"},
    ),
    "/api/users/login": ("POST", "user", {"email": "valid@example.com", "password": "x" * 12}),
    "/api/user": ("PUT", "user", {"bio": "b", "image": "https://example.com/i.png"}),
    "/api/articles": (
        "POST",
        "article",
        {"title": "t", "description": "d", "body": "b", "tagList": ["a"]},
    ),
    "/api/articles/{slug}": ("PUT", "article", {"title": "t2", "body": "b2"}),
    "/api/articles/{slug}/comments": ("POST", "comment", {"body": "hello"}),
}


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[str, Any]:
    """A route and a body for it that is broken in at least one way."""
    route = draw(st.sampled_from(sorted(ROUTES)))
    _, wrapper, fields = ROUTES[route]
    inner: dict[str, Any] = dict(fields)
    how = draw(st.sampled_from(["body", "wrapper", "field", "tags"]))
    if how == "body":  # not an object, or an object without the wrapper
        body: Any = draw(
            NOT_AN_OBJECT
            | st.dictionaries(st.text(max_size=8).filter(lambda k: k != wrapper), JSON, max_size=3)
        )
        return route, body
    if how == "wrapper":
        return route, {wrapper: draw(NOT_AN_OBJECT)}
    if how == "tags" and "tagList" in inner:
        bad_item = NOT_A_STRING.filter(lambda v: not isinstance(v, list))
        inner["tagList"] = draw(
            st.one_of(
                NOT_A_STRING.filter(lambda v: not isinstance(v, list)),
                st.lists(bad_item, min_size=1, max_size=3),
            )
        )
    else:
        name = draw(st.sampled_from(sorted(name for name in inner if name != "tagList")))
        inner[name] = draw(NOT_A_STRING)
    # Unexpected keys beside the broken one change nothing about the answer.
    extras = draw(
        st.dictionaries(st.text(max_size=8).filter(lambda k: k not in inner), JSON, max_size=2)
    )
    return route, {wrapper: {**extras, **inner}}


async def _row_counts(app: FastAPI) -> dict[str, int]:
    counts = {}
    async with app.state.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = int(await conn.scalar(select(func.count()).select_from(table)))
    return counts


def _assert_clean_4xx(response: Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["errors"]
    assert body["errors"]
    for field, messages in body["errors"].items():
        assert isinstance(field, str)
        assert messages
        assert all(isinstance(m, str) and m for m in messages)


@pytest.fixture
async def victim(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> tuple[RegisteredUser, str]:
    (user,) = await seed_users(app, settings, 1)
    return user, (await create_article(client, user))["slug"]


@examples(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=corrupted())
async def test_a_corrupted_body_on_any_write_route_is_a_4xx_that_writes_nothing(
    client: AsyncClient, app: FastAPI, victim: tuple[RegisteredUser, str], case: tuple[str, Any]
) -> None:
    user, slug = victim
    route, body = case
    method = ROUTES[route][0]
    before = await _row_counts(app)
    article_before = (await client.get(f"/api/articles/{slug}")).json()
    me_before = (await client.get("/api/user", headers=user.headers)).json()

    response = await client.request(
        method, route.format(slug=slug), json=body, headers=user.headers
    )

    _assert_clean_4xx(response)
    assert await _row_counts(app) == before
    assert (await client.get(f"/api/articles/{slug}")).json() == article_before
    me_after = (await client.get("/api/user", headers=user.headers)).json()
    assert me_after == me_before


RAW_BODIES = {
    "invalid utf-8": b'{"article": {"title": "\xff\xfe", "description": "d", "body": "b"}}',
    "lone surrogate escape": b'{"article": {"title": "\\ud800", "description": "d", "body": "b"}}',
    "nul byte in text": b'{"article": {"title": "a\\u0000b", "description": "d", "body": "b"}}',
    "truncated": b'{"article": {"title": "t", "descr',
    "empty": b"",
    "not json": b"title=t&description=d",
    "trailing garbage": b'{"article": {"title": "t", "description": "d", "body": "b"}} x',
    "huge exponent": b'{"article": {"title": 1e999, "description": "d", "body": "b"}}',
    "huge integer": b'{"article": {"title": 1'
    + b"0" * 5000
    + b', "description": "d", "body": "b"}}',
    "NaN literal": b'{"article": {"title": NaN, "description": "d", "body": "b"}}',
    "deep nesting": b'{"article": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "deep objects": b'{"article": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
    "duplicate keys, last broken": (
        b'{"article": {"title": "t", "description": "d", "body": "b"}, "article": 1}'
    ),
    "duplicate field, last broken": (
        b'{"article": {"title": "t", "title": null, "description": "d", "body": "b"}}'
    ),
    "top-level array": b'[{"article": {"title": "t", "description": "d", "body": "b"}}]',
}


@pytest.mark.parametrize("raw", RAW_BODIES.values(), ids=RAW_BODIES.keys())
async def test_malformed_bytes_are_a_4xx_that_writes_nothing(
    client: AsyncClient, app: FastAPI, victim: tuple[RegisteredUser, str], raw: bytes
) -> None:
    user, _ = victim
    before = await _row_counts(app)

    response = await client.post(
        "/api/articles",
        content=raw,
        headers={**user.headers, "Content-Type": "application/json"},
    )

    _assert_clean_4xx(response)
    assert await _row_counts(app) == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
async def test_a_valid_body_under_a_wrong_content_type_is_refused_cleanly(
    client: AsyncClient, app: FastAPI, victim: tuple[RegisteredUser, str], content_type: str | None
) -> None:
    user, _ = victim
    before = await _row_counts(app)
    raw = json.dumps({"article": {"title": "t", "description": "d", "body": "b"}}).encode()
    headers = dict(user.headers)
    if content_type:
        headers["Content-Type"] = content_type

    response = await client.post("/api/articles", content=raw, headers=headers)

    # FastAPI reads a body without a JSON content type as JSON only when none is declared.
    if response.status_code == 201:
        assert content_type is None
    else:
        _assert_clean_4xx(response)
        assert await _row_counts(app) == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/articles/{slug}/comments/99999999999999999999999",
        "/api/articles/{slug}/comments/-1",
        "/api/articles/{slug}/comments/2147483648",
        "/api/articles/{slug}/comments/1e3",
        "/api/articles/{slug}/comments/%00",
        "/api/profiles/%00",
        "/api/articles/%ff%fe",
        "/api/articles/a%00b",
    ],
)
async def test_hostile_path_parameters_are_a_clean_4xx(
    client: AsyncClient, victim: tuple[RegisteredUser, str], path: str
) -> None:
    user, slug = victim

    response = await client.delete(path.format(slug=slug), headers=user.headers)

    _assert_clean_4xx(response)


@pytest.mark.parametrize(
    "path",
    [
        "/api/profiles/a%00b",
        "/api/articles/a%00b",
        "/api/articles/a%00b/comments",
        "/api/articles?tag=a%00b",
        "/api/articles?author=%00",
        "/api/articles?favorited=x%00",
        "/api/articles?limit=1%00",
    ],
)
async def test_nul_characters_in_paths_and_queries_are_a_clean_4xx_on_every_database(
    client: AsyncClient, path: str
) -> None:
    # PostgreSQL text cannot hold NUL: without the guard these were 500s there (regression).
    response = await client.get(path)

    _assert_clean_4xx(response)
    assert "must not contain NUL characters" in str(response.json())


# ---------------------------------------------------------------- regressions from schema fuzzing


@pytest.mark.parametrize("route", ["/api/users", "/api/users/login", "/api/articles"])
async def test_a_body_that_is_not_utf8_is_a_documented_422_not_a_400(
    client: AsyncClient, victim: tuple[RegisteredUser, str], route: str
) -> None:
    # schemathesis sent b"g\xff" and got FastAPI's undocumented 400 "error parsing the body".
    user, _ = victim

    response = await client.post(
        route, content=b"g\xff\x14", headers={**user.headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["is not valid UTF-8"]}}


async def test_the_document_says_a_null_tag_list_is_accepted_on_create(
    client: AsyncClient, victim: tuple[RegisteredUser, str], openapi_document: dict[str, Any]
) -> None:
    # schemathesis: `"tagList": null` was accepted while the document said "array" only.
    user, _ = victim
    schema = openapi_document["components"]["schemas"]["NewArticle"]
    assert {"type": "null"} in schema["properties"]["tagList"]["anyOf"]

    body = {"article": {"title": "t", "description": "d", "body": "b", "tagList": None}}
    response = await client.post("/api/articles", json=body, headers=user.headers)

    assert response.status_code == 201
    assert response.json()["article"]["tagList"] == []


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"article": {"title": "t", "title": "u", "description": "d", "body": "b"}}', "title"),
        (b'{"article": {"title": "t", "description": "d", "body": "b"}, "article": {}}', "article"),
        (
            b'{"article": {"title": "t", "description": "d", "body": "b", '
            b'"tagList": [{"a": 1, "a": 2}]}}',
            "a",
        ),
    ],
)
async def test_duplicate_keys_are_refused_even_when_either_copy_is_valid(
    client: AsyncClient, app: FastAPI, victim: tuple[RegisteredUser, str], raw: bytes, key: str
) -> None:
    # Parsers disagree on which duplicate wins; we take neither.
    user, _ = victim
    before = await _row_counts(app)

    response = await client.post(
        "/api/articles", content=raw, headers={**user.headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json() == {"errors": {"body": [f"has the key {key!r} more than once"]}}
    assert await _row_counts(app) == before


async def test_text_that_merely_mentions_nul_is_accepted(
    client: AsyncClient, victim: tuple[RegisteredUser, str]
) -> None:
    user, _ = victim
    raw = rb'{"article": {"title": "about \\u0000", "description": "d", "body": "b"}}'

    response = await client.post(
        "/api/articles", content=raw, headers={**user.headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 201
    assert response.json()["article"]["title"] == "about \\u0000"
