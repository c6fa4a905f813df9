"""Roles: admins moderate articles and comments and deactivate or reactivate users."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import event, func, select

from src.models import User
from src.models.user import ROLE_ADMIN
from src.services import admin, messages, sessions
from src.services.errors import Conflict, Forbidden
from tests.api.security_helpers import make_admin, me, refresh
from tests.factories import comment, create_article, log_in, register


async def _admin(client: AsyncClient, app: FastAPI):  # type: ignore[no-untyped-def]
    boss = await register(client)
    await make_admin(app.state.engine, boss.username)
    return boss


async def _active_admins(app: FastAPI) -> list[str]:
    async with app.state.sessionmaker() as session:
        names = await session.scalars(
            select(User.username).where(User.role == ROLE_ADMIN, User.is_active.is_(True))
        )
        return list(names)


@contextmanager
def _row_locks_sent(app: FastAPI) -> Iterator[asyncio.Event]:
    """Set once a statement that locks rows (SELECT ... FOR UPDATE) goes to the database."""
    sent = asyncio.Event()

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FOR UPDATE" in statement:
            sent.set()

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


async def test_an_admin_deletes_anyones_article(client: AsyncClient, app: FastAPI) -> None:
    boss = await _admin(client, app)
    author = await register(client)
    article = await create_article(client, author)

    response = await client.delete(f"/api/articles/{article['slug']}", headers=boss.headers)

    assert response.status_code == 204
    assert (await client.get(f"/api/articles/{article['slug']}")).status_code == 404


async def test_an_admin_deletes_anyones_comment(client: AsyncClient, app: FastAPI) -> None:
    boss = await _admin(client, app)
    author = await register(client)
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
    jake = await register(client)

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
    assert login.json() == {"errors": {"credentials": ["invalid"]}}


async def test_a_reactivated_user_can_log_in_again(client: AsyncClient, app: FastAPI) -> None:
    boss = await _admin(client, app)
    jake = await register(client)
    await client.post(f"/api/admin/users/{jake.username}/deactivate", headers=boss.headers)

    response = await client.post(
        f"/api/admin/users/{jake.username}/reactivate", headers=boss.headers
    )

    assert response.status_code == 200
    assert response.json()["user"]["active"] is True
    assert (await log_in(client, jake.email, jake.password)).status_code == 200
    assert (await me(client, jake.token)).status_code == 401  # old sessions stay ended


async def test_a_regular_user_cannot_use_admin_routes(client: AsyncClient) -> None:
    jake = await register(client)
    victim = await register(client)

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
    assert response.json() == {"errors": {"user": ["not found"]}}


async def test_an_admin_cannot_deactivate_themselves(client: AsyncClient, app: FastAPI) -> None:
    boss = await _admin(client, app)

    response = await client.post(
        f"/api/admin/users/{boss.username}/deactivate", headers=boss.headers
    )

    assert response.status_code == 422
    assert (await me(client, boss.token)).status_code == 200


async def test_admin_routes_have_their_own_tag_in_the_document(
    openapi_document: dict[str, Any],
) -> None:
    operation = openapi_document["paths"]["/api/admin/users/{username}/deactivate"]["post"]

    assert operation["tags"] == ["Admin"]
    assert {"Token": []} in operation["security"]


async def test_two_admins_deactivating_each_other_at_once_leave_one_active(
    client: AsyncClient, app: FastAPI, is_postgres: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = await _admin(client, app)
    bob = await _admin(client, app)
    checked, release = asyncio.Event(), asyncio.Event()
    end_all = sessions.end_all

    async def held_after_the_check(*args: Any, **kwargs: Any) -> None:
        if not checked.is_set():  # only the first deactivation waits
            checked.set()
            await release.wait()
        await end_all(*args, **kwargs)

    monkeypatch.setattr(sessions, "end_all", held_after_the_check)
    try:
        first = asyncio.create_task(
            client.post(f"/api/admin/users/{bob.username}/deactivate", headers=ann.headers)
        )
        await asyncio.wait_for(checked.wait(), timeout=10)
        with _row_locks_sent(app) as locking:
            second = asyncio.create_task(
                client.post(f"/api/admin/users/{ann.username}/deactivate", headers=bob.headers)
            )
            if is_postgres:  # SQLite: the second waits for the write lock whatever the timing
                locked = asyncio.create_task(locking.wait())
                await asyncio.wait(
                    {second, locked}, timeout=10, return_when=asyncio.FIRST_COMPLETED
                )
                locked.cancel()
        release.set()
        won, lost = await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
    finally:
        release.set()  # a failed wait must not leave the request parked

    assert won.status_code == 200, won.text
    if is_postgres:  # the second checked after the first committed: ann is the last admin
        assert lost.status_code == 409, lost.text
        assert lost.json() == {"errors": {"user": [messages.LAST_ACTIVE_ADMIN]}}
    else:  # SQLite runs the second request after the first: bob's token is dead by then
        assert lost.status_code == 401, lost.text
    assert await _active_admins(app) == [ann.username]


@pytest.mark.parametrize(
    ("others", "refusal"), [(0, Conflict), (1, Forbidden)], ids=["last-admin", "caller-gone"]
)
async def test_a_request_whose_caller_was_deactivated_meanwhile_changes_nothing(
    client: AsyncClient, app: FastAPI, others: int, refusal: type[Exception]
) -> None:
    """The checks read the rows again under the lock: a caller authenticated just before an
    admin deactivated them cannot take away the last admin, nor act as an admin at all."""
    ann = await _admin(client, app)
    bob = await _admin(client, app)
    for _ in range(others):
        await _admin(client, app)
    async with app.state.sessionmaker() as session:
        bob_as_authenticated = await session.scalar(
            select(User).where(User.username == bob.username)
        )
    assert bob_as_authenticated is not None
    deactivated = await client.post(
        f"/api/admin/users/{bob.username}/deactivate", headers=ann.headers
    )
    assert deactivated.status_code == 200

    async with app.state.sessionmaker() as session:
        with pytest.raises(refusal):
            await admin.set_active(session, bob_as_authenticated, ann.username, active=False)

    assert ann.username in await _active_admins(app)
    assert (await me(client, ann.token)).status_code == 200


async def test_any_admin_but_the_last_can_be_deactivated(client: AsyncClient, app: FastAPI) -> None:
    ann = await _admin(client, app)
    bob = await _admin(client, app)

    response = await client.post(f"/api/admin/users/{bob.username}/deactivate", headers=ann.headers)

    assert response.status_code == 200, response.text
    assert response.json()["user"] == {
        "username": bob.username,
        "email": bob.email,
        "role": "admin",
        "active": False,
    }
    async with app.state.sessionmaker() as session:
        count = select(func.count()).where(User.role == ROLE_ADMIN, User.is_active.is_(True))
        assert await session.scalar(count) == 1
