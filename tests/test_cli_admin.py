"""`conduit create-admin`: creates or promotes an administrator who can then use /api/admin."""

from __future__ import annotations

import asyncio
import unicodedata
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient
from typer.testing import CliRunner

from src.cli import app as cli
from src.core import migrations
from src.core.config import Settings
from src.main import create_app, release_resources


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
    for name in ("SECRET_KEY", "ENVIRONMENT", "REDIS_URL", "CONDUIT_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ARGON2_TIME_COST", "1")
    monkeypatch.setenv("ARGON2_MEMORY_COST_KIB", "64")
    migrations.upgrade("head", database_url=url)
    return url


async def _client_for(url: str) -> tuple[AsyncClient, object]:
    app = create_app(Settings(database_url=url, argon2_time_cost=1, argon2_memory_cost_kib=64))
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://conduit.test"), app


async def test_create_admin_makes_an_account_that_can_moderate(database: str) -> None:
    result = await asyncio.to_thread(  # the CLI runs its own event loop
        CliRunner().invoke,
        cli,
        ["create-admin", "--email", "Boss@Example.com", "--password", "a-long-password"],
    )
    assert result.exit_code == 0, result.output
    assert "Created admin Boss <boss@example.com>" in result.output

    client, app = await _client_for(database)
    async with client:
        victim = await client.post(
            "/api/users",
            json={"user": {"username": "v", "email": "v@example.com", "password": "p" * 10}},
        )
        login = await client.post(
            "/api/users/login",
            json={"user": {"email": "boss@example.com", "password": "a-long-password"}},
        )
        token = login.json()["user"]["token"]
        response = await client.post(
            "/api/admin/users/v/deactivate", headers={"Authorization": f"Token {token}"}
        )
    await release_resources(app)  # type: ignore[attr-defined]

    assert victim.status_code == 201
    assert response.status_code == 200
    assert response.json()["user"]["active"] is False


async def test_create_admin_promotes_an_existing_user(database: str) -> None:
    client, app = await _client_for(database)
    async with client:
        await client.post(
            "/api/users",
            json={"user": {"username": "ann", "email": "ann@example.com", "password": "p" * 10}},
        )

        result = await asyncio.to_thread(
            CliRunner().invoke, cli, ["create-admin", "--email", "ann@example.com"]
        )

        login = await client.post(
            "/api/users/login", json={"user": {"email": "ann@example.com", "password": "p" * 10}}
        )
        token = login.json()["user"]["token"]
        response = await client.post(
            "/api/admin/users/ann/reactivate", headers={"Authorization": f"Token {token}"}
        )
    await release_resources(app)  # type: ignore[attr-defined]

    assert result.exit_code == 0, result.output
    assert "Promoted admin ann <ann@example.com>" in result.output
    assert response.status_code == 200
    assert response.json()["user"]["role"] == "admin"


def test_create_admin_prompts_for_a_new_accounts_password(database: str) -> None:
    result = CliRunner().invoke(
        cli, ["create-admin", "--email", "new@example.com"], input="typed-password\n"
    )

    assert result.exit_code == 0, result.output
    assert "Created admin new <new@example.com>" in result.output


def test_create_admin_reports_a_taken_username(database: str) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["create-admin", "--email", "a@example.com", "--password", "p" * 10])

    result = runner.invoke(
        cli,
        ["create-admin", "--email", "b@example.com", "--username", "a", "--password", "p" * 10],
    )

    assert result.exit_code == 1
    assert "username: has already been taken" in result.output


async def test_create_admin_with_a_password_resets_an_existing_users_password(
    database: str,
) -> None:
    client, app = await _client_for(database)
    async with client:
        await client.post(
            "/api/users",
            json={"user": {"username": "bo", "email": "bo@example.com", "password": "p" * 10}},
        )
        result = await asyncio.to_thread(
            CliRunner().invoke,
            cli,
            ["create-admin", "--email", "bo@example.com", "--password", "reset-password"],
        )
        old = await client.post(
            "/api/users/login", json={"user": {"email": "bo@example.com", "password": "p" * 10}}
        )
        new = await client.post(
            "/api/users/login",
            json={"user": {"email": "bo@example.com", "password": "reset-password"}},
        )
    await release_resources(app)  # type: ignore[attr-defined]

    assert result.exit_code == 0, result.output
    assert old.status_code == 401
    assert new.status_code == 200


async def test_create_admin_finds_the_user_by_any_spelling_of_their_email(database: str) -> None:
    client, app = await _client_for(database)
    async with client:
        registered = await client.post(
            "/api/users",
            json={"user": {"username": "jo", "email": "jö@bücher.de", "password": "p" * 10}},
        )
        result = await asyncio.to_thread(
            CliRunner().invoke,
            cli,
            # Decomposed, upper-case, the domain in punycode: the same mailbox.
            ["create-admin", "--email", unicodedata.normalize("NFD", "JÖ@XN--BCHER-KVA.DE")],
        )
        login = await client.post(
            "/api/users/login", json={"user": {"email": "jö@bücher.de", "password": "p" * 10}}
        )
    await release_resources(app)  # type: ignore[attr-defined]

    assert registered.status_code == 201, registered.text
    assert result.exit_code == 0, result.output
    assert "Promoted admin jo <jö@xn--bcher-kva.de>" in result.output
    assert login.status_code == 200, login.text


def test_create_admin_refuses_an_email_too_long_once_normalized(database: str) -> None:
    email = "İ" * 130 + "@example.com"  # within the bound as typed, past it lower-cased

    result = CliRunner().invoke(cli, ["create-admin", "--email", email, "--password", "p" * 10])

    assert result.exit_code == 1
    assert "email: is too long (maximum is 254 characters)" in result.output
