"""The `conduit` command line: help, migrations and refusing a bad configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from src.cli import app
from src.models import Base

CONDUIT = Path(sys.executable).with_name("conduit")
PRIVATE_SECRET = "a-private-secret-that-is-long-enough-for-production"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """Run from an empty directory (no stray .env) with none of our variables inherited."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "SECRET_KEY", "ENVIRONMENT", "CORS_ORIGINS", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def sqlite_tables(path: Path) -> set[str]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def run_conduit(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, in a clean environment (a real process, a real exit code)."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(CONDUIT), *args],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])

    assert result.exit_code == 0
    for command in ("serve", "db"):
        assert command in result.output


def test_db_help_lists_the_migration_commands(runner: CliRunner) -> None:
    result = runner.invoke(app, ["db", "--help"])

    assert result.exit_code == 0
    for command in ("upgrade", "downgrade", "current"):
        assert command in result.output


def test_db_upgrade_creates_the_tables_in_a_fresh_sqlite_file(
    runner: CliRunner, tmp_path: Path
) -> None:
    database = tmp_path / "fresh.db"

    result = runner.invoke(
        app, ["db", "upgrade"], env={"DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    )

    assert result.exit_code == 0, result.output
    tables = sqlite_tables(database)
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_db_downgrade_to_base_removes_the_tables(runner: CliRunner, tmp_path: Path) -> None:
    database = tmp_path / "roundtrip.db"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0

    result = runner.invoke(app, ["db", "downgrade", "base"], env=env)

    assert result.exit_code == 0, result.output
    assert sqlite_tables(database) & set(Base.metadata.tables) == set()


@pytest.mark.parametrize(
    "url", ["not a url at all", "mysql://root@localhost/conduit", "sqlite:///./sync-driver.db"]
)
def test_an_invalid_database_url_is_refused_clearly(runner: CliRunner, url: str) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env={"DATABASE_URL": url})

    assert result.exit_code != 0
    assert "Invalid configuration" in result.output
    assert "DATABASE_URL" in result.output
    assert "Traceback" not in result.output


def test_a_database_url_password_is_not_echoed_in_the_error(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["db", "upgrade"], env={"DATABASE_URL": "mysql://root:hunter2@localhost/conduit"}
    )

    assert result.exit_code != 0
    assert "hunter2" not in result.output


def test_production_with_the_default_secret_refuses_to_serve(tmp_path: Path) -> None:
    result = run_conduit(
        tmp_path,
        "serve",
        "--no-migrate",
        ENVIRONMENT="production",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}",
    )

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "prod.db").exists()


def test_production_with_a_short_secret_refuses_to_serve_without_echoing_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        ["serve", "--no-migrate"],
        env={
            "ENVIRONMENT": "production",
            "SECRET_KEY": "short-private-value",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}",
        },
    )

    assert result.exit_code != 0
    assert "SECRET_KEY" in result.output
    assert "short-private-value" not in result.output


def test_production_with_a_private_secret_passes_the_configuration_check(
    runner: CliRunner, tmp_path: Path
) -> None:
    database = tmp_path / "prod.db"

    result = runner.invoke(
        app,
        ["db", "upgrade"],
        env={
            "ENVIRONMENT": "production",
            "SECRET_KEY": PRIVATE_SECRET,
            "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        },
    )

    assert result.exit_code == 0, result.output
    assert set(Base.metadata.tables) <= sqlite_tables(database)


def test_the_console_script_is_installed_and_answers_help(tmp_path: Path) -> None:
    result = run_conduit(tmp_path, "--help")

    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout
