"""Statements per request stay constant in page size: no N+1 on lists, feed or comments."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from tests.api.article_helpers import count_statements
from tests.factories import (
    RegisteredUser,
    article_payload,
    comment,
    create_article,
    favorite,
    follow,
    register,
)
from tests.jobs import run_jobs_until_idle

ARTICLES = 30
PAGE_SIZES = (1, 20, 100)
# The caller's user, one count, one page query and one tag batch (plus SQLite's BEGIN): more
# means a statement crept in per row or per relation.
MAX_STATEMENTS = 5


@dataclass
class Corpus:
    authors: list[RegisteredUser]
    viewer: RegisteredUser
    fan: RegisteredUser
    slugs: list[str]


@pytest.fixture
async def corpus(client: AsyncClient, app: FastAPI) -> Corpus:
    """30 articles by 3 authors, each with 3 tags, favorites and a comment.

    The viewer follows two of the authors and favorited every third article; the fan
    favorited everything. Comments come from five different people.
    """
    authors = [await register(client) for _ in range(3)]
    viewer, fan = await register(client), await register(client)
    commenters = [*authors, viewer, fan]
    slugs: list[str] = []
    for i in range(ARTICLES):
        article = await create_article(
            client, authors[i % 3], tagList=["common", f"group{i % 4}", f"only{i}"]
        )
        slug = article["slug"]
        slugs.append(slug)
        await favorite(client, fan, slug)
        if i % 3 == 0:
            await favorite(client, viewer, slug)
        await comment(client, commenters[i % 5], slug)
    for author in authors[:2]:
        await follow(client, viewer, author.username)
    await run_jobs_until_idle(app)
    return Corpus(authors, viewer, fan, slugs)


async def _statements_per_page_size(
    client: AsyncClient, app: FastAPI, path: str, params: dict[str, str], headers: dict[str, str]
) -> dict[int, list[str]]:
    """Page size -> the statements one request ran; also checks the pages really differ."""
    warm_up = await client.get(path, params={**params, "limit": 1}, headers=headers)
    assert warm_up.status_code == 200, warm_up.text
    recorded: dict[int, list[str]] = {}
    lengths: dict[int, int] = {}
    for limit in PAGE_SIZES:
        with count_statements(app) as statements:
            response = await client.get(path, params={**params, "limit": limit}, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        lengths[limit] = len(page["articles"])
        assert lengths[limit] == min(limit, page["articlesCount"])
        recorded[limit] = list(statements)
    # The test means something only when the larger pages hold many more rows.
    assert lengths[1] == 1
    assert lengths[100] >= 10
    return recorded


def _queries(statements: list[str]) -> list[str]:
    """Statements that read or write, without SQLite's explicit BEGIN."""
    return [s for s in statements if not s.startswith("BEGIN")]


def _assert_constant(recorded: dict[int, list[str]]) -> None:
    counts = {limit: len(statements) for limit, statements in recorded.items()}
    assert len(set(counts.values())) == 1, (counts, recorded[100])
    assert counts[1] <= MAX_STATEMENTS, recorded[1]


@pytest.mark.parametrize("filter_by", ["none", "tag", "author", "favorited"])
async def test_listing_articles_runs_the_same_statements_for_any_page_size(
    client: AsyncClient, app: FastAPI, corpus: Corpus, filter_by: str
) -> None:
    params = {
        "none": {},
        "tag": {"tag": "common"},
        "author": {"author": corpus.authors[0].username},
        "favorited": {"favorited": corpus.fan.username},
    }[filter_by]

    anonymous = await _statements_per_page_size(client, app, "/api/articles", params, {})
    authenticated = await _statements_per_page_size(
        client, app, "/api/articles", params, corpus.viewer.headers
    )

    _assert_constant(anonymous)
    _assert_constant(authenticated)
    # The page with its tags and total is one statement; signed in, the same statement also
    # checks the caller's session is live.
    assert len(_queries(anonymous[20])) == 1, anonymous[20]
    assert len(_queries(authenticated[20])) == 1, authenticated[20]


async def test_the_feed_runs_the_same_statements_for_any_page_size(
    client: AsyncClient, app: FastAPI, corpus: Corpus
) -> None:
    recorded = await _statements_per_page_size(
        client, app, "/api/articles/feed", {}, corpus.viewer.headers
    )

    _assert_constant(recorded)
    assert len(_queries(recorded[20])) == 1, recorded[20]  # the page checks the caller too


async def test_listing_comments_runs_the_same_statements_for_one_or_many_comments(
    client: AsyncClient, app: FastAPI, corpus: Corpus
) -> None:
    quiet, busy = corpus.slugs[0], corpus.slugs[1]
    people = [*corpus.authors, corpus.viewer, corpus.fan]
    for n in range(25):
        await comment(client, people[n % len(people)], busy, body=f"Comment {n}")

    for headers in ({}, corpus.viewer.headers):
        await client.get(f"/api/articles/{quiet}/comments", headers=headers)  # warm up
        recorded: dict[str, list[str]] = {}
        for slug, expected in ((quiet, 1), (busy, 26)):
            with count_statements(app) as statements:
                response = await client.get(f"/api/articles/{slug}/comments", headers=headers)
            assert response.status_code == 200, response.text
            assert len(response.json()["comments"]) == expected
            recorded[slug] = list(statements)

        assert len(recorded[quiet]) == len(recorded[busy]), recorded
        assert len(recorded[busy]) <= MAX_STATEMENTS, recorded[busy]


