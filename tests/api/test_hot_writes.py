"""The hot writes (src/api/asgi/hot_writes.py) answer exactly as the documented FastAPI routes do.

Every request goes to two apps on the same database: the real one, and one built with
HOT_WRITES_ENABLED=false so that FastAPI's router serves everything. Refusals (401, 404, 415,
422) must be the same bytes; a write that succeeds must give the same status, headers and
body, its own new values (timestamps, slug suffixes, ids) aside. Valid requests must be the
hot path's, the others FastAPI's.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import Request
from httpx import AsyncClient, Response

from src.api import deps
from src.api.asgi import hot_writes
from src.api.asgi.hot_reads import ROUTE_KEY
from src.core.config import Settings
from tests.apps import app_client
from tests.factories import RegisteredUser, auth, create_article, register

COMPARED_HEADERS = ("content-type", "www-authenticate", "retry-after")
# What two writes of the same thing may differ in: when they happened and what they were named.
_STAMP = re.compile(rb'"(createdAt|updatedAt)":"[^"]*"')
_ID = re.compile(rb'"id":\d+')
_SUFFIX = re.compile(rb"-[0-9a-f]{8}(?=[\"/]|$)")


@pytest.fixture
async def router_only(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The same service with the hot writes off: FastAPI's routes answer everything."""
    async with app_client(settings.model_copy(update={"hot_writes_enabled": False})) as http:
        yield http


