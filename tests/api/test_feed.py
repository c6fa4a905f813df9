"""The feed: articles by the authors the caller follows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from src.api.routes.articles import MAX_OFFSET
from src.core.config import Settings
from src.models import Job
from src.services.jobs import Worker
from tests.adversarial.test_integrity import assert_counts_match_rows
from tests.api.article_helpers import (
    DEEPEST_OFFSET_MESSAGE,
    LIST_ITEM_KEYS,
    assert_error,
    assert_unauthorized,
    count_statements,
    list_page,
    set_timestamps,
    slugs,
)
from tests.apps import app_client
from tests.factories import RegisteredUser, create_article, favorite, follow, register
from tests.jobs import run_jobs_until_idle
from tests.seeding import seed_users

FEED = "/api/articles/feed"


async def test_the_feed_shows_only_followed_authors_newest_first(
    client: AsyncClient, app: FastAPI
) -> None:
    reader, jake, anna, stranger = [await register(client) for _ in range(4)]
    await follow(client, reader, jake.username)
    await follow(client, reader, anna.username)
    first = await create_article(client, jake)
    await create_article(client, stranger)
    second = await create_article(client, anna)
    third = await create_article(client, jake)
    await create_article(client, reader)
    await run_jobs_until_idle(app)

    page = await list_page(client, FEED, headers=reader.headers)

    assert slugs(page) == [third["slug"], second["slug"], first["slug"]]
    assert page["articlesCount"] == 3
    for item in page["articles"]:
        assert set(item) == LIST_ITEM_KEYS
        assert "body" not in item
        assert item["author"]["following"] is True


async def test_the_feed_computes_favorited_for_the_caller(
    client: AsyncClient, app: FastAPI
) -> None:
    reader, jake = await register(client), await register(client)
    await follow(client, reader, jake.username)
    liked = await create_article(client, jake)
    other = await create_article(client, jake)
    await favorite(client, reader, liked["slug"])
    await run_jobs_until_idle(app)

    page = await list_page(client, FEED, headers=reader.headers)

    flags = {item["slug"]: item["favorited"] for item in page["articles"]}
    assert flags == {liked["slug"]: True, other["slug"]: False}


async def test_the_feed_pages_with_limit_and_offset_and_counts_everything(
    client: AsyncClient, app: FastAPI
) -> None:
    reader, jake = await register(client), await register(client)
    await follow(client, reader, jake.username)
    newest_first = list(reversed([(await create_article(client, jake))["slug"] for _ in range(5)]))
    await run_jobs_until_idle(app)

    first = await list_page(client, FEED, headers=reader.headers, limit=2)
    second = await list_page(client, FEED, headers=reader.headers, limit=2, offset=2)
    last = await list_page(client, FEED, headers=reader.headers, limit=2, offset=4)
    beyond = await list_page(client, FEED, headers=reader.headers, limit=2, offset=10)

    assert slugs(first) + slugs(second) + slugs(last) == newest_first
    assert slugs(beyond) == []
    for page in (first, second, last, beyond):
        assert page["articlesCount"] == 5


async def test_the_feed_defaults_to_twenty_articles(client: AsyncClient, app: FastAPI) -> None:
    reader, jake = await register(client), await register(client)
    await follow(client, reader, jake.username)
    for _ in range(21):
        await create_article(client, jake)
    await run_jobs_until_idle(app)

    page = await list_page(client, FEED, headers=reader.headers)

    assert len(page["articles"]) == 20
    assert page["articlesCount"] == 21


async def test_the_feed_rejects_out_of_range_paging(client: AsyncClient) -> None:
    reader = await register(client)

    too_big = await client.get(FEED, params={"limit": 101}, headers=reader.headers)
    zero = await client.get(FEED, params={"limit": 0}, headers=reader.headers)
    negative = await client.get(FEED, params={"offset": -1}, headers=reader.headers)

    assert_error(too_big, 422, "limit", "must be less than or equal to 100")
    assert_error(zero, 422, "limit", "must be greater than or equal to 1")
    assert_error(negative, 422, "offset", "must be greater than or equal to 0")


async def test_the_feed_pages_as_deep_as_ten_thousand_and_not_one_further(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """The feed shares the list's offset bound, on both doors (docs/performance.md, "Deep
    pages")."""
    reader, jake = await register(client), await register(client)
    await follow(client, reader, jake.username)
    await create_article(client, jake)
    await run_jobs_until_idle(app)
    routed = settings.model_copy(update={"hot_reads_enabled": False})
    async with app_client(routed) as router_only:
        for door in (client, router_only):
            deepest = await list_page(door, FEED, headers=reader.headers, offset=MAX_OFFSET)
            assert deepest == {"articles": [], "articlesCount": 1}
            past = await door.get(FEED, params={"offset": MAX_OFFSET + 1}, headers=reader.headers)
            assert_error(past, 422, "offset", DEEPEST_OFFSET_MESSAGE)


