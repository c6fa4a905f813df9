"""The `conduit` command in tests: in-process through typer's runner, or the installed script.

Both run with none of the developer's settings inherited and, in-process, from an empty
directory (no stray .env); `conduit serve` as a server to talk TCP to is tests/live.py.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from src.cli.main import app
from src.core.config import Settings

CONDUIT = Path(sys.executable).with_name("conduit")
# Integrations the developer's shell may point at, beyond the settings: the command talks to none.
FOREIGN_ENV_PREFIXES = ("PROMETHEUS_", "OTEL_", "SENTRY_", "REDIS_", "DATABASE_")
SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)


def clean_environment(**env: str) -> dict[str, str]:
    """This process's environment without any setting or integration, then `env`."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if key not in SETTING_NAMES and not key.startswith(FOREIGN_ENV_PREFIXES)
    }
    return {**kept, **env}


class Conduit:
    """`conduit ARGS` in this process; see the `conduit` fixture in tests/conftest.py."""

    def invoke(
        self, *args: str, env: Mapping[str, str] | None = None, input: str | None = None
    ) -> Result:
        return CliRunner().invoke(app, list(args), env=env, input=input)

    async def invoke_in_thread(self, *args: str, env: Mapping[str, str] | None = None) -> Result:
        """From a test's event loop: the command runs its own."""
        return await asyncio.to_thread(self.invoke, *args, env=env)


def isolated_conduit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Conduit:
    """Run from an empty directory (no stray .env) with no setting or integration inherited."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name in SETTING_NAMES or name.startswith(FOREIGN_ENV_PREFIXES):
            monkeypatch.delenv(name)
    return Conduit()


def run_conduit(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed console script as a real process (a real exit code), in `cwd`."""
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(CONDUIT), *args],
        cwd=cwd,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
