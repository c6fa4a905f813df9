"""Background jobs in real processes: `conduit serve` running them in-process, and a
`conduit worker` beside a server that does not, stopped by SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.cli import CONDUIT, clean_environment
from tests.conftest import TEST_SECRET
from tests.live import LiveServer, live_server

WAIT_SECONDS = 60  # how long the fan-out may take on a loaded machine before the test fails


def _user(http: httpx.Client, name: str) -> dict[str, str]:
    body = {"user": {"username": name, "email": f"{name}@example.com", "password": "pw-123456"}}
    response = http.post("/api/users", json=body)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Token {response.json()['user']['token']}"}


def _publish_to_a_follower(server: LiveServer, tag: str) -> tuple[dict[str, str], str]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        author, reader = _user(http, f"author{tag}"), _user(http, f"reader{tag}")
        assert http.post(f"/api/profiles/author{tag}/follow", headers=reader).status_code == 200
        article = {"article": {"title": f"Fanned out {tag}", "description": "d", "body": "b"}}
        created = http.post("/api/articles", json=article, headers=author)
        assert created.status_code == 201, created.text
        return reader, created.json()["article"]["slug"]


def _wait_for_feed(server: LiveServer, reader: dict[str, str], slug: str) -> None:
    """Until the reader's feed shows the article (the job ran), at most WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    with httpx.Client(base_url=server.url, timeout=10) as http:
        while True:
            page = http.get("/api/articles/feed", headers=reader).json()
            if [a["slug"] for a in page["articles"]] == [slug]:
                assert page["articlesCount"] == 1
                return
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.1)


def test_conduit_serve_runs_the_jobs_itself(database_url: str, tmp_path: Path) -> None:
    with live_server(database_url, tmp_path) as server:
        reader, slug = _publish_to_a_follower(server, "inproc")
        _wait_for_feed(server, reader, slug)


def test_conduit_worker_runs_the_jobs_beside_a_server_and_stops_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    with live_server(database_url, tmp_path, JOBS_IN_PROCESS="false") as server:
        reader, slug = _publish_to_a_follower(server, "worker")
        log = tmp_path / "worker.log"
        env = clean_environment(
            DATABASE_URL=database_url,
            SECRET_KEY=TEST_SECRET,
            ENVIRONMENT="production",
            LOG_FORMAT="json",
        )
        with log.open("wb") as sink:
            worker = subprocess.Popen(  # noqa: S603 - our own console script
                [str(CONDUIT), "worker"], cwd=tmp_path, env=env, stdout=sink, stderr=sink
            )
        try:
            _wait_for_feed(server, reader, slug)
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        assert "stopped" in log.read_text(encoding="utf-8")
