"""`conduit config`: the effective configuration, secrets masked; bad values named clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.core.config import Settings
from tests.cli import Conduit


def test_config_prints_every_setting_with_secrets_masked(conduit: Conduit) -> None:
    env = {
        "DATABASE_URL": "postgresql+asyncpg://app:db-pass-123@db.internal:5432/conduit",
        "SECRET_KEY": "k" * 48,
        "REDIS_URL": "redis://:redis-pass-456@cache:6379/0",
        "SENTRY_DSN": "https://sentry-key-789@o1.ingest.sentry.io/1",
        "LOG_LEVEL": "debug",
    }
    result = conduit.invoke("config", "--json", env=env)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert set(shown) == {name.upper() for name in Settings.model_fields} | {"warnings"}
    for secret in ("db-pass-123", "k" * 48, "redis-pass-456", "sentry-key-789"):
        assert secret not in result.output
    assert shown["DATABASE_URL"] == "postgresql+asyncpg://app:***@db.internal:5432/conduit"
    assert shown["SECRET_KEY"] == "********"
    assert shown["LOG_LEVEL"] == "DEBUG"
    assert "SECRET_KEY" not in shown["warnings"]  # a private one

    table = conduit.invoke("config", env=env)
    assert table.exit_code == 0
    assert "REDIS_URL" in table.output and "redis-pass-456" not in table.output


def test_config_json_keeps_numbers_booleans_lists_and_nulls(conduit: Conduit) -> None:
    result = conduit.invoke(
        "config", "--json", env={"DB_POOL_SIZE": "7", "CORS_ORIGINS": "https://a,https://b"}
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["DB_POOL_SIZE"] == 7
    assert shown["SHUTDOWN_GRACE_SECONDS"] == 25.0
    assert shown["METRICS_ENABLED"] is True
    assert shown["DB_ECHO"] is False
    assert shown["REDIS_URL"] is None
    assert shown["CORS_ORIGINS"] == ["https://a", "https://b"]

    table = conduit.invoke("config", env={"CORS_ORIGINS": "https://a,https://b"})
    assert "https://a,https://b" in table.output and "true" in table.output


def test_config_warns_while_secret_key_is_the_development_default(conduit: Conduit) -> None:
    table = conduit.invoke("config")
    assert table.exit_code == 0, table.output
    warning = "Warning: SECRET_KEY is the development default"
    assert warning in table.stderr and warning not in table.stdout

    shown = json.loads(conduit.invoke("config", "--json").stdout)
    assert shown["warnings"]["SECRET_KEY"][0].startswith("is the development default")

    private = conduit.invoke("config", env={"SECRET_KEY": "k" * 48})
    assert "SECRET_KEY is" not in private.output


UNSHARED_LIMITS = "REDIS_URL is unset: each worker process counts the rate limits in its own memory"


def test_config_warns_that_rate_limits_without_redis_are_per_worker(conduit: Conduit) -> None:
    table = conduit.invoke("config")
    assert f"Warning: {UNSHARED_LIMITS}" in table.stderr

    shown = json.loads(conduit.invoke("config", "--json").stdout)
    assert "--workers N every limit is N times higher" in shown["warnings"]["REDIS_URL"][0]
    for env in ({"REDIS_URL": "redis://cache:6379/0"}, {"RATE_LIMIT_ENABLED": "false"}):
        quiet = json.loads(conduit.invoke("config", "--json", env=env).stdout)
        assert "REDIS_URL" not in quiet["warnings"]


@pytest.mark.parametrize(
    ("workers", "env", "warned"),
    [
        (3, {}, True),
        (1, {}, False),
        (3, {"REDIS_URL": "redis://cache:6379/0"}, False),
        (3, {"RATE_LIMIT_ENABLED": "false"}, False),
    ],
)
def test_serve_with_several_workers_and_no_redis_warns_at_start(
    conduit: Conduit,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
    env: dict[str, str],
    warned: bool,
) -> None:
    started: list[int] = []
    monkeypatch.setattr("src.cli.main.uvicorn.run", lambda *_a, **kw: started.append(kw["workers"]))
    monkeypatch.setattr("src.cli.main.metrics.prepare_multiprocess", lambda _workers: None)

    result = conduit.invoke(
        "serve", "--no-migrate", "--port", "0", "--workers", str(workers), env=env
    )

    assert result.exit_code == 0, result.output
    assert started == [workers]
    lines = [line for line in result.stderr.splitlines() if UNSHARED_LIMITS in line]
    if warned:
        assert len(lines) == 1 and "WARNING" in lines[0]
        assert "--workers 3 every limit is 3 times higher" in lines[0]
    else:
        assert lines == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://root@localhost/conduit"),
        ("REDIS_URL", "localhost:6379"),
        ("DB_CONNECT_TIMEOUT_SECONDS", "-1"),
        ("LOG_FORMAT", "xml"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_setting(
    conduit: Conduit, name: str, value: str
) -> None:
    result = conduit.invoke("config", env={name: value})
    assert result.exit_code == 2
    assert "Invalid configuration" in result.output
    assert name in result.output


def test_every_setting_is_in_the_readme_settings_table() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    missing = [
        name.upper()
        for name in Settings.model_fields
        if not any(f"`{name.upper()}`" in row for row in rows)
    ]
    assert not missing, f"add these to the README's Settings table: {missing}"
