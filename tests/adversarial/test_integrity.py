"""Data integrity: deletes leave no orphans and no stale counts; failed writes leave nothing.

Every maintained count is checked against the rows themselves after each scenario, and every
foreign key is checked for children without a parent, on whichever database the suite runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, insert, select, text

from src.models import Article, ArticleTag, Base, Favorite, Tag, User
from src.models.base import utc_now
from src.services import counters, feeds
from src.services import favorites as favorite_service
from src.services.errors import NotFound
from src.services.user_deletion import delete_user
from tests.api.article_helpers import assert_feeds_match_follows
from tests.factories import RegisteredUser, comment, create_article, favorite, follow, register
from tests.jobs import run_jobs_until_idle


async def assert_no_orphans(app: FastAPI) -> None:
    """No row points at a parent that is gone, for every foreign key in the schema."""
    async with app.state.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for fk in table.foreign_keys:
                parent = fk.column.table
                orphans = await conn.scalar(
                    select(func.count())
                    .select_from(table.outerjoin(parent, fk.parent == fk.column))
                    .where(fk.column.is_(None))
                )
                assert orphans == 0, f"{table.name}.{fk.parent.name} -> {parent.name}"


async def assert_counts_match_rows(app: FastAPI) -> None:
    """Every maintained count equals a count of the rows it stands for, once the jobs the
    writes enqueued (the feeds' fan-out) have run."""
    await run_jobs_until_idle(app)
    async with app.state.engine.connect() as conn:
        stale = await conn.scalar(
            select(func.count())
            .select_from(Article)
            .where(
                Article.favorites_count
                != select(func.count()).where(Favorite.article_id == Article.id).scalar_subquery()
            )
        )
        assert stale == 0, "articles.favorites_count"
        for column, child in (
            (User.articles_count, select(func.count()).where(Article.author_id == User.id)),
            (User.favorites_count, select(func.count()).where(Favorite.user_id == User.id)),
        ):
            stale = await conn.scalar(
                select(func.count()).select_from(User).where(column != child.scalar_subquery())
            )
            assert stale == 0, str(column)
        stale = await conn.scalar(
            select(func.count())
            .select_from(Tag)
            .where(
                Tag.articles_count
                != select(func.count()).where(ArticleTag.tag_id == Tag.id).scalar_subquery()
            )
        )
        assert stale == 0, "tags.articles_count"
        await assert_feeds_match_follows(conn)
        total = await conn.scalar(select(func.count()).select_from(Article))
        stored = await conn.scalar(counters.articles_total_query())
        assert (stored or 0) == total, "counters.articles"


async def _user_id(app: FastAPI, username: str) -> int:
    async with app.state.sessionmaker() as session:
        user_id = await session.scalar(select(User.id).where(User.username == username))
    assert user_id is not None
    return int(user_id)


async def _world(client: AsyncClient, app: FastAPI) -> dict[str, Any]:
    """Three users who write, tag, favorite, comment on and follow each other (their feeds
    fanned out)."""
    doomed, alice, bob = await register(client), await register(client), await register(client)
    d1 = (await create_article(client, doomed, tagList=["only-doomed", "shared"]))["slug"]
    d2 = (await create_article(client, doomed, tagList=["shared"]))["slug"]
    a1 = (await create_article(client, alice, tagList=["shared", "alice"]))["slug"]
    b1 = (await create_article(client, bob))["slug"]
    for user, slug in ((doomed, a1), (doomed, b1), (alice, d1), (alice, d2), (bob, d1), (bob, a1)):
        await favorite(client, user, slug)
    for user, slug in ((doomed, a1), (alice, d1), (bob, d2), (doomed, d1)):
        await comment(client, user, slug)
    await follow(client, doomed, alice.username)
    await follow(client, alice, doomed.username)
    await follow(client, bob, doomed.username)
    await run_jobs_until_idle(app)
    return {"doomed": doomed, "alice": alice, "bob": bob, "d": [d1, d2], "a1": a1, "b1": b1}


async def test_deleting_a_user_removes_what_they_own_and_fixes_every_count(
    client: AsyncClient, app: FastAPI
) -> None:
    w = await _world(client, app)
    doomed: RegisteredUser = w["doomed"]
    alice: RegisteredUser = w["alice"]
    await assert_counts_match_rows(app)

    async with app.state.sessionmaker() as session:
        await delete_user(session, await _user_id(app, doomed.username))

    await assert_no_orphans(app)
    await assert_counts_match_rows(app)
    assert (await client.get(f"/api/profiles/{doomed.username}")).status_code == 404
    assert (await client.get("/api/user", headers=doomed.headers)).status_code == 401
    for slug in w["d"]:
        assert (await client.get(f"/api/articles/{slug}")).status_code == 404
    # Their favorite is gone from alice's article; bob's favorite stays.
    a1 = (await client.get(f"/api/articles/{w['a1']}")).json()["article"]
    assert a1["favoritesCount"] == 1
    assert (await client.get(f"/api/articles/{w['b1']}")).json()["article"]["favoritesCount"] == 0
    listed = await client.get("/api/articles", params={"favorited": alice.username})
    assert listed.json()["articlesCount"] == 0  # she had favorited only doomed's articles
    assert (await client.get("/api/articles")).json()["articlesCount"] == 2
    tags = (await client.get("/api/tags")).json()["tags"]
    assert "only-doomed" not in tags
    assert "shared" in tags
    shared = await client.get("/api/articles", params={"tag": "shared"})
    assert shared.json()["articlesCount"] == 1
    feed = await client.get("/api/articles/feed", headers=alice.headers)
    assert feed.json()["articlesCount"] == 0
    comments = (await client.get(f"/api/articles/{w['a1']}/comments")).json()["comments"]
    assert comments == []


async def test_deleting_a_user_with_nothing_is_clean_and_an_unknown_id_is_not_found(
    client: AsyncClient, app: FastAPI
) -> None:
    loner = await register(client)
    async with app.state.sessionmaker() as session:
        await delete_user(session, await _user_id(app, loner.username))
        with pytest.raises(NotFound):
            await delete_user(session, 2**31 - 1)
    await assert_counts_match_rows(app)
    await assert_no_orphans(app)


async def test_deleting_an_article_removes_its_comments_favorites_and_tag_links(
    client: AsyncClient, app: FastAPI
) -> None:
    w = await _world(client, app)
    doomed: RegisteredUser = w["doomed"]
    bob: RegisteredUser = w["bob"]

    response = await client.delete(f"/api/articles/{w['d'][0]}", headers=doomed.headers)

    assert response.status_code in (200, 204)
    await assert_no_orphans(app)
    await assert_counts_match_rows(app)
    assert (await client.get(f"/api/articles/{w['d'][0]}/comments")).status_code == 404
    listed = await client.get("/api/articles", params={"favorited": bob.username})
    assert listed.json()["articlesCount"] == 1
    assert "only-doomed" not in (await client.get("/api/tags")).json()["tags"]


async def test_deleting_a_comment_removes_only_that_comment(
    client: AsyncClient, app: FastAPI
) -> None:
    w = await _world(client, app)
    doomed: RegisteredUser = w["doomed"]
    slug = w["d"][0]
    before = (await client.get(f"/api/articles/{slug}/comments")).json()["comments"]
    mine = next(c for c in before if c["author"]["username"] == doomed.username)

    response = await client.delete(
        f"/api/articles/{slug}/comments/{mine['id']}", headers=doomed.headers
    )

    assert response.status_code in (200, 204)
    after = (await client.get(f"/api/articles/{slug}/comments")).json()["comments"]
    assert [c["id"] for c in after] == [c["id"] for c in before if c["id"] != mine["id"]]
    await assert_no_orphans(app)
    await assert_counts_match_rows(app)


async def test_the_database_refuses_rows_without_a_parent(app: FastAPI) -> None:
    """Foreign keys are enforced by the database itself (SQLite too: PRAGMA foreign_keys)."""
    async with app.state.engine.connect() as conn:
        with pytest.raises(Exception, match=r"(?i)foreign key"):
            await conn.execute(
                insert(Favorite).values(
                    user_id=-5,
                    article_id=-5,
                    created_at=utc_now(),
                    article_created_at=utc_now(),
                    article_tag_ids=[],
                )
            )
        await conn.rollback()


# ---------------------------------------------------------------- transactions


class Boom(Exception):
    """An injected failure in the middle of a multi-statement write."""


async def _rows(app: FastAPI) -> dict[str, int]:
    async with app.state.engine.connect() as conn:
        return {
            t.name: int(await conn.scalar(select(func.count()).select_from(t)))
            for t in Base.metadata.sorted_tables
        }


async def _explode_async(*_args: object, **_kwargs: object) -> None:
    raise Boom


def _refusing(table: str, operation: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """PostgreSQL: (statements making every `operation` on `table` fail, statements undoing
    it): a write that is one statement fails in its middle."""
    name = f"refuse_{operation.lower()}_{table}"
    refuse = (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'not today'; END $$",
        f"CREATE TRIGGER {name} BEFORE {operation} ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {name}()",
    )
    return refuse, (f"DROP TRIGGER {name} ON {table}", f"DROP FUNCTION {name}()")


_REFUSE_JOBS, _ALLOW_JOBS = _refusing("jobs", "INSERT")
_REFUSE_USER_UPDATES, _ALLOW_USER_UPDATES = _refusing("users", "UPDATE")


async def _run_sql(app: FastAPI, statements: tuple[str, ...]) -> None:
    async with app.state.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def test_creating_an_article_that_fails_after_its_first_insert_writes_nothing(
    client: AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch, is_postgres: bool
) -> None:
    author = await register(client)
    before = await _rows(app)
    # The article, its tags and counts are written, then the feed's job cannot be: on
    # PostgreSQL its insert is a part of the create's one statement (refused by a trigger
    # here), on SQLite a statement of its own before the commit. Nothing may survive.
    if is_postgres:
        await _run_sql(app, _REFUSE_JOBS)
    else:
        monkeypatch.setattr(feeds, "add_article", _explode_async)

    try:
        response = await client.post(
            "/api/articles",
            json={"article": {"title": "t", "description": "d", "body": "b", "tagList": ["x"]}},
            headers=author.headers,
        )
    finally:
        if is_postgres:
            await _run_sql(app, _ALLOW_JOBS)

    assert response.status_code == 500
    assert response.json() == {"errors": {"body": ["internal server error"]}}
    assert await _rows(app) == before
    await assert_counts_match_rows(app)


async def test_a_favorite_that_fails_after_its_row_is_written_writes_nothing(
    client: AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch, is_postgres: bool
) -> None:
    author, fan = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    before = await _rows(app)
    # The favorite row and the article's count are written, then the user's count cannot be:
    # on PostgreSQL a part of the favorite's write statement (refused by a trigger here), on
    # SQLite the request fails before its commit.
    if is_postgres:
        await _run_sql(app, _REFUSE_USER_UPDATES)
    else:
        write = favorite_service._write_in_turn

        async def write_then_explode(*args: Any, **kwargs: Any) -> None:
            await write(*args, **kwargs)
            raise Boom

        monkeypatch.setattr(favorite_service, "_write_in_turn", write_then_explode)

    try:
        response = await client.post(f"/api/articles/{slug}/favorite", headers=fan.headers)
    finally:
        if is_postgres:
            await _run_sql(app, _ALLOW_USER_UPDATES)

    assert response.status_code == 500
    monkeypatch.undo()
    assert await _rows(app) == before
    article = (await client.get(f"/api/articles/{slug}", headers=fan.headers)).json()["article"]
    assert (article["favorited"], article["favoritesCount"]) == (False, 0)
    await assert_counts_match_rows(app)


async def test_deleting_a_user_that_fails_halfway_changes_nothing(
    client: AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await _world(client, app)
    before = await _rows(app)
    monkeypatch.setattr(counters, "bump_articles_total", _explode_async)

    async with app.state.sessionmaker() as session:
        with pytest.raises(Boom):
            await delete_user(session, await _user_id(app, w["doomed"].username))
        await session.rollback()

    assert await _rows(app) == before
    await assert_counts_match_rows(app)
    assert (await client.get(f"/api/profiles/{w['doomed'].username}")).status_code == 200


async def test_an_account_deleted_through_the_api_leaves_every_count_exact(
    client: AsyncClient, app: FastAPI
) -> None:
    """`DELETE /api/user` as an app sends it, then every count a client can see, and every
    maintained count against its rows."""
    w = await _world(client, app)
    doomed: RegisteredUser = w["doomed"]
    alice: RegisteredUser = w["alice"]
    bob: RegisteredUser = w["bob"]
    # bob follows doomed: doomed's two articles are in his feed before.
    assert (await client.get("/api/articles/feed", headers=bob.headers)).json()[
        "articlesCount"
    ] == 2

    response = await client.delete("/api/user", headers=doomed.headers)

    assert response.status_code == 204, response.text
    await assert_no_orphans(app)
    await assert_counts_match_rows(app)
    assert (await client.get("/api/user", headers=doomed.headers)).status_code == 401
    listed = (await client.get("/api/articles")).json()
    assert listed["articlesCount"] == 2
    counts = {a["slug"]: a["favoritesCount"] for a in listed["articles"]}
    assert counts == {w["a1"]: 1, w["b1"]: 0}  # doomed's favorites are gone, bob's stays
    tags = set((await client.get("/api/tags")).json()["tags"])
    assert tags == {"alice", "shared", "dragons", "training"}  # "only-doomed" went
    tagged = (await client.get("/api/articles", params={"tag": "shared"})).json()
    assert tagged["articlesCount"] == 1
    by_doomed = (await client.get("/api/articles", params={"author": doomed.username})).json()
    assert by_doomed["articlesCount"] == 0
    for fan, still_favorited in ((alice, 0), (bob, 1)):  # bob's favorite of a1 stays
        feed = (await client.get("/api/articles/feed", headers=fan.headers)).json()
        assert (feed["articlesCount"], feed["articles"]) == (0, [])
        faved = (await client.get("/api/articles", params={"favorited": fan.username})).json()
        assert faved["articlesCount"] == len(faved["articles"]) == still_favorited
