"""The `conduit` command line: help, migrations and refusing a bad configuration."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, create_engine, inspect
from sqlalchemy.engine import make_url
from typer.testing import Result

from src.api.asgi.server import BoundedHttpToolsProtocol
from src.models import Base
from tests.cli import Conduit, run_conduit
from tests.live import free_port

PRIVATE_SECRET = "a-private-secret-that-is-long-enough-for-production"
LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def sqlite_tables(path: Path) -> set[str]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_help_lists_the_commands(conduit: Conduit) -> None:
    result = conduit.invoke("--help")

    assert result.exit_code == 0
    for command in ("serve", "db"):
        assert command in result.output


def test_db_help_lists_the_migration_commands(conduit: Conduit) -> None:
    result = conduit.invoke("db", "--help")

    assert result.exit_code == 0
    for command in ("upgrade", "downgrade", "current"):
        assert command in result.output


def test_db_upgrade_creates_the_tables_in_a_fresh_sqlite_file(
    conduit: Conduit, tmp_path: Path
) -> None:
    database = tmp_path / "fresh.db"

    result = conduit.invoke(
        "db", "upgrade", env={"DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    )

    assert result.exit_code == 0, result.output
    tables = sqlite_tables(database)
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_db_downgrade_to_base_removes_the_tables(conduit: Conduit, tmp_path: Path) -> None:
    database = tmp_path / "roundtrip.db"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    assert conduit.invoke("db", "upgrade", env=env).exit_code == 0

    result = conduit.invoke("db", "downgrade", "base", env=env)

    assert result.exit_code == 0, result.output
    assert sqlite_tables(database) & set(Base.metadata.tables) == set()


@pytest.mark.parametrize(
    "url", ["not a url at all", "mysql://root@localhost/conduit", "sqlite:///./sync-driver.db"]
)
def test_an_invalid_database_url_is_refused_clearly(conduit: Conduit, url: str) -> None:
    result = conduit.invoke("db", "upgrade", env={"DATABASE_URL": url})

    assert result.exit_code != 0
    assert "Invalid configuration" in result.output
    assert "DATABASE_URL" in result.output
    assert "Traceback" not in result.output


def test_a_database_url_password_is_not_echoed_in_the_error(conduit: Conduit) -> None:
    result = conduit.invoke(
        "db", "upgrade", env={"DATABASE_URL": "mysql://root:hunter2@localhost/conduit"}
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
    conduit: Conduit, tmp_path: Path
) -> None:
    result = conduit.invoke(
        "serve",
        "--no-migrate",
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
    conduit: Conduit, tmp_path: Path
) -> None:
    database = tmp_path / "prod.db"

    result = conduit.invoke(
        "db",
        "upgrade",
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


def postgres_server() -> URL:
    """The PostgreSQL server the suite may use (TEST_DATABASE_URL's, else the local default)."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    url = make_url(base) if base.startswith("postgresql") else make_url(LOCAL_POSTGRES)
    try:
        socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=2).close()
    except OSError:
        pytest.skip("no PostgreSQL server to ask for a database that does not exist")
    return url


DATABASE_COMMANDS = [
    pytest.param(["db", "upgrade"], id="db-upgrade"),
    pytest.param(["db", "current"], id="db-current"),
    pytest.param(["serve"], id="serve"),
    pytest.param(["seed", "--users", "2", "--articles", "0"], id="seed"),
    pytest.param(["create-admin", "--email", "root@example.com", "--password", "pw"], id="admin"),
]


def assert_one_line_refusal(result: Result, *expected: str) -> None:
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    for text in expected:
        assert text in result.output


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_a_database_that_does_not_exist_stops_the_command_with_one_line(
    conduit: Conduit, command: list[str]
) -> None:
    server = postgres_server()
    url = server.set(database="does_not_exist_xyz")
    password = url.password or "a-db-password-to-mask"
    shown = url.set(password=password).render_as_string(hide_password=True)  # user:***@host
    if command[0] == "serve":
        command = [*command, "--port", str(free_port())]

    result = conduit.invoke(
        *command,
        env={"DATABASE_URL": url.set(password=password).render_as_string(hide_password=False)},
    )

    assert_one_line_refusal(result, shown, 'database "does_not_exist_xyz" does not exist')
    assert str(password) not in result.output


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_a_database_that_refuses_connections_stops_the_command_with_one_line(
    conduit: Conduit, command: list[str]
) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/conduit"
    if command[0] == "serve":
        command = [*command, "--port", str(free_port())]

    result = conduit.invoke(*command, env={"DATABASE_URL": url})

    assert_one_line_refusal(result, url, "connection refused")


def test_serve_on_a_port_in_use_names_the_port_before_any_migration(
    conduit: Conduit, tmp_path: Path
) -> None:
    database = tmp_path / "untouched.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = conduit.invoke(
            "serve",
            "--port",
            str(port),
            env={"DATABASE_URL": f"sqlite+aiosqlite:///{database}"},
        )

    assert_one_line_refusal(result, f"port {port} on 127.0.0.1 is already in use")
    assert not database.exists()  # no migration ran


def uvicorn_options(
    conduit: Conduit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str
) -> dict[str, Any]:
    """What `conduit serve` hands uvicorn under these settings (uvicorn itself not started)."""
    started: list[dict[str, Any]] = []
    monkeypatch.setattr("src.cli.main.configure_logging", lambda _settings: None)
    monkeypatch.setattr(
        "src.cli.main.uvicorn.run", lambda *_args, **options: started.append(options)
    )

    result = conduit.invoke(
        "serve",
        "--no-migrate",
        "--port",
        str(free_port()),
        env={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}", **env},
    )

    assert result.exit_code == 0, result.output
    [options] = started
    return options


def test_serve_gives_uvicorn_the_bounds_on_heads_and_connections_from_the_settings(
    conduit: Conduit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = uvicorn_options(
        conduit,
        tmp_path,
        monkeypatch,
        MAX_HEADER_BYTES="4096",
        HEADER_TIMEOUT_SECONDS="3",
        LIMIT_CONCURRENCY="7",
        KEEP_ALIVE_TIMEOUT_SECONDS="2",
    )

    assert "limit_concurrency" not in options  # the protocol holds it, to answer in the envelope
    assert options["timeout_keep_alive"] == 2
    protocol = options["http"]
    assert protocol.func is BoundedHttpToolsProtocol
    assert protocol.keywords == {
        "max_header_bytes": 4096,
        "header_timeout": 3.0,
        "concurrency": 7,
        "retry_after": 5,
    }


def test_serve_without_a_concurrency_limit_sets_none(
    conduit: Conduit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = uvicorn_options(conduit, tmp_path, monkeypatch, LIMIT_CONCURRENCY="0")

    assert options["http"].keywords["concurrency"] is None
