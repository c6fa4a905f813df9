"""`conduit create-admin`: creates or promotes an administrator who can then use /api/admin."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from src.cli import main as cli_main
from src.core import migrations
from src.core.config import Settings
from tests.apps import app_client
from tests.cli import Conduit
from tests.factories import auth, create_article, log_in, register


@pytest.fixture
def database(conduit: Conduit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite file the `conduit` fixture's commands use."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
    monkeypatch.delenv("CONDUIT_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ARGON2_TIME_COST", "1")
    monkeypatch.setenv("ARGON2_MEMORY_COST_KIB", "64")
    migrations.upgrade("head", database_url=url)
    return url


def _settings(url: str) -> Settings:
    return Settings(database_url=url, argon2_time_cost=1, argon2_memory_cost_kib=64)


async def test_create_admin_makes_an_account_that_can_moderate(
    conduit: Conduit, database: str
) -> None:
    result = await conduit.invoke_in_thread(
        "create-admin", "--email", "Boss@Example.com", "--password", "a-long-password"
    )
    assert result.exit_code == 0, result.output
    assert "Created admin Boss <boss@example.com>" in result.output

    async with app_client(_settings(database)) as client:
        await register(client, "v", "v@example.com", "p" * 10)
        login = await log_in(client, "boss@example.com", "a-long-password")
        token = login.json()["user"]["token"]
        response = await client.post("/api/admin/users/v/deactivate", headers=auth(token))

    assert response.status_code == 200
    assert response.json()["user"]["active"] is False


async def test_create_admin_promotes_an_existing_user(conduit: Conduit, database: str) -> None:
    async with app_client(_settings(database)) as client:
        await register(client, "ann", "ann@example.com", "p" * 10)

        result = await conduit.invoke_in_thread("create-admin", "--email", "ann@example.com")

        login = await log_in(client, "ann@example.com", "p" * 10)
        token = login.json()["user"]["token"]
        response = await client.post("/api/admin/users/ann/reactivate", headers=auth(token))

    assert result.exit_code == 0, result.output
    assert "Promoted admin ann <ann@example.com>" in result.output
    assert response.status_code == 200
    assert response.json()["user"]["role"] == "admin"


def test_create_admin_prompts_for_a_new_accounts_password(conduit: Conduit, database: str) -> None:
    result = conduit.invoke("create-admin", "--email", "new@example.com", input="typed-password\n")

    assert result.exit_code == 0, result.output
    assert "Created admin new <new@example.com>" in result.output


def test_create_admin_reports_a_taken_username(conduit: Conduit, database: str) -> None:
    conduit.invoke("create-admin", "--email", "a@example.com", "--password", "p" * 10)

    result = conduit.invoke(
        "create-admin",
        "--email",
        "b@example.com",
        "--username",
        "a",
        "--password",
        "p" * 10,
    )

    assert result.exit_code == 1
    assert "username: has already been taken" in result.output


async def test_create_admin_with_a_password_resets_an_existing_users_password(
    conduit: Conduit, database: str
) -> None:
    async with app_client(_settings(database)) as client:
        await register(client, "bo", "bo@example.com", "p" * 10)
        result = await conduit.invoke_in_thread(
            "create-admin", "--email", "bo@example.com", "--password", "reset-password"
        )
        old = await log_in(client, "bo@example.com", "p" * 10)
        new = await log_in(client, "bo@example.com", "reset-password")

    assert result.exit_code == 0, result.output
    assert old.status_code == 401
    assert new.status_code == 200


async def test_create_admin_finds_the_user_by_any_spelling_of_their_email(
    conduit: Conduit, database: str
) -> None:
    async with app_client(_settings(database)) as client:
        await register(client, "jo", "jö@bücher.de", "p" * 10)
        result = await conduit.invoke_in_thread(
            # Decomposed, upper-case, the domain in punycode: the same mailbox.
            "create-admin",
            "--email",
            unicodedata.normalize("NFD", "JÖ@XN--BCHER-KVA.DE"),
        )
        login = await log_in(client, "jö@bücher.de", "p" * 10)

    assert result.exit_code == 0, result.output
    assert "Promoted admin jo <jö@xn--bcher-kva.de>" in result.output
    assert login.status_code == 200, login.text


def test_create_admin_refuses_an_email_too_long_once_normalized(
    conduit: Conduit, database: str
) -> None:
    email = "İ" * 130 + "@example.com"  # within the bound as typed, past it lower-cased

    result = conduit.invoke("create-admin", "--email", email, "--password", "p" * 10)

    assert result.exit_code == 1
    assert "email: is too long (maximum is 254 characters)" in result.output


async def test_delete_user_removes_the_account_and_what_it_wrote(
    conduit: Conduit, database: str
) -> None:
    async with app_client(_settings(database)) as client:
        ann = await register(client, "ann", "ann@example.com", "p" * 10)
        await create_article(client, ann)

        result = await conduit.invoke_in_thread("delete-user", "ANN", "--yes")

        assert result.exit_code == 0, result.output
        assert "Deleted user ANN" in result.output
        assert (await client.get("/api/user", headers=ann.headers)).status_code == 401
        assert (await client.get("/api/articles")).json()["articlesCount"] == 0


def test_delete_user_needs_yes_when_not_interactive(conduit: Conduit, database: str) -> None:
    conduit.invoke("create-admin", "--email", "ann@example.com", "--password", "p" * 10)

    result = conduit.invoke("delete-user", "ann")

    assert result.exit_code == 2
    assert "--yes" in result.output
    assert "not found" in conduit.invoke("delete-user", "nobody", "--yes").output


def test_delete_user_asks_when_interactive(
    conduit: Conduit, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_main, "_interactive", lambda: True)
    conduit.invoke("create-admin", "--email", "a@example.com", "--password", "p" * 10)
    conduit.invoke("create-admin", "--email", "b@example.com", "--password", "p" * 10)

    kept = conduit.invoke("delete-user", "a", input="n\n")
    deleted = conduit.invoke("delete-user", "a", input="y\n")

    assert kept.exit_code == 1
    assert deleted.exit_code == 0, deleted.output
    assert "Deleted user a" in deleted.output


def test_delete_user_refuses_the_last_active_admin(conduit: Conduit, database: str) -> None:
    conduit.invoke("create-admin", "--email", "boss@example.com", "--password", "p" * 10)

    result = conduit.invoke("delete-user", "boss", "--yes")

    assert result.exit_code == 1
    assert "the last active administrator cannot be deleted" in result.output
