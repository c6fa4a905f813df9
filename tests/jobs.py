"""Background jobs in tests: the one way to run what the writes enqueued."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from src.services.jobs import run_until_idle


async def run_jobs_until_idle(app: FastAPI, **settings: Any) -> int:
    """Run every due job (and the jobs they enqueue) to completion; how many ran.

    Call it once the writes committed (SQLite lets one transaction write at a time);
    `settings` overrides the app's for this run (e.g. `feed_fanout_batch=2`).
    """
    current = app.state.settings
    chosen = current.model_copy(update=settings) if settings else current
    return await run_until_idle(app.state.sessionmaker, chosen)
