"""Safe retries with Idempotency-Key: a keyed write runs once, its retries replay its answer."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import select

from src.models import Article, Comment, IdempotencyKey
from src.models.base import utc_now
from src.services import articles
from src.services import idempotency as idempotency_service
from tests.api.article_helpers import count_rows, count_statements
from tests.factories import RegisteredUser, article_payload, create_article, register, sign_in

KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def keyed(user: RegisteredUser, key: str) -> dict[str, str]:
    return {**user.headers, KEY: key}


async def create(client: AsyncClient, user: RegisteredUser, key: str, **fields: Any) -> Response:
    payload = article_payload(**fields) if fields else article_payload(title="Retry me")
    return await client.post("/api/articles", json=payload, headers=keyed(user, key))


def assert_replay_of(first: Response, again: Response) -> None:
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers.get("location") == first.headers.get("location")


@asynccontextmanager
async def held(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str
) -> AsyncIterator[tuple[asyncio.Event, asyncio.Event]]:
    """The first call of service function `name` waits, once entered, until released: a
    request held open."""
    entered, release = asyncio.Event(), asyncio.Event()
    original: Callable[..., Awaitable[Any]] = getattr(module, name)

    calls = 0

    async def waiting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # later calls (a retry that runs) go straight through
            entered.set()
            await release.wait()
        return await original(*args, **kwargs)

    monkeypatch.setattr(module, name, waiting)
    try:
        yield entered, release
    finally:
        release.set()


def clock_moved(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    later = utc_now() + timedelta(seconds=seconds)
    monkeypatch.setattr(idempotency_service, "utc_now", lambda: later)


async def stored_rows(app: FastAPI) -> list[Any]:
    async with app.state.engine.connect() as conn:
        return list((await conn.execute(select(IdempotencyKey))).all())


# ------------------------------------------------------------------ replays


async def test_a_retried_create_replays_the_first_answer_and_writes_nothing(
    client: AsyncClient, app: FastAPI
) -> None:
    author = await register(client)

    first = await create(client, author, "create-1")
    again = await create(client, author, "create-1")

    assert first.status_code == 201
    assert_replay_of(first, again)
    assert again.json()["article"]["slug"] == "retry-me"
    assert await count_rows(app, Article) == 1


async def test_the_key_may_be_sent_quoted_as_the_draft_writes_it(client: AsyncClient) -> None:
    author = await register(client)

    first = await create(client, author, '"8e03978e-40d5-43e8-bc93-6894a57f9324"')
    again = await create(client, author, "8e03978e-40d5-43e8-bc93-6894a57f9324")

    assert_replay_of(first, again)


async def test_a_refused_create_is_replayed_too(client: AsyncClient, app: FastAPI) -> None:
    author = await register(client)
    blank = {"article": {"title": "", "description": "d", "body": "b"}}

    first = await client.post("/api/articles", json=blank, headers=keyed(author, "bad-1"))
    again = await client.post("/api/articles", json=blank, headers=keyed(author, "bad-1"))

    assert first.status_code == 422
    assert_replay_of(first, again)


async def test_a_retried_comment_is_posted_once(client: AsyncClient, app: FastAPI) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    comment = {"comment": {"body": "Once"}}

    first = await client.post(
        f"/api/articles/{slug}/comments", json=comment, headers=keyed(author, "c-1")
    )
    again = await client.post(
        f"/api/articles/{slug}/comments", json=comment, headers=keyed(author, "c-1")
    )

    assert first.status_code == 201
    assert_replay_of(first, again)
    assert await count_rows(app, Comment) == 1


@pytest.mark.parametrize("action", ["favorite", "follow"])
async def test_a_retried_favorite_or_follow_replays(client: AsyncClient, action: str) -> None:
    author, reader = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    path = {
        "favorite": f"/api/articles/{slug}/favorite",
        "follow": f"/api/profiles/{author.username}/follow",
    }[action]

    first = await client.post(path, headers=keyed(reader, f"{action}-1"))
    again = await client.post(path, headers=keyed(reader, f"{action}-1"))

    assert first.status_code == 200
    assert_replay_of(first, again)


async def test_a_retried_user_update_replays_with_the_callers_own_token_never_stored(
    client: AsyncClient, app: FastAPI
) -> None:
    user = await register(client)
    other_device = await sign_in(client, user)
    update = {"user": {"bio": "Retried"}}

    first = await client.put("/api/user", json=update, headers=keyed(user, "me-1"))
    again = await client.put("/api/user", json=update, headers=keyed(other_device, "me-1"))

    assert first.status_code == 200
    assert first.json()["user"]["token"] == user.token
    assert again.headers[REPLAYED] == "true"
    assert again.json() == {"user": {**first.json()["user"], "token": other_device.token}}
    (row,) = await stored_rows(app)
    assert user.token.encode() not in row.body


async def test_different_users_with_the_same_key_are_independent(
    client: AsyncClient, app: FastAPI
) -> None:
    first_author, second_author = await register(client), await register(client)

    first = await create(client, first_author, "shared")
    second = await create(client, second_author, "shared")

    assert first.status_code == second.status_code == 201
    assert REPLAYED not in second.headers
    assert first.json()["article"]["slug"] != second.json()["article"]["slug"]
    assert await count_rows(app, Article) == 2


# ------------------------------------------------------------------ refusals


async def test_the_same_key_with_another_body_is_422(client: AsyncClient, app: FastAPI) -> None:
    author = await register(client)
    await create(client, author, "k-1", title="One")

    other = await create(client, author, "k-1", title="Two")

    assert other.status_code == 422
    assert other.json() == {
        "errors": {KEY: ["was already used for a different request; use a new key"]}
    }
    assert await count_rows(app, Article) == 1


async def test_the_same_key_on_another_path_is_422(client: AsyncClient) -> None:
    author, reader = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    await client.post(f"/api/articles/{slug}/favorite", headers=keyed(reader, "k-2"))

    other = await client.post(
        f"/api/profiles/{author.username}/follow", headers=keyed(reader, "k-2")
    )

    assert other.status_code == 422


async def test_a_retry_while_the_first_still_runs_is_409_and_only_the_first_writes(
    client: AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    author = await register(client)
    async with held(monkeypatch, articles, "create_article") as (entered, release):
        first = asyncio.create_task(create(client, author, "slow-1"))
        await entered.wait()

        retry = await create(client, author, "slow-1")

        release.set()
        answered = await first
    again = await create(client, author, "slow-1")

    assert retry.status_code == 409
    assert retry.json()["errors"][KEY] == [
        "a request with this key is still being processed; retry later"
    ]
    assert answered.status_code == 201
    assert_replay_of(answered, again)
    assert await count_rows(app, Article) == 1


async def test_a_request_lost_past_its_lease_is_taken_over_by_its_retry(
    client: AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    author = await register(client)
    lease = app.state.settings.idempotency_lease_seconds
    async with held(monkeypatch, articles, "create_article") as (entered, release):
        lost = asyncio.create_task(create(client, author, "lost-1"))
        await entered.wait()
        clock_moved(monkeypatch, lease + 1)

        retry = await create(client, author, "lost-1")

        release.set()
        await lost
    again = await create(client, author, "lost-1")

    assert retry.status_code == 201
    assert_replay_of(retry, again)  # the taken-over request stored nothing


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x" * 256,
        "has space",
        'quo"te',
        "back\\slash",
        '"unterminated',
    ],
)
async def test_a_malformed_key_is_400_before_anything_runs(
    client: AsyncClient, app: FastAPI, value: str
) -> None:
    author = await register(client)

    response = await create(client, author, value)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [KEY]
    assert await count_rows(app, Article) == 0
    assert await stored_rows(app) == []


async def test_a_key_sent_twice_or_not_ascii_is_400(client: AsyncClient, app: FastAPI) -> None:
    author = await register(client)
    signed = [(name.encode(), value.encode()) for name, value in author.headers.items()]
    twice = [*signed, (KEY.encode(), b"a"), (KEY.encode(), b"b")]
    not_ascii = [*signed, (KEY.encode(), "clé".encode())]

    for headers in (twice, not_ascii):
        response = await client.post("/api/articles", json=article_payload(), headers=headers)
        assert response.status_code == 400
    assert await count_rows(app, Article) == 0


async def test_a_key_255_characters_long_is_accepted(client: AsyncClient) -> None:
    author = await register(client)

    response = await create(client, author, "k" * 255)

    assert response.status_code == 201


# ------------------------------------------------------------------ what is not kept


async def test_a_5xx_is_not_kept_so_the_retry_runs(
    client: AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    author = await register(client)
    original = articles.create_article

    async def failing(*_args: Any, **_kwargs: Any) -> Any:
        monkeypatch.setattr(articles, "create_article", original)
        raise RuntimeError("the first attempt fails")

    monkeypatch.setattr(articles, "create_article", failing)

    failed = await create(client, author, "flaky-1")
    retry = await create(client, author, "flaky-1")

    assert failed.status_code == 500
    assert retry.status_code == 201
    assert REPLAYED not in retry.headers
    assert await count_rows(app, Article) == 1


async def test_an_expired_key_may_be_used_again(
    client: AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    author = await register(client)
    await create(client, author, "old-1", title="Yesterday")
    clock_moved(monkeypatch, app.state.settings.idempotency_ttl_seconds + 1)

    reused = await create(client, author, "old-1", title="Today")

    assert reused.status_code == 201
    assert REPLAYED not in reused.headers
    assert reused.json()["article"]["title"] == "Today"
    assert len(await stored_rows(app)) == 1


async def test_expired_keys_are_swept_by_later_claims(
    client: AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    author = await register(client)
    for n in range(3):
        await create(client, author, f"sweep-{n}", title=f"Sweep {n}")
    clock_moved(monkeypatch, app.state.settings.idempotency_ttl_seconds + 1)

    await create(client, author, "fresh", title="Fresh")

    assert [row.key for row in await stored_rows(app)] == ["fresh"]


async def test_a_logged_out_token_cannot_replay(client: AsyncClient) -> None:
    author = await register(client)
    await create(client, author, "out-1")
    await client.post("/api/users/logout", headers=author.headers)

    again = await create(client, author, "out-1")

    assert again.status_code == 401
    assert REPLAYED not in again.headers


async def test_anonymous_writes_ignore_the_key_and_keep_no_credentials(
    client: AsyncClient, app: FastAPI
) -> None:
    payload = {"user": {"username": "keyed", "email": "keyed@example.com", "password": "x" * 12}}

    response = await client.post("/api/users", json=payload, headers={KEY: "signup-1"})

    assert response.status_code == 201
    assert await stored_rows(app) == []


async def test_a_write_without_the_key_costs_no_statement_of_its_own(
    client: AsyncClient, app: FastAPI
) -> None:
    author = await register(client)

    with count_statements(app) as statements:
        response = await client.post(
            "/api/articles", json=article_payload(), headers=author.headers
        )

    assert response.status_code == 201
    assert not [s for s in statements if "idempotency_keys" in s]


# ------------------------------------------------------------------ the document


async def test_the_document_declares_the_key_on_signed_in_writes_only(
    openapi_document: dict[str, Any],
) -> None:
    operations = {
        operation["operationId"]: operation
        for item in openapi_document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }

    def declares_key(operation: dict[str, Any]) -> bool:
        parameters = operation.get("parameters", [])
        return any(p["name"] == KEY and p["in"] == "header" for p in parameters)

    for name in (
        "CreateArticle",
        "CreateArticleComment",
        "UpdateCurrentUser",
        "FollowUserByUsername",
    ):
        operation = operations[name]
        assert declares_key(operation)
        assert {"400", "409", "422"} <= set(operation["responses"])
        success = next(r for s, r in operation["responses"].items() if s.startswith("2"))
        assert REPLAYED in success["headers"]
    for name in ("CreateUser", "Login", "GetArticle"):
        assert not declares_key(operations[name])
    assert REPLAYED in openapi_document["components"]["headers"]


@pytest.mark.parametrize(
    "value",
    [
        "k",
        '"k"',
        "k" * 255,
        f'"{"k" * 255}"',
        "k" * 256,
        f'"{"k" * 256}"',
        '""',
        'quo"te',
        'k"',
        "back\\slash",
        "sp ace",
        "~!#[]",
    ],
)
async def test_the_documents_key_pattern_admits_exactly_what_the_server_takes(
    client: AsyncClient, openapi_document: dict[str, Any], value: str
) -> None:
    schema = openapi_document["paths"]["/api/articles"]["post"]["parameters"]
    key_schema = next(p["schema"] for p in schema if p["name"] == KEY)
    documented = re.search(key_schema["pattern"], value) is not None
    documented = documented and len(value) <= key_schema["maxLength"]
    author = await register(client)

    response = await create(client, author, value)

    assert (response.status_code != 400) == documented


async def test_a_browser_may_send_the_key_and_read_the_replay_mark(client: AsyncClient) -> None:
    origin = {"Origin": "https://app.example.com"}
    author = await register(client)

    preflight = await client.options(
        "/api/articles",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    created = await client.post(
        "/api/articles", json=article_payload(), headers={**keyed(author, "cors-1"), **origin}
    )

    assert preflight.status_code == 200
    assert KEY.lower() in preflight.headers["access-control-allow-headers"].lower()
    assert REPLAYED.lower() in created.headers["access-control-expose-headers"].lower()


# ------------------------------------------------------------------ with the other layers


async def test_a_stale_if_match_412_is_replayed_only_to_the_same_precondition(
    client: AsyncClient,
) -> None:
    author = await register(client)
    url = f"/api/articles/{(await create_article(client, author))['slug']}"
    stale = (await client.get(url, headers=author.headers)).headers["etag"]
    edit = {"article": {"body": "edited"}}
    await client.put(url, json=edit, headers={**author.headers, "If-Match": stale})
    current = (await client.get(url, headers=author.headers)).headers["etag"]

    def precondition(tag: str, key: str) -> dict[str, str]:
        return {**keyed(author, key), "If-Match": tag}

    refused = await client.put(url, json=edit, headers=precondition(stale, "edit-1"))
    refused_again = await client.put(url, json=edit, headers=precondition(stale, "edit-1"))
    fresh_with_same_key = await client.put(url, json=edit, headers=precondition(current, "edit-1"))
    done = await client.put(url, json=edit, headers=precondition(current, "edit-2"))
    done_again = await client.put(url, json=edit, headers=precondition(current, "edit-2"))

    assert refused.status_code == 412
    assert_replay_of(refused, refused_again)
    assert fresh_with_same_key.status_code == 422  # If-Match is part of the request
    assert done.status_code == 200
    assert_replay_of(done, done_again)
    for first, again in ((refused, refused_again), (done, done_again)):
        assert again.headers.get("etag") == first.headers.get("etag")  # no tag made anew


async def test_a_key_sent_where_no_route_takes_the_method_is_not_claimed(
    client: AsyncClient,
) -> None:
    author = await register(client)
    wrong = await client.put(
        "/api/articles", json=article_payload(), headers=keyed(author, "k-405")
    )
    assert wrong.status_code == 405, wrong.text  # the router's answer, not the key's
    first = await create(client, author, "k-405")
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
