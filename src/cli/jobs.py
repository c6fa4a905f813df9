"""`conduit worker` and `conduit jobs`: the background-job worker and the queue's state."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from src.core.config import Settings
from src.core.db import create_engine, create_sessionmaker
from src.core.reads import ReadPool
from src.services.jobs import Worker, queue

T = TypeVar("T")


def run_worker(settings: Settings) -> None:
    """Run jobs until SIGTERM or SIGINT; the job in hand is finished first."""

    async def run() -> None:
        engine = create_engine(settings)
        # As the server's: single-statement writes (the claim) straight on asyncpg.
        lone = None if settings.is_sqlite else ReadPool(settings, engine.dialect)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await Worker(create_sessionmaker(engine, lone), settings).run(stop)
        finally:
            if lone is not None:
                await lone.close()
            await engine.dispose()

    asyncio.run(run())


@dataclass(frozen=True, slots=True)
class DeadJob:
    id: int
    name: str
    attempts: int
    created_at: str
    last_error: str


@dataclass(frozen=True, slots=True)
class QueueReport:
    counts: dict[str, int]
    dead: list[DeadJob]
    retried: int = 0
    purged: int = 0


def _on_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(run())


def queue_report(
    settings: Settings, *, retry_dead: bool = False, purge_dead: bool = False, limit: int = 100
) -> QueueReport:
    """Counts by state and the dead jobs, after retrying or purging the dead ones if asked."""

    async def work(session: AsyncSession) -> QueueReport:
        retried = await queue.retry_dead(session) if retry_dead else 0
        purged = await queue.purge_dead(session) if purge_dead else 0
        dead = [
            DeadJob(
                job.id, job.name, job.attempts, job.created_at.isoformat(), job.last_error or ""
            )
            for job in await queue.dead_jobs(session, limit)
        ]
        return QueueReport(await queue.counts(session), dead, retried, purged)

    return _on_session(settings, work)