@pytest.fixture
def hot_served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The templates of the requests the hot path answered itself (it counts each one's write
    limit, as the API router does, once it takes the request)."""
    served: list[str] = []
    limit = deps.limit_writes

    async def recording(request: Request) -> None:
        served.append(request.scope[ROUTE_KEY])
        await limit(request)

    monkeypatch.setattr(hot_writes, "limit_writes", recording)
    return served


def _comparable(response: Response) -> tuple[int, bytes, list[str | None]]:
    body = _SUFFIX.sub(b"", _ID.sub(b'"id":0', _STAMP.sub(rb'"\1":""', response.content)))
    location = response.headers.get("location")
    headers = [response.headers.get(name) for name in COMPARED_HEADERS]
    located = location and re.sub(r"/\d+$", "/0", _SUFFIX.sub(b"", location.encode()).decode())
    return response.status_code, body, [*headers, located]


async def _both(
    client: AsyncClient, router_only: AsyncClient, method: str, url: str, **kwargs: Any
) -> int:
    hot = await client.request(method, url, **kwargs)
    routed = await router_only.request(method, url, **kwargs)
    assert _comparable(hot) == _comparable(routed), (hot.text[:300], routed.text[:300])
    return hot.status_code


async def _toggled_alike(
    client: AsyncClient, router_only: AsyncClient, url: str, headers: dict[str, str]
) -> list[Response]:
    """Each of POST, DELETE, DELETE, POST on a toggle (favorite, follow) sent by both doors
    from the same state, compared; the hot door's answers. Each turn undoes itself, so both
    doors see the state the hot door found."""
    answers = []
    for method in ("POST", "DELETE", "DELETE", "POST"):
        undo = "DELETE" if method == "POST" else "POST"
        hot = await client.request(method, url, headers=headers)
        await client.request(undo, url, headers=headers)
        routed = await router_only.request(method, url, headers=headers)
        assert _comparable(hot) == _comparable(routed)
        assert hot.status_code == 200
        await client.request(undo, url, headers=headers)
        answers.append(hot)
    return answers


def _article(**fields: Any) -> dict[str, Any]:
    return {"article": {"title": "Hot", "description": "d", "body": "b", **fields}}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (_article(), 201),
        (_article(tagList=["b", "a", "b", " c "]), 201),
        (_article(tagList=None), 201),
        (_article(title=" "), 422),
        (_article(title="x" * 300), 422),
        (_article(tagList="dragons"), 422),
        ({"article": {"title": "Hot"}}, 422),
        ({"title": "Hot"}, 422),
        ([], 422),
    ],
)
async def test_a_create_is_answered_alike_by_both_doors(
    client: AsyncClient,
    router_only: AsyncClient,
    hot_served: list[str],
    body: Any,
    status: int,
) -> None:
    author = await register(client)
    sent = await _both(
        client, router_only, "POST", "/api/articles", json=body, headers=author.headers
    )
    assert sent == status
    assert hot_served == (["/api/articles"] if status == 201 else [])


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Basic abc"}, auth("not-a-jwt")],
    ids=["none", "empty", "other scheme", "garbage"],
)
async def test_a_write_without_a_good_token_is_refused_alike(
    client: AsyncClient, router_only: AsyncClient, headers: dict[str, str]
) -> None:
    author = await register(client)
    slug = (await create_article(client, author))["slug"]
    for method, url, body in (
        ("POST", "/api/articles", _article()),
        ("POST", f"/api/articles/{slug}/favorite", None),
        ("DELETE", f"/api/articles/{slug}/favorite", None),
        ("POST", f"/api/articles/{slug}/comments", {"comment": {"body": "Hi"}}),
        ("POST", f"/api/profiles/{author.username}/follow", None),
        ("DELETE", f"/api/profiles/{author.username}/follow", None),
    ):
        assert await _both(client, router_only, method, url, json=body, headers=headers) == 401


async def _signed_out(client: AsyncClient, user: RegisteredUser) -> RegisteredUser:
    response = await client.post("/api/users/logout", headers=user.headers)
    assert response.status_code in (200, 204), response.text
    return user


async def test_a_dead_session_writes_nothing_by_either_door(
    client: AsyncClient, router_only: AsyncClient
) -> None:
    author, fan = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    gone = await _signed_out(client, await register(client))
    for method, url, body in (
        ("POST", "/api/articles", _article()),
        ("POST", f"/api/articles/{slug}/favorite", None),
        ("POST", f"/api/articles/{slug}/favorite", None),
        ("POST", "/api/articles/no-such-article/favorite", None),
        ("POST", f"/api/articles/{slug}/comments", {"comment": {"body": "Hi"}}),
        ("POST", "/api/articles/no-such-article/comments", {"comment": {"body": "Hi"}}),
        ("POST", f"/api/profiles/{author.username}/follow", None),
        ("POST", "/api/profiles/no-such-user/follow", None),
    ):
        assert await _both(client, router_only, method, url, json=body, headers=gone.headers) == 401
    article = (await client.get(f"/api/articles/{slug}", headers=fan.headers)).json()["article"]
    assert article["favoritesCount"] == 0
    assert (await client.get(f"/api/articles/{slug}/comments")).json()["comments"] == []
    assert (await client.get(f"/api/articles?author={gone.username}")).json()["articlesCount"] == 0


async def test_favorites_and_comments_are_answered_alike_by_both_doors(
    client: AsyncClient, router_only: AsyncClient, hot_served: list[str]
) -> None:
    author, fan = await register(client), await register(client)
    slug = (await create_article(client, author))["slug"]
    favorite, comments = f"/api/articles/{slug}/favorite", f"/api/articles/{slug}/comments"
    h = fan.headers
    for hot in await _toggled_alike(client, router_only, favorite, h):
        assert hot.json()["article"]["favorited"] is (hot.request.method == "POST")
    missing = "/api/articles/no-such-article"
    assert await _both(client, router_only, "POST", f"{missing}/favorite", headers=h) == 404
    assert await _both(client, router_only, "DELETE", f"{missing}/favorite", headers=h) == 404
    for body, status in (
        ({"comment": {"body": "Nice"}}, 201),
        ({"comment": {"body": "  "}}, 422),
        ({"comment": {}}, 422),
        ({"body": "Nice"}, 422),
    ):
        assert await _both(client, router_only, "POST", comments, json=body, headers=h) == status
    assert (
        await _both(
            client, router_only, "POST", f"{missing}/comments", json={"body": "x"}, headers=h
        )
        == 422
    )
    comment = {"comment": {"body": "Nice"}}
    sent = await _both(client, router_only, "POST", f"{missing}/comments", json=comment, headers=h)
    assert sent == 404
    assert hot_served.count("/api/articles/{slug}/comments") == 2  # the 201 and the 404


async def test_follows_are_answered_alike_by_both_doors(
    client: AsyncClient, router_only: AsyncClient, hot_served: list[str]
) -> None:
    author, fan = await register(client), await register(client)
    follow, h = f"/api/profiles/{author.username}/follow", fan.headers
    for hot in await _toggled_alike(client, router_only, follow, h):
        assert hot.json()["profile"]["following"] is (hot.request.method == "POST")
    for method in ("POST", "DELETE"):
        missing = "/api/profiles/no-such-user/follow"
        assert await _both(client, router_only, method, missing, headers=h) == 404
    itself = f"/api/profiles/{fan.username}/follow"
    assert await _both(client, router_only, "POST", itself, headers=h) == 422
    served = 4 * 3 + 2 + 1  # the client's requests: three a turn, the two 404s, the 422
    assert hot_served.count("/api/profiles/{username}/follow") == served
    for not_hot in ("/api/profiles//follow", "/api/profiles/follow", "/api/profiles/a/b/follow"):
        assert await _both(client, router_only, "POST", not_hot, headers=h) in (404, 405)
    assert hot_served.count("/api/profiles/{username}/follow") == served


async def test_a_body_that_is_not_json_goes_to_fastapi(
    client: AsyncClient, router_only: AsyncClient, hot_served: list[str]
) -> None:
    author = await register(client)
    headers = {**author.headers, "Content-Type": "application/json"}
    for content in (b'{"article": ', b"NaN", b'{"article": {"title": "\\ud800"}}'):
        sent = await _both(
            client, router_only, "POST", "/api/articles", content=content, headers=headers
        )
        assert sent == 422
    assert hot_served == []
