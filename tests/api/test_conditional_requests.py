"""Conditional requests through HTTP: ETag on every read, 304 for If-None-Match, 412 for a
stale If-Match on article and user writes (src/api/asgi/conditional.py, src/api/etags.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from src.core.config import Settings
from src.services import messages
from tests.api.article_helpers import assert_error, count_statements
from tests.apps import app_client
from tests.factories import (
    RegisteredUser,
    comment,
    create_article,
    favorite,
    follow,
    register,
)

Change = Callable[[], Awaitable[object]]


async def etag_of(client: AsyncClient, url: str, viewer: RegisteredUser | None = None) -> str:
    response = await client.get(url, headers=viewer.headers if viewer else {})
    assert response.status_code == 200, response.text
    return response.headers["etag"]


async def assert_not_modified(
    client: AsyncClient,
    url: str,
    sent: str,
    viewer: RegisteredUser | None = None,
    current: str | None = None,
) -> Response:
    headers = {"If-None-Match": sent, **(viewer.headers if viewer else {})}
    response = await client.get(url, headers=headers)
    assert response.status_code == 304, response.text
    assert response.content == b""
    assert response.headers["etag"] == (current or sent)
    assert "content-encoding" not in response.headers
    return response


async def test_every_read_has_an_etag_and_answers_304_with_no_body(client: AsyncClient) -> None:
    author = await register(client)
    article = await create_article(client, author)
    await comment(client, author, article["slug"])
    slug = article["slug"]
    urls = [
        "/api/articles",
        f"/api/articles?author={author.username}",
        f"/api/articles/{slug}",
        f"/api/articles/{slug}/comments",
        f"/api/profiles/{author.username}",
        "/api/tags",
    ]
    for url in urls:
        tag = await etag_of(client, url)
        assert tag.startswith('"') and tag.endswith('"')
        response = await assert_not_modified(client, url, tag)
        assert response.headers["cache-control"] == "no-cache"
        assert "Authorization" in response.headers["vary"]
    feed = "/api/articles/feed"
    tag = await etag_of(client, feed, author)
    response = await assert_not_modified(client, feed, tag, author)
    assert response.headers["cache-control"] == "private, no-cache"


async def test_a_signed_in_read_is_private_and_varies_on_authorization(
    client: AsyncClient,
) -> None:
    reader = await register(client)
    response = await client.get("/api/articles", headers=reader.headers)
    assert response.headers["cache-control"] == "private, no-cache"
    assert "Authorization" in response.headers["vary"]


async def test_if_none_match_compares_weakly_and_takes_lists_and_star(
    client: AsyncClient,
) -> None:
    url = "/api/tags"
    tag = await etag_of(client, url)
    await assert_not_modified(client, url, f"W/{tag}", current=tag)
    await assert_not_modified(client, url, f'"other", W/"stale", {tag}', current=tag)
    await assert_not_modified(client, url, "*", current=tag)
    for stale in ('"other"', "W/", "garbage, ,", '"unterminated'):
        response = await client.get(url, headers={"If-None-Match": stale})
        assert response.status_code == 200
        assert response.headers["etag"] == tag


async def _tag_changes(
    client: AsyncClient, url: str, change: Change, viewer: RegisteredUser | None = None
) -> None:
    before = await etag_of(client, url, viewer)
    await assert_not_modified(client, url, before, viewer)  # remembered: the next one is cheap
    await change()
    headers = {"If-None-Match": before, **(viewer.headers if viewer else {})}
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, (url, change)
    assert response.headers["etag"] != before
    assert await etag_of(client, url, viewer) == response.headers["etag"]


async def test_the_tag_changes_with_every_change_to_the_body(client: AsyncClient) -> None:
    author, fan, reader = await register(client), await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    single, listing = f"/api/articles/{slug}", "/api/articles"
    comments, profile = f"{single}/comments", f"/api/profiles/{author.username}"

    bodies = iter(range(10))

    async def edit() -> None:
        body = {"article": {"body": f"edited {next(bodies)}"}}
        response = await client.put(single, json=body, headers=author.headers)
        assert response.status_code == 200, response.text

    bios = iter(range(10))

    async def edit_profile() -> None:
        body = {"user": {"bio": f"bio {next(bios)}"}}
        response = await client.put("/api/user", json=body, headers=author.headers)
        assert response.status_code == 200, response.text

    for url in (single, listing):
        another_fan = await register(client)
        await _tag_changes(client, url, edit, reader)
        await _tag_changes(client, url, partial(favorite, client, another_fan, slug), reader)
    await _tag_changes(client, single, lambda: follow(client, reader, author.username), reader)
    await _tag_changes(client, comments, lambda: comment(client, fan, slug))
    for url in (single, listing, profile):
        await _tag_changes(client, url, edit_profile, reader)
    await _tag_changes(client, "/api/tags", lambda: create_article(client, author, tagList=["x"]))


async def test_a_repeated_304_skips_the_page_read_while_nothing_was_committed(
    app: FastAPI, client: AsyncClient, is_postgres: bool
) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    reads = [
        (url, author) for url in ("/api/articles", f"/api/articles/{slug}", "/api/articles/feed")
    ]
    reads += [("/api/articles", None), (f"/api/articles/{slug}", None)]  # anonymous: shared
    for url, viewer in reads:
        tag = await etag_of(client, url, viewer)
        await assert_not_modified(client, url, tag, viewer)
        with count_statements(app) as statements:
            await assert_not_modified(client, url, tag, viewer)
            await assert_not_modified(client, url, "*", viewer, current=tag)
        # PostgreSQL: one look at the commit state each; SQLite reads and renders the page.
        if is_postgres:
            assert len(statements) == 2, statements
            assert all("pg_current_snapshot" in sql for sql in statements)
        else:
            assert not any("pg_current_snapshot" in sql for sql in statements)


async def test_a_remembered_tag_is_no_304_once_the_session_ends(client: AsyncClient) -> None:
    reader = await register(client)
    url = "/api/articles"
    tag = await etag_of(client, url, reader)
    await assert_not_modified(client, url, tag, reader)
    response = await client.post("/api/users/logout", headers=reader.headers)
    assert response.status_code in (200, 204), response.text
    response = await client.get(url, headers={"If-None-Match": tag, **reader.headers})
    assert response.status_code == 401, response.text


async def test_a_remembered_tag_is_per_credential_and_per_query(client: AsyncClient) -> None:
    author, other = await register(client), await register(client)
    await create_article(client, author)
    await follow(client, other, author.username)
    url = "/api/articles"
    tag = await etag_of(client, url, author)
    await assert_not_modified(client, url, tag, author)
    # Nothing committed since; another reader's page differs (`following`): not their tag.
    response = await client.get(url, headers={"If-None-Match": tag, **other.headers})
    assert response.status_code == 200
    assert response.headers["etag"] != tag
    response = await client.get(f"{url}?limit=1&offset=1", headers={"If-None-Match": tag})
    assert response.status_code == 200


async def test_both_read_paths_give_the_same_tag(client: AsyncClient, settings: Settings) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    async with app_client(settings.model_copy(update={"hot_reads_enabled": False})) as slow:
        for url in ("/api/articles", f"/api/articles/{slug}", f"/api/articles/{slug}/comments"):
            assert await etag_of(client, url, author) == await etag_of(slow, url, author)


async def test_a_compressed_body_has_its_own_strong_tag_and_still_revalidates(
    client: AsyncClient,
) -> None:
    author = await register(client)
    for _ in range(3):
        await create_article(client, author, body="x" * 2000)
    url = "/api/articles"
    response = await client.get(url, headers={"Accept-Encoding": "identity"})
    identity = response.headers["etag"]
    response = await client.get(url, headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    coded = response.headers["etag"]
    assert coded == identity[:-1] + '-gzip"'
    assert "Accept-Encoding" in response.headers["vary"]
    not_modified = await client.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": coded}
    )
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert "content-encoding" not in not_modified.headers
    assert "Accept-Encoding" in not_modified.headers["vary"]


# ---------------------------------------------------------------- If-Match on writes


async def test_article_edit_with_a_stale_tag_is_refused_and_changes_nothing(
    client: AsyncClient,
) -> None:
    author = await register(client)
    phone = author  # two devices, one account
    slug = (await create_article(client, author))["slug"]
    url = f"/api/articles/{slug}"
    seen = await etag_of(client, url, phone)
    first = await client.put(
        url,
        json={"article": {"body": "from the laptop"}},
        headers={**author.headers, "If-Match": seen},
    )
    assert first.status_code == 200, first.text
    second = await client.put(
        url,
        json={"article": {"body": "from the phone"}},
        headers={**phone.headers, "If-Match": seen},
    )
    assert_error(second, 412, "article", messages.PRECONDITION_FAILED)
    assert (await client.get(url)).json()["article"]["body"] == "from the laptop"


async def test_article_edit_and_delete_with_the_current_tag_or_star_go_through(
    client: AsyncClient,
) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    url = f"/api/articles/{slug}"
    current = await etag_of(client, url, author)
    headers = {**author.headers, "If-Match": f'"nope", {current}'}
    response = await client.put(url, json={"article": {"body": "b"}}, headers=headers)
    assert response.status_code == 200, response.text
    response = await client.put(
        url, json={"article": {"body": "c"}}, headers={**author.headers, "If-Match": "*"}
    )
    assert response.status_code == 200, response.text
    current = await etag_of(client, url, author)
    response = await client.delete(url, headers={**author.headers, "If-Match": current})
    assert response.status_code == 204, response.text


async def test_article_delete_with_a_stale_or_weak_tag_is_refused(client: AsyncClient) -> None:
    author, fan = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    url = f"/api/articles/{slug}"
    seen = await etag_of(client, url, author)
    weak = await client.delete(url, headers={**author.headers, "If-Match": f"W/{seen}"})
    assert_error(weak, 412, "article", messages.PRECONDITION_FAILED)
    await favorite(client, fan, slug)  # the count the author saw changed
    stale = await client.delete(url, headers={**author.headers, "If-Match": seen})
    assert_error(stale, 412, "article", messages.PRECONDITION_FAILED)
    assert (await client.get(url)).status_code == 200


async def test_if_match_on_a_missing_article_is_still_404(client: AsyncClient) -> None:
    author = await register(client)
    response = await client.delete(
        "/api/articles/nothing-here", headers={**author.headers, "If-Match": '"x"'}
    )
    assert response.status_code == 404


async def test_user_update_with_a_stale_tag_is_refused(client: AsyncClient) -> None:
    user = await register(client)
    seen = await etag_of(client, "/api/user", user)
    first = await client.put(
        "/api/user", json={"user": {"bio": "one"}}, headers={**user.headers, "If-Match": seen}
    )
    assert first.status_code == 200, first.text
    second = await client.put(
        "/api/user", json={"user": {"bio": "two"}}, headers={**user.headers, "If-Match": seen}
    )
    assert_error(second, 412, "user", messages.PRECONDITION_FAILED)
    assert (await client.get("/api/user", headers=user.headers)).json()["user"]["bio"] == "one"


async def test_user_delete_with_a_stale_tag_is_refused_and_with_the_current_one_goes(
    client: AsyncClient,
) -> None:
    user = await register(client)  # just registered: the password proof is recent
    seen = await etag_of(client, "/api/user", user)
    response = await client.put("/api/user", json={"user": {"bio": "x"}}, headers=user.headers)
    assert response.status_code == 200
    stale = await client.request("DELETE", "/api/user", headers={**user.headers, "If-Match": seen})
    assert_error(stale, 412, "user", messages.PRECONDITION_FAILED)
    current = await etag_of(client, "/api/user", user)
    done = await client.request(
        "DELETE", "/api/user", headers={**user.headers, "If-Match": current}
    )
    assert done.status_code == 204, done.text


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_writes_without_if_match_work_as_before(client: AsyncClient, method: str) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    body = {"article": {"body": "b"}} if method == "PUT" else None
    response = await client.request(
        method, f"/api/articles/{slug}", json=body, headers=author.headers
    )
    assert response.status_code in (200, 204), response.text
