"""A live `conduit serve` on a free local port, over the session's freshly migrated database.

Tests here talk TCP to a real server process (a browser, a generated client); each module is
marked `e2e`: `./scripts/test -m e2e` runs only them, `-m "not e2e"` everything else.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import live


@pytest.fixture(scope="session")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real server process; tables are emptied after each test as elsewhere.

    It runs no jobs: it outlives its tests, and would take the jobs of the later tests that
    share its database and run them with their own workers."""
    cwd = tmp_path_factory.mktemp("server")
    with live.live_server(
        database_url, cwd, ENVIRONMENT="development", DOCS_ENABLED="true", JOBS_IN_PROCESS="false"
    ) as server:
        yield server.url
