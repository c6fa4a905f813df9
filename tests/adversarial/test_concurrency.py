"""Races through the HTTP API: many clients writing the same rows at the same moment.

On PostgreSQL every request runs in its own connection and transaction, truly in parallel;
on SQLite writers are serialized (BEGIN IMMEDIATE), so the same tests prove the answers stay
right and clean there too. Nowhere may a race surface as a 500.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import select

from src.core.config import Settings
from src.models import User
from src.services import articles
from src.services.jobs import Worker
from src.services.user_deletion import delete_user
from tests.adversarial.test_integrity import assert_counts_match_rows
from tests.api.article_helpers import assert_feeds_match_follows
from tests.factories import RegisteredUser, article_payload, create_article, favorite, register
from tests.jobs import run_jobs_until_idle
from tests.seeding import seed_users

CROWD = 200


async def _all(requests: list[Callable[[], Awaitable[Response]]]) -> list[Response]:
    """Send all at once. A 503 (pool exhausted: load shedding, documented) is retried the way
    the README tells clients to; any other 5xx fails the test."""

    async def send(request: Callable[[], Awaitable[Response]]) -> Response:
        for attempt in range(1, 40):
            response = await request()
            if response.status_code != 503:
                return response
            await asyncio.sleep(0.05 * attempt)
        return response

    responses = list(await asyncio.gather(*(send(r) for r in requests)))
    server_errors = [r for r in responses if r.status_code >= 500]
    assert not server_errors, server_errors[0].text
    return responses


async def _count(client: AsyncClient, slug: str) -> int:
    response = await client.get(f"/api/articles/{slug}")
    assert response.status_code == 200
    count: int = response.json()["article"]["favoritesCount"]
    return count


async def test_200_users_favoriting_and_unfavoriting_at_once_leave_the_exact_count(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    fans = await seed_users(app, settings, CROWD)
    path = f"/api/articles/{slug}/favorite"

    # Round 1: everyone favorites, twice over, all at once.
    responses = await _all([partial(client.post, path, headers=f.headers) for f in fans + fans])
    assert {r.status_code for r in responses} == {200}
    assert max(r.json()["article"]["favoritesCount"] for r in responses) == CROWD
    assert await _count(client, slug) == CROWD

    # Round 2: a random half unfavorites while the other half favorites again (a no-op).
    rng = random.Random(  # noqa: S311 - reproducible shuffles, not secrets
        2026
    )
    leaving = set(rng.sample(range(CROWD), CROWD // 2))
    mixed = [
        partial(client.delete, path, headers=f.headers)
        if i in leaving
        else partial(client.post, path, headers=f.headers)
        for i, f in enumerate(fans)
    ]
    rng.shuffle(mixed)
    responses = await _all(mixed)
    assert {r.status_code for r in responses} == {200}
    assert all(0 <= r.json()["article"]["favoritesCount"] <= CROWD for r in responses)

    staying = CROWD - len(leaving)
    assert await _count(client, slug) == staying
    # The counter agrees with the rows: each fan's own view and the favorited filter.
    for i in (0, 1, CROWD // 2, CROWD - 1):
        listed = await client.get("/api/articles", params={"favorited": fans[i].username})
        assert listed.json()["articlesCount"] == (0 if i in leaving else 1)
        mine = await client.get(f"/api/articles/{slug}", headers=fans[i].headers)
        assert mine.json()["article"]["favorited"] is (i not in leaving)


async def test_favorites_racing_on_many_articles_keep_every_count_exact(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    author = await register(client)
    slugs = [(await create_article(client, author))["slug"] for _ in range(5)]
    fans = await seed_users(app, settings, 40)
    rng = random.Random(  # noqa: S311 - reproducible shuffles, not secrets
        7
    )
    expected = {slug: set[int]() for slug in slugs}
    requests = []
    for i, fan in enumerate(fans):
        for slug in rng.sample(slugs, 3):
            expected[slug].add(i)
            requests.append(
                partial(client.post, f"/api/articles/{slug}/favorite", headers=fan.headers)
            )
    rng.shuffle(requests)

    await _all(requests)

    for slug in slugs:
        assert await _count(client, slug) == len(expected[slug])


async def test_many_users_following_one_profile_at_once_all_see_it_in_their_feed(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    celebrity = await register(client)
    await create_article(client, celebrity)
    fans = await seed_users(app, settings, 100)
    path = f"/api/profiles/{celebrity.username}/follow"

    # Each fan follows three times at once; a third of them unfollow in the same burst.
    requests = [partial(client.post, path, headers=f.headers) for f in fans for _ in range(3)]
    responses = await _all(requests)
    assert {r.status_code for r in responses} == {200}
    assert all(r.json()["profile"]["following"] is True for r in responses)
    quitters = fans[::3]
    responses = await _all([partial(client.delete, path, headers=f.headers) for f in quitters])
    assert all(r.json()["profile"]["following"] is False for r in responses)
    await run_jobs_until_idle(app)

    for i, fan in enumerate(fans):
        if i % 10:
            continue
        following = i % 3 != 0
        profile = await client.get(f"/api/profiles/{celebrity.username}", headers=fan.headers)
        assert profile.json()["profile"]["following"] is following
        feed = await client.get("/api/articles/feed", headers=fan.headers)
        assert feed.json()["articlesCount"] == (1 if following else 0)


async def test_two_users_following_each_other_at_once_both_succeed(client: AsyncClient) -> None:
    alice, bob = await register(client), await register(client)

    responses = await _all(
        [
            partial(client.post, f"/api/profiles/{bob.username}/follow", headers=alice.headers),
            partial(client.post, f"/api/profiles/{alice.username}/follow", headers=bob.headers),
        ]
        * 5
    )

    assert {r.status_code for r in responses} == {200}
    for viewer, other in ((alice, bob), (bob, alice)):
        profile = await client.get(f"/api/profiles/{other.username}", headers=viewer.headers)
        assert profile.json()["profile"]["following"] is True


async def test_articles_created_at_once_with_the_same_title_get_distinct_slugs(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    authors = await seed_users(app, settings, 5)
    title = "Exactly The Same Title"
    body = {"article": {"title": title, "description": "d", "body": "b", "tagList": ["same"]}}

    responses = await _all(
        [partial(client.post, "/api/articles", json=body, headers=a.headers) for a in authors * 6]
    )

    assert {r.status_code for r in responses} == {201}
    slugs = [r.json()["article"]["slug"] for r in responses]
    assert len(set(slugs)) == len(slugs) == 30
    assert "exactly-the-same-title" in slugs
    assert all(s.startswith("exactly-the-same-title") for s in slugs)
    for response in responses[::7]:
        article = response.json()["article"]
        fetched = await client.get(f"/api/articles/{article['slug']}")
        assert fetched.json()["article"]["author"] == article["author"]
    listed = await client.get("/api/articles", params={"tag": "same", "limit": 100})
    assert listed.json()["articlesCount"] == 30


async def test_concurrent_retitles_to_the_same_title_get_distinct_slugs(
    client: AsyncClient,
) -> None:
    author = await register(client)
    slugs = [(await create_article(client, author))["slug"] for _ in range(8)]
    body = {"article": {"title": "Converging Title"}}

    responses = await _all(
        [
            partial(client.put, f"/api/articles/{s}", json=body, headers=author.headers)
            for s in slugs
        ]
    )

    assert {r.status_code for r in responses} == {200}
    new_slugs = {r.json()["article"]["slug"] for r in responses}
    assert len(new_slugs) == 8
    assert all(s.startswith("converging-title") for s in new_slugs)


def _user_body(username: str, email: str) -> dict[str, Any]:
    return {"user": {"username": username, "email": email, "password": "long-enough-pw"}}


@pytest.mark.parametrize("clash", ["username", "email"])
async def test_registrations_racing_for_one_name_give_one_success_and_clean_409s(
    client: AsyncClient, clash: str
) -> None:
    # The same name in several spellings of case: uniqueness ignores case for both fields.
    if clash == "username":
        spellings = ["Racer", "racer", "RACER"]
        bodies = [_user_body(spellings[i % 3], f"racer{i}@example.com") for i in range(12)]
    else:
        spellings = ["race@example.com", "RACE@example.com"]
        bodies = [_user_body(f"racer{i}", spellings[i % 2]) for i in range(12)]

    responses = await _all([partial(client.post, "/api/users", json=b) for b in bodies])

    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 11
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"errors": {clash: ["has already been taken"]}}
    winner = next(r for r in responses if r.status_code == 201).json()["user"]
    profile = await client.get(f"/api/profiles/{winner['username']}")
    assert profile.status_code == 200


async def _article_state(client: AsyncClient, slug: str) -> dict[str, Any]:
    response = await client.get(f"/api/articles/{slug}")
    assert response.status_code == 200
    article: dict[str, Any] = response.json()["article"]
    return article


async def test_concurrent_edits_of_different_fields_are_all_kept(client: AsyncClient) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    edits = [
        {"description": "new description"},
        {"body": "new body"},
        {"tagList": ["alpha", "beta"]},
        {"tagList": ["beta", "gamma"]},
        {"description": "new description"},
        {"body": "new body"},
    ]

    responses = await _all(
        [
            partial(
                client.put, f"/api/articles/{slug}", json={"article": e}, headers=author.headers
            )
            for e in edits * 3
        ]
    )

    assert {r.status_code for r in responses} == {200}
    stored = await _article_state(client, slug)
    assert stored["description"] == "new description"
    assert stored["body"] == "new body"
    assert stored["tagList"] in (["alpha", "beta"], ["beta", "gamma"])
    tags = (await client.get("/api/tags")).json()["tags"]
    assert set(stored["tagList"]) <= set(tags)


async def test_concurrent_edits_of_one_field_end_with_one_of_the_written_values(
    client: AsyncClient,
) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    written = [f"version {i}" for i in range(20)]

    responses = await _all(
        [
            partial(
                client.put,
                f"/api/articles/{slug}",
                json={"article": {"body": b}},
                headers=author.headers,
            )
            for b in written
        ]
    )

    assert {r.status_code for r in responses} == {200}
    stored = (await _article_state(client, slug))["body"]
    assert stored in written
    # Every response shows a value that was really stored at some point, never a mix or a stale one.
    shown = [r.json()["article"]["body"] for r in responses]
    assert all(body in written for body in shown)
    assert stored in shown


async def test_edits_deletes_favorites_and_comments_racing_on_one_article_never_fail_with_500(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    author = await register(client)
    readers = await seed_users(app, settings, 20)
    slug = (await create_article(client, author))["slug"]
    path = f"/api/articles/{slug}"
    requests = [
        partial(client.put, path, json={"article": {"body": "edited"}}, headers=author.headers),
        partial(
            client.put, path, json={"article": {"tagList": ["x", "y"]}}, headers=author.headers
        ),
        partial(client.delete, path, headers=author.headers),
    ]
    for reader in readers:
        requests.append(partial(client.post, f"{path}/favorite", headers=reader.headers))
        requests.append(
            partial(
                client.post,
                f"{path}/comments",
                json={"comment": {"body": "hi"}},
                headers=reader.headers,
            )
        )
    random.Random(3).shuffle(requests)  # noqa: S311 - a reproducible order

    responses = await _all(requests)

    assert {r.status_code for r in responses} <= {200, 201, 204, 404}
    assert (await client.get(path)).status_code == 404
    assert (await client.get("/api/articles")).json()["articlesCount"] == 0
    for reader in readers[:3]:
        listed = await client.get("/api/articles", params={"favorited": reader.username})
        assert listed.json() == {"articles": [], "articlesCount": 0}


async def test_favorite_of_an_article_being_deleted_is_a_clean_404_or_success(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    author = await register(client)
    fans: list[RegisteredUser] = await seed_users(app, settings, 30)
    for _ in range(3):
        slug = (await create_article(client, author))["slug"]
        await favorite(client, fans[0], slug)
        requests = [partial(client.delete, f"/api/articles/{slug}", headers=author.headers)]
        requests += [
            partial(client.post, f"/api/articles/{slug}/favorite", headers=f.headers) for f in fans
        ]
        requests += [
            partial(client.delete, f"/api/articles/{slug}/favorite", headers=fans[0].headers)
        ]

        responses = await _all(requests)

        assert {r.status_code for r in responses} <= {200, 204, 404}
        for response in responses:
            if response.status_code == 404:
                assert response.json() == {"errors": {"article": ["not found"]}}


async def test_follows_unfollows_and_articles_racing_keep_every_feed_exact(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """The feed is fanned out by jobs (src/services/feeds.py): two workers copy authors'
    articles into followers' feeds while the authors write and delete others and readers
    follow and unfollow. Once the jobs caught up, every feed holds exactly the articles of the
    authors its reader follows, and counts them."""
    authors = [await register(client) for _ in range(3)]
    doomed = [(await create_article(client, a))["slug"] for a in authors]
    fans = await seed_users(app, settings, 30)
    rng = random.Random(  # noqa: S311 - reproducible shuffles, not secrets
        4
    )

    def follow_path(author: RegisteredUser) -> str:
        return f"/api/profiles/{author.username}/follow"

    burst: list[Callable[[], Awaitable[Response]]] = [
        partial(client.post, follow_path(a), headers=f.headers) for f in fans for a in authors
    ]
    burst += [
        partial(client.post, "/api/articles", json=article_payload(), headers=a.headers)
        for a in authors
        for _ in range(4)
    ]
    # Unfollows race their own follows: either order is a valid outcome.
    burst += [partial(client.delete, follow_path(authors[0]), headers=f.headers) for f in fans[::3]]
    burst += [
        partial(client.delete, f"/api/articles/{slug}", headers=a.headers)
        for a, slug in zip(authors, doomed, strict=True)
    ]
    rng.shuffle(burst)
    small_steps = settings.model_copy(update={"feed_fanout_batch": 2})
    stop = asyncio.Event()
    workers = [Worker(app.state.sessionmaker, small_steps).run(stop) for _ in range(2)]
    running = [asyncio.create_task(worker) for worker in workers]
    await _all(burst)
    stop.set()
    await asyncio.gather(*running)
    await run_jobs_until_idle(app)

    async with app.state.engine.connect() as conn:
        await assert_feeds_match_follows(conn)
    for fan in fans[:6]:
        expected = 0
        for author in authors:
            profile = await client.get(f"/api/profiles/{author.username}", headers=fan.headers)
            if profile.json()["profile"]["following"]:
                listed = await client.get("/api/articles", params={"author": author.username})
                expected += listed.json()["articlesCount"]
        feed = await client.get("/api/articles/feed", headers=fan.headers, params={"limit": 100})
        assert feed.json()["articlesCount"] == len(feed.json()["articles"]) == expected


async def test_follows_of_a_user_being_deleted_are_a_clean_404_or_success(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """A follow that found the author just before the author's deletion committed must not
    end in a foreign-key error: it is a 404, as a moment later."""
    fans = await seed_users(app, settings, 30)
    for _ in range(3):
        doomed = await register(client)
        await create_article(client, doomed)
        async with app.state.sessionmaker() as session:
            doomed_id = await session.scalar(
                select(User.id).where(User.username == doomed.username)
            )
        assert doomed_id is not None

        async def delete_doomed(user_id: int = doomed_id) -> None:
            await asyncio.sleep(0.01)  # into the middle of the follows
            async with app.state.sessionmaker() as session:
                await delete_user(session, user_id)

        path = f"/api/profiles/{doomed.username}/follow"
        follows = [partial(client.post, path, headers=f.headers) for f in fans]
        responses, _ = await asyncio.gather(_all(follows), delete_doomed())

        assert {r.status_code for r in responses} <= {200, 404}
        for response in responses:
            if response.status_code == 404:
                assert response.json() == {"errors": {"profile": ["not found"]}}
    await run_jobs_until_idle(app)
    async with app.state.engine.connect() as conn:
        await assert_feeds_match_follows(conn)


async def test_two_authors_creating_at_once_do_not_wait_for_each_other(
    client: AsyncClient,
    app: FastAPI,
    settings: Settings,
    is_postgres: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No platform-wide hot row: the global total is moved in a shard no other writer holds
    (src/services/counters.py), so a create need not wait for another author's commit."""
    if not is_postgres:
        pytest.skip("SQLite serializes every writer by design (BEGIN IMMEDIATE)")
    first, second = await seed_users(app, settings, 2)
    held, release = asyncio.Event(), asyncio.Event()
    create = articles._create_postgresql  # the create's one statement, the total's shard in it

    async def create_then_hold(*args: Any) -> Any:
        created = await create(*args)
        if not held.is_set():  # the first create keeps its transaction open here
            held.set()
            await release.wait()
        return created

    monkeypatch.setattr(articles, "_create_postgresql", create_then_hold)
    holding = asyncio.create_task(create_article(client, first, tagList=["first"]))
    await asyncio.wait_for(held.wait(), timeout=30)
    try:
        # With one total row, this create queued on its lock until the first one committed.
        await asyncio.wait_for(create_article(client, second, tagList=["second"]), timeout=30)
        assert not holding.done()
    finally:
        release.set()
    await holding

    listed = await client.get("/api/articles")
    assert listed.json()["articlesCount"] == 2