async def test_the_feed_needs_a_token(client: AsyncClient) -> None:
    assert_unauthorized(await client.get(FEED))


async def test_the_feed_is_empty_when_following_nobody(client: AsyncClient) -> None:
    reader, jake = await register(client), await register(client)
    await create_article(client, jake)
    await create_article(client, reader)

    page = await list_page(client, FEED, headers=reader.headers)

    assert page == {"articles": [], "articlesCount": 0}


async def test_the_feed_is_empty_when_followed_authors_wrote_nothing(client: AsyncClient) -> None:
    reader, jake = await register(client), await register(client)
    await follow(client, reader, jake.username)

    assert await list_page(client, FEED, headers=reader.headers) == {
        "articles": [],
        "articlesCount": 0,
    }


async def test_unfollowing_an_author_removes_their_articles_from_the_feed(
    client: AsyncClient, app: FastAPI
) -> None:
    reader, jake, anna = await register(client), await register(client), await register(client)
    await follow(client, reader, jake.username)
    await follow(client, reader, anna.username)
    await create_article(client, jake)
    kept = await create_article(client, anna)
    await run_jobs_until_idle(app)
    assert (await list_page(client, FEED, headers=reader.headers))["articlesCount"] == 2

    unfollowed = await client.delete(
        f"/api/profiles/{jake.username}/follow", headers=reader.headers
    )
    assert unfollowed.status_code == 200
    await run_jobs_until_idle(app)

    page = await list_page(client, FEED, headers=reader.headers)
    assert slugs(page) == [kept["slug"]]
    assert page["articlesCount"] == 1


async def test_the_feed_belongs_to_the_caller_not_to_other_followers(
    client: AsyncClient, app: FastAPI
) -> None:
    reader, other, jake = await register(client), await register(client), await register(client)
    await follow(client, other, jake.username)
    await create_article(client, jake)
    await run_jobs_until_idle(app)

    mine = await list_page(client, FEED, headers=reader.headers)
    theirs = await list_page(client, FEED, headers=other.headers)

    assert mine["articlesCount"] == 0
    assert theirs["articlesCount"] == 1


async def feed_slugs(client: AsyncClient, reader: RegisteredUser, **params: int) -> list[str]:
    return slugs(await list_page(client, FEED, headers=reader.headers, **params))


async def test_every_feed_page_is_the_right_slice_whoever_wrote_when(
    client: AsyncClient, app: FastAPI
) -> None:
    """Pages read only as far back as they can reach (article_queries.feed_page): one author
    with a run of the newest articles, authors tied in time, one who never wrote, one not
    followed. Every limit and offset gives the slice of the whole feed, newest first."""
    reader = await register(client)
    authors = [await register(client) for _ in range(5)]  # authors[3] writes nothing
    stranger = await register(client)
    for author in authors:
        await follow(client, reader, author.username)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # (author, minutes after start): authors[0] holds the four newest and the two oldest.
    plan = [(0, 1), (0, 2), (1, 10), (2, 10), (4, 11), (2, 20), (1, 30), (4, 30)]
    plan += [(0, 40), (0, 41), (0, 42), (0, 43), (5, 50)]
    written: dict[int, tuple[datetime, str, RegisteredUser]] = {}  # by creation order
    for order, (who, minutes) in enumerate(plan):
        writer = [*authors, stranger][who]
        slug = (await create_article(client, writer))["slug"]
        await set_timestamps(app, slug, start + timedelta(minutes=minutes))
        if writer is not stranger:
            written[order] = (start + timedelta(minutes=minutes), slug, writer)

    async def assert_every_page_matches() -> None:
        await run_jobs_until_idle(app)
        # Newest first, the later-created first among equal times (the id tie-breaker).
        newest_first = sorted(written, key=lambda order: (written[order][0], order), reverse=True)
        expected = [written[order][1] for order in newest_first]
        assert await feed_slugs(client, reader, limit=100) == expected
        for limit in (1, 2, 3, 5):
            for offset in range(len(expected) + 2):
                page = await feed_slugs(client, reader, limit=limit, offset=offset)
                assert page == expected[offset : offset + limit], (limit, offset)
        counted = await list_page(client, FEED, headers=reader.headers, limit=1)
        assert counted["articlesCount"] == len(expected)

    await assert_every_page_matches()
    # The newest article goes, and with it its author's newest time; then both of authors[2]'s
    # articles, leaving them none; then authors[1], quiet since minute 30, writes again.
    for order in (11, 3, 5):
        _, slug, writer = written.pop(order)
        response = await client.delete(f"/api/articles/{slug}", headers=writer.headers)
        assert response.status_code in (200, 204), response.text
        await assert_every_page_matches()
    fresh = await create_article(client, authors[1])
    written[len(plan)] = (datetime.now(UTC), fresh["slug"], authors[1])
    await assert_every_page_matches()


