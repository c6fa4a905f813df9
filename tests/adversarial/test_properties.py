"""Property tests: slugs for any title, and paging with any limit.

Example counts are kept small for the HTTP properties (each example creates rows); the pure
slug property runs many more. The whole file stays well under a minute.
"""

from __future__ import annotations

import re
import uuid

from fastapi import FastAPI
from httpx import AsyncClient
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from src.core.config import Settings
from src.services.articles import slug_base_of
from src.services.slugs import SLUG_BASE_MAX_LENGTH, slug_base, with_suffix
from tests.factories import RegisteredUser
from tests.seeding import seed_users

URL_SAFE_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Titles from every corner of unicode, plus the hard cases named on purpose.
TRICKY_TITLES = st.sampled_from(
    [
        "🐉🔥",
        "!!!",
        "---",
        "مرحبا بالعالم",
        "שלום עולם",
        "\u202eevil\u202c",
        "Привет, мир",
        "東京タワー",
        "a" * 255,
        " \t\n ",
        "ǅemal",
        "x\u0000y",
        "../../etc/passwd",
        "%2F%00?#",
    ]
)
TITLES = st.one_of(TRICKY_TITLES, st.text(min_size=1, max_size=255))
# For HTTP: a title must have a visible character (blank ones are refused, tested elsewhere).
API_TITLES = TITLES.map(lambda t: t.replace("\x00", "")).filter(lambda t: t.strip() != "")
HTTP = examples(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@examples(max_examples=200, deadline=None)
@given(TITLES)
def test_slug_base_is_url_safe_and_never_empty_for_any_title(title: str) -> None:
    base = slug_base(title)

    assert URL_SAFE_SLUG.match(base), base
    assert 0 < len(base) <= SLUG_BASE_MAX_LENGTH


@examples(max_examples=100, deadline=None)
@given(TITLES)
def test_a_suffixed_slug_stays_url_safe_and_keeps_its_base(title: str) -> None:
    base = slug_base(title)
    variants = {with_suffix(base) for _ in range(50)}

    assert len(variants) == 50
    for variant in variants:
        assert URL_SAFE_SLUG.match(variant)
        assert slug_base_of(variant) == base


@HTTP
@given(titles=st.lists(API_TITLES, min_size=1, max_size=4), repeat=st.integers(1, 3))
async def test_articles_with_any_titles_get_unique_url_safe_slugs_that_resolve(
    client: AsyncClient, app: FastAPI, settings: Settings, titles: list[str], repeat: int
) -> None:
    (author,) = await seed_users(app, settings, 1)
    created: list[dict[str, str]] = []
    for title in titles * repeat:
        body = {"article": {"title": title, "description": "d", "body": "b"}}
        response = await client.post("/api/articles", json=body, headers=author.headers)
        assert response.status_code == 201, response.text
        created.append(response.json()["article"])

    slugs = [article["slug"] for article in created]
    assert len(set(slugs)) == len(slugs)
    for article in created:
        assert URL_SAFE_SLUG.match(article["slug"])
        fetched = await client.get(f"/api/articles/{article['slug']}")
        assert fetched.status_code == 200
        assert fetched.json()["article"]["title"] == article["title"]


async def _publish(client: AsyncClient, author: RegisteredUser, count: int, tag: str) -> list[str]:
    slugs = []
    for i in range(count):
        body = {
            "article": {"title": f"{tag} {i}", "description": "d", "body": "b", "tagList": [tag]}
        }
        response = await client.post("/api/articles", json=body, headers=author.headers)
        assert response.status_code == 201
        slugs.append(response.json()["article"]["slug"])
    return slugs


@examples(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    count=st.integers(0, 13),
    limit=st.one_of(st.integers(1, 5), st.integers(1, 100)),
    start=st.integers(0, 3),
)
async def test_walking_pages_with_any_limit_covers_every_article_once_newest_first(
    client: AsyncClient, app: FastAPI, settings: Settings, count: int, limit: int, start: int
) -> None:
    (author,) = await seed_users(app, settings, 1)
    tag = f"p{uuid.uuid4().hex[:10]}"
    newest_first = list(reversed(await _publish(client, author, count, tag)))

    for params, headers in (
        ({"tag": tag}, {}),
        ({"author": author.username}, author.headers),
    ):
        seen: list[str] = []
        offset, total = start, None
        while True:
            page = await client.get(
                "/api/articles",
                params={**params, "limit": limit, "offset": offset},
                headers=headers,
            )
            assert page.status_code == 200
            data = page.json()
            total = data["articlesCount"]
            assert total == count
            assert len(data["articles"]) == max(0, min(limit, count - offset))
            seen += [article["slug"] for article in data["articles"]]
            offset += limit
            if offset >= total:
                break
        assert seen == newest_first[start:]


def _not_an_integer(text: str) -> bool:
    """Lax parsing reads " 7", "7.0" and "1_0" as integers; those are fine as limits."""
    try:
        return not float(text).is_integer()
    except ValueError:
        return True


@examples(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(["limit", "offset"]),
    value=st.one_of(
        st.integers(max_value=-1),
        st.integers(min_value=2**31),  # past MAX_OFFSET and the 32-bit range
        st.text(max_size=20).filter(_not_an_integer),
        st.floats().filter(lambda f: not f.is_integer()).map(str),
    ),
)
async def test_any_bad_limit_or_offset_is_a_422_in_the_envelope(
    client: AsyncClient, name: str, value: object
) -> None:
    response = await client.get("/api/articles", params={name: str(value)})

    assert response.status_code == 422, (name, value, response.text)
    errors = response.json()["errors"]
    assert list(errors) == [name]
    assert all(isinstance(m, str) and m for m in errors[name])