async def test_creates_favorites_and_deletes_by_many_authors_at_once_lose_no_count(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """However many authors write at once, each over its own shard of the total, every
    maintained count ends equal to its rows and the list's total to the articles."""
    authors = await seed_users(app, settings, 40)
    fans = await seed_users(app, settings, 20)
    existing = [
        (await create_article(client, a, tagList=["shared", f"own{i}"]))["slug"]
        for i, a in enumerate(authors)
    ]
    kept = existing[20:]
    rng = random.Random(  # noqa: S311 - reproducible shuffles, not secrets
        19
    )
    burst: list[Callable[[], Awaitable[Response]]] = [
        partial(
            client.post,
            "/api/articles",
            json=article_payload(tagList=["shared"]),
            headers=a.headers,
        )
        for a in authors
        for _ in range(2)
    ]
    burst += [
        partial(client.delete, f"/api/articles/{slug}", headers=a.headers)
        for a, slug in zip(authors[:20], existing[:20], strict=True)
    ]
    burst += [
        partial(client.post, f"/api/articles/{slug}/favorite", headers=f.headers)
        for f in fans
        for slug in rng.sample(kept, 5)
    ]
    rng.shuffle(burst)
    responses = await _all(burst)

    assert {r.status_code for r in responses} <= {200, 201, 204}
    await assert_counts_match_rows(app)
    listed = await client.get("/api/articles")
    assert listed.json()["articlesCount"] == len(authors) * 3 - 20


async def test_one_authors_creates_one_tags_and_one_viral_articles_writes_at_once_lose_no_count(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """The rows writers still share (the author's, the popular tag's, the viral article's)
    serialize them without losing a count: one author publishing with one tag while deleting,
    and fans favoriting and unfavoriting one article, all at once."""
    author, *fans = await seed_users(app, settings, 31)
    viral = (await create_article(client, author, tagList=["popular"]))["slug"]
    doomed = [
        (await create_article(client, author, tagList=["popular", f"d{i}"]))["slug"]
        for i in range(5)
    ]
    for fan in fans[:10]:
        await favorite(client, fan, viral)
    burst: list[Callable[[], Awaitable[Response]]] = [
        partial(
            client.post,
            "/api/articles",
            json=article_payload(tagList=["popular", f"t{i % 3}"]),
            headers=author.headers,
        )
        for i in range(12)
    ]
    burst += [partial(client.delete, f"/api/articles/{s}", headers=author.headers) for s in doomed]
    burst += [  # the first ten take their favorite back, the other twenty add theirs
        partial(
            client.request,
            "DELETE" if i < 10 else "POST",
            f"/api/articles/{viral}/favorite",
            headers=fan.headers,
        )
        for i, fan in enumerate(fans)
    ]
    burst += [
        partial(
            client.post,
            f"/api/articles/{viral}/comments",
            json={"comment": {"body": "!"}},
            headers=fan.headers,
        )
        for fan in fans[:10]
    ]
    random.Random(7).shuffle(burst)  # noqa: S311 - a reproducible order, not a secret
    responses = await _all(burst)

    assert {r.status_code for r in responses} <= {200, 201, 204}
    await assert_counts_match_rows(app)
    assert await _count(client, viral) == 20
    by_tag = await client.get("/api/articles?tag=popular")
    assert by_tag.json()["articlesCount"] == 1 + 12
    by_author = await client.get(f"/api/articles?author={author.username}")
    assert by_author.json()["articlesCount"] == 1 + 12