async def test_a_login_reads_the_account_once_and_writes_its_session_at_once(
    client: AsyncClient, app: FastAPI, is_postgres: bool
) -> None:
    """Every login pays its statements on the event loop beside the reads: the
    account is one read, and on PostgreSQL the session with its refresh token one insert."""
    jake = await register(client)
    body = {"user": {"email": jake.email, "password": jake.password}}
    await client.post("/api/users/login", json=body)  # warm up

    with count_statements(app) as statements:
        response = await client.post("/api/users/login", json=body)

    assert response.status_code == 200, response.text
    queries = _queries(list(statements))
    assert queries[0].lstrip().startswith("SELECT"), queries
    assert "FROM users" in queries[0], queries
    if is_postgres:
        assert len(queries) == 2, queries
        assert "INSERT INTO auth_sessions" in queries[1], queries
        assert "INSERT INTO refresh_tokens" in queries[1], queries
    else:  # SQLite cannot insert in a CTE: two inserts in one transaction
        assert len(queries) == 3, queries


async def test_tags_are_one_statement_anonymous_or_signed_in(
    client: AsyncClient, app: FastAPI, corpus: Corpus
) -> None:
    # Signed in, the same statement also checks the caller's session is live.
    for headers in ({}, corpus.viewer.headers):
        with count_statements(app) as statements:
            response = await client.get("/api/tags", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["tags"]
        assert len(_queries(statements)) == 1, statements


def _own_writes(statements: list[str]) -> list[str]:
    """A write's statements without SQLite's BEGIN and the statements of its own of the feed's
    fan-out or a job (their modules' concern: src/services/feeds.py, src/services/jobs)."""
    theirs = ("INSERT INTO jobs", "DELETE FROM feed_", "INSERT INTO feed_")
    return [s for s in _queries(statements) if not s.lstrip().startswith(theirs)]


async def _statements_of(
    app: FastAPI, send: Callable[[], Awaitable[Response]], status: int
) -> list[str]:
    with count_statements(app) as statements:
        response = await send()
    assert response.status_code == status, response.text
    return _own_writes(list(statements))


async def test_the_hot_writes_run_a_fixed_few_statements(
    client: AsyncClient, app: FastAPI, is_postgres: bool
) -> None:
    """Each hot write is a fixed few statements built once, with no read after its commit: a
    create is the author's count (its caller's check), the article, its tags (one upsert),
    their links and the total; a favorite the locked article (its caller's check) and its
    three parts; a comment its caller's check, the comment and its event. On PostgreSQL a create
    and a comment are one statement each, a favorite's three parts one. A follow is the author,
    then its caller's check and the follows row (one statement on PostgreSQL): the author's row
    is not locked (the feed's work is a job)."""
    jake, jane = await register(client), await register(client)
    slug = (await create_article(client, jake))["slug"]  # warms up every statement's cache
    await favorite(client, jane, slug)
    await client.delete(f"/api/articles/{slug}/favorite", headers=jane.headers)

    create = await _statements_of(
        app,
        partial(client.post, "/api/articles", json=article_payload(), headers=jake.headers),
        201,
    )
    path = f"/api/articles/{slug}/favorite"
    favorite_once = await _statements_of(app, partial(client.post, path, headers=jane.headers), 200)
    unfavorite_once = await _statements_of(
        app, partial(client.delete, path, headers=jane.headers), 200
    )
    add_comment = await _statements_of(
        app,
        partial(
            client.post,
            f"/api/articles/{slug}/comments",
            json={"comment": {"body": "Nice"}},
            headers=jane.headers,
        ),
        201,
    )
    profile = f"/api/profiles/{jake.username}/follow"
    follow_once = await _statements_of(
        app, partial(client.post, profile, headers=jane.headers), 200
    )
    unfollow_once = await _statements_of(
        app, partial(client.delete, profile, headers=jane.headers), 200
    )

    # The creates, favorites and comments check their caller in their own statement: on
    # PostgreSQL a create or comment is one statement of CTEs, a favorite the locked article
    # and one; SQLite, which cannot write in a CTE, runs the parts in turn.
    assert len(create) == (1 if is_postgres else 5), create
    if is_postgres:  # its own transaction, the feed's job and the webhook event in it
        assert "INSERT INTO jobs" in create[0], create
    assert len(favorite_once) == (2 if is_postgres else 4), favorite_once
    assert len(unfavorite_once) == (2 if is_postgres else 4), unfavorite_once
    assert len(add_comment) == (1 if is_postgres else 2), add_comment
    if is_postgres:  # the webhook events inside: no statement of their own
        assert "INSERT INTO jobs" in add_comment[0], add_comment
        assert "INSERT INTO jobs" in favorite_once[1], favorite_once
    # A follow or unfollow: the author (and whether the feed pulls them), then on PostgreSQL one
    # statement: the caller's check, the follows row, the feed's part and the event.
    assert len(follow_once) == (2 if is_postgres else 3), follow_once
    assert len(unfollow_once) == (2 if is_postgres else 3), unfollow_once
    if is_postgres:
        assert "INSERT INTO jobs" in follow_once[1], follow_once