# ---------------------------------------------------------------- fan-out by background jobs


async def _feed_counts(client: AsyncClient, readers: list[RegisteredUser]) -> list[int]:
    pages = [await list_page(client, FEED, headers=r.headers, limit=100) for r in readers]
    assert all(len(page["articles"]) == page["articlesCount"] for page in pages)
    return [page["articlesCount"] for page in pages]


async def test_a_publish_enqueues_one_job_whatever_the_followers_and_every_feed_gets_it(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """The request does the same work for 1 follower as for 7 (one job); the job then fans
    out in steps of FEED_FANOUT_BATCH rows, and every feed holds the article exactly once."""
    author, few_author = await register(client), await register(client)
    fans = await seed_users(app, settings, 7)
    for fan in fans:
        await follow(client, fan, author.username)
    await follow(client, fans[0], few_author.username)
    await run_jobs_until_idle(app)

    statements: dict[str, list[str]] = {}
    for writer in (few_author, author):
        with count_statements(app) as recorded:
            await create_article(client, writer)
        statements[writer.username] = list(recorded)
        assert [job.name for job in await _queued(app)] == ["feed.publish"]
        assert await run_jobs_until_idle(app, feed_fanout_batch=3) == (
            1 if writer is few_author else 3  # 7 followers in steps of 3
        )

    assert len(statements[author.username]) == len(statements[few_author.username])
    assert await _feed_counts(client, fans) == [2, 1, 1, 1, 1, 1, 1]
    await assert_counts_match_rows(app)


async def test_a_follow_and_an_unfollow_each_enqueue_one_job_whatever_the_articles(
    client: AsyncClient, app: FastAPI
) -> None:
    reader, author = await register(client), await register(client)
    for _ in range(5):
        await create_article(client, author)
    await run_jobs_until_idle(app)

    await follow(client, reader, author.username)
    assert [job.name for job in await _queued(app)] == ["feed.follow"]
    assert await run_jobs_until_idle(app, feed_fanout_batch=2) == 3
    assert await _feed_counts(client, [reader]) == [5]

    unfollowed = await client.delete(
        f"/api/profiles/{author.username}/follow", headers=reader.headers
    )
    assert unfollowed.status_code == 200
    assert [job.name for job in await _queued(app)] == ["feed.unfollow"]
    assert await run_jobs_until_idle(app, feed_fanout_batch=2) == 3
    assert await _feed_counts(client, [reader]) == [0]
    await assert_counts_match_rows(app)


async def test_an_article_deleted_before_its_fan_out_ran_reaches_no_feed(
    client: AsyncClient, app: FastAPI
) -> None:
    reader, author = await register(client), await register(client)
    await follow(client, reader, author.username)
    kept = await create_article(client, author)
    await run_jobs_until_idle(app)
    doomed = await create_article(client, author)
    deleted = await client.delete(f"/api/articles/{doomed['slug']}", headers=author.headers)
    assert deleted.status_code in (200, 204)

    await run_jobs_until_idle(app)  # the publish finds no article; the retract finds no entry

    page = await list_page(client, FEED, headers=reader.headers)
    assert (slugs(page), page["articlesCount"]) == ([kept["slug"]], 1)
    await assert_counts_match_rows(app)


async def test_an_article_deleted_halfway_through_its_fan_out_leaves_every_feed(
    client: AsyncClient, app: FastAPI, settings: Settings
) -> None:
    author = await register(client)
    fans = await seed_users(app, settings, 5)
    for fan in fans:
        await follow(client, fan, author.username)
    await run_jobs_until_idle(app)
    article = await create_article(client, author)
    worker = Worker(app.state.sessionmaker, settings.model_copy(update={"feed_fanout_batch": 2}))
    assert await worker.run_one()  # the first step: two feeds have it
    assert await _feed_counts(client, fans) == [1, 1, 0, 0, 0]

    deleted = await client.delete(f"/api/articles/{article['slug']}", headers=author.headers)
    assert deleted.status_code in (200, 204)
    await run_jobs_until_idle(app, feed_fanout_batch=2)

    assert await _feed_counts(client, fans) == [0, 0, 0, 0, 0]
    await assert_counts_match_rows(app)


async def _queued(app: FastAPI) -> list[Job]:
    async with app.state.sessionmaker() as session:
        return list(await session.scalars(select(Job).order_by(Job.id)))
