"""Roles: admins moderate articles and comments and deactivate or reactivate users."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.security_helpers import log_in, make_admin, me, refresh, sign_up
from tests.factories import comment, create_article


async def _admin(client: AsyncClient, app: FastAPI):  # type: ignore[no-untyped-def]
    boss = await sign_up(client)
    await make_admin(app.state.engine, boss.username)
    return boss


async def test_an_admin_deletes_anyones_article(client: AsyncClient, app: FastAPI) -> None:
    boss = await _admin(client, app)
    author = await sign_up(client)
    article = await create_article(client, author)

    response = await client.delete(f"/api/articles/{article['slug']}", headers=boss.headers)

    assert response.status_code == 204
    assert (await client.get(f"/api/articles/{article['slug']}")).status_code == 404


async def test_an_admin_deletes_anyones_comment(client: AsyncClient, app: FastAPI) -> None:
    boss = await _admin(client, app)
    author = await sign_up(client)
    article = await create_article(client, author)
    said = await comment(client, author, article["slug"])

    response = await client.delete(
        f"/api/articles/{article['slug']}/comments/{said['id']}", headers=boss.headers
    )

    assert response.status_code == 204
    listed = await client.get(f"/api/articles/{article['slug']}/comments")
    assert listed.json()["comments"] == []


async def test_an_admin_deactivates_a_user_whose_tokens_then_fail(
    client: AsyncClient, app: FastAPI
) -> None:
    boss = await _admin(client, app)
    jake = await sign_up(client)

    response = await client.post(
        f"/api/admin/users/{jake.username}/deactivate", headers=boss.headers
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "user": {"username": jake.username, "email": jake.email, "role": "user", "active": False}
    }
    assert (await me(client, jake.token)).status_code == 401
    assert (await refresh(client, jake.refresh_token)).status_code == 401
    login = await log_in(client, jake.email, jake.password)
    assert login.status_code == 401
    # The same message as a wrong password: nothing tells an attacker the account exists.
    assert login.json() == {"errors": {"credentials": ["email or password is invalid"]}}


async def test_a_reactivated_user_can_log_in_again(client: AsyncClient, app: FastAPI) -> None:
    boss = await _admin(client, app)
    jake = await sign_up(client)
    await client.post(f"/api/admin/users/{jake.username}/deactivate", headers=boss.headers)

    response = await client.post(
        f"/api/admin/users/{jake.username}/reactivate", headers=boss.headers
    )

    assert response.status_code == 200
    assert response.json()["user"]["active"] is True
    assert (await log_in(client, jake.email, jake.password)).status_code == 200
    assert (await me(client, jake.token)).status_code == 401  # old sessions stay ended


async def test_a_regular_user_cannot_use_admin_routes(client: AsyncClient) -> None:
    jake = await sign_up(client)
    victim = await sign_up(client)

    response = await client.post(
        f"/api/admin/users/{victim.username}/deactivate", headers=jake.headers
    )

    assert response.status_code == 403
    assert response.json() == {"errors": {"user": ["only an administrator may do this"]}}
    assert (await me(client, victim.token)).status_code == 200


async def test_admin_routes_need_a_token(client: AsyncClient) -> None:
    response = await client.post("/api/admin/users/anyone/deactivate")

    assert response.status_code == 401


async def test_deactivating_an_unknown_user_is_not_found(client: AsyncClient, app: FastAPI) -> None:
    boss = await _admin(client, app)

    response = await client.post("/api/admin/users/nobody-here/deactivate", headers=boss.headers)

    assert response.status_code == 404
    assert response.json() == {"errors": {"user": ["user not found"]}}


async def test_an_admin_cannot_deactivate_themselves(client: AsyncClient, app: FastAPI) -> None:
    boss = await _admin(client, app)

    response = await client.post(
        f"/api/admin/users/{boss.username}/deactivate", headers=boss.headers
    )

    assert response.status_code == 422
    assert (await me(client, boss.token)).status_code == 200


async def test_admin_routes_have_their_own_tag_in_the_document(client: AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    operation = document["paths"]["/api/admin/users/{username}/deactivate"]["post"]

    assert operation["tags"] == ["Admin"]
    assert {"Token": []} in operation["security"]
