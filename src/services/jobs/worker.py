"""The worker: JOBS_CONCURRENCY slots, each claiming the next due job (with a few more of the
quick kinds claimed together) and running each in its own transaction.

Run by `conduit worker`, and inside `conduit serve` when JOBS_IN_PROCESS says so (the app's
lifespan). An idle slot wakes when a commit in this process enqueued, on PostgreSQL when any
process's did (LISTEN), and every JOBS_POLL_INTERVAL_SECONDS in any case. Design and
guarantees: docs/architecture.md, "Background jobs".
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from src.core import metrics
from src.core.config import Settings
from src.core.db import write_session
from src.models.base import utc_now
from src.services.jobs import queue
from src.services.jobs.queue import DEAD, QUEUED, Claimed
from src.services.jobs.registry import JobContext, job_type, load_handlers
from src.services.sql import commit

logger = logging.getLogger("conduit.jobs")
Clock = Callable[[], datetime]
QUEUE_METRICS_EVERY_SECONDS = 10.0
# The LISTEN connection: checked this often (a silent network loss sends no error), and
# opened again this long after it was lost; polling carries on meanwhile.
LISTEN_CHECK_SECONDS = 30.0
RELISTEN_SECONDS = 5.0
LISTEN_APPLICATION_NAME = "conduit-jobs-listen"  # pg_stat_activity tells it from the pool

# The wake-up events of this process's worker slots (an ordered set), and those of the slots
# waiting idle now.
_wakers: dict[asyncio.Event, None] = {}
_idle_wakers: set[asyncio.Event] = set()


def _ring(wakers: dict[asyncio.Event, None]) -> None:
    """New jobs are due: one idle slot wakes to claim them (it claims a batch, and claims
    again while it finds some), not every slot racing for the same jobs; with none idle,
    every slot claims again once its jobs in hand are done instead of waiting."""
    for wake in wakers:
        if wake in _idle_wakers:
            _idle_wakers.discard(wake)
            wake.set()
            return
    for wake in wakers:
        wake.set()


@event.listens_for(Session, "after_commit")
def _wake_local_workers(session: Session) -> None:
    session.info.pop(queue.NOTIFIED, None)
    if session.info.pop(queue.ENQUEUED, False):
        _ring(_wakers)


class LeaseLost(Exception):
    """The job was claimed again by another worker while this one ran it."""


def backoff_seconds(settings: Settings, attempt: int) -> float:
    """The wait before retry number `attempt` (1 for the first): doubling, capped."""
    base = settings.jobs_backoff_base_seconds * 2 ** min(attempt - 1, 62)
    return float(min(settings.jobs_backoff_max_seconds, base))


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Worker:
    """One consumer of the jobs table; several may run, on one machine or many."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        clock: Clock = utc_now,
        name: str | None = None,
    ) -> None:
        load_handlers()
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._queue_seen_at = 0.0
        self._slot_wakers: dict[asyncio.Event, None] = {}
        # Set while the LISTEN connection is up (PostgreSQL).
        self.listening = asyncio.Event()
        self._listen_failures = 0

    async def run_one(self) -> bool:
        """Claim one due job and run it; False when none is due."""
        return bool(await self.run_due(1))

    async def run_due(self, limit: int) -> int:
        """Claim the next due job, with up to `limit - 1` more of the quick kinds claimed
        together (one statement instead of one each), and run them: the jobs of a kind that
        runs together in one transaction, any other (and any it leaves) alone; how many."""
        async with write_session(self.sessionmaker) as session:
            jobs = await queue.claim_some(
                session, self.name, self.clock(), self.settings.jobs_lease_seconds, limit=limit
            )
            await commit(session)
        unstarted, alone = list(jobs), set[int]()
        try:
            while unstarted:
                group = self._group_of(unstarted, alone)
                for started in group:
                    unstarted.remove(started)
                if len(group) == 1:
                    await self._run(group[0])
                    continue
                left = await self._run_together(group)
                alone.update(job.id for job in left)
                unstarted[:0] = left
        except asyncio.CancelledError:  # shutdown: the ones not started are due again
            for waiting in unstarted:
                await asyncio.shield(self._release(waiting))
            raise
        return len(jobs)

    def _group_of(self, unstarted: list[Claimed], alone: set[int]) -> list[Claimed]:
        """The first unstarted job, with the others of its kind when that kind runs
        together; a job left alone once, or on its last attempt, runs alone."""
        first = unstarted[0]
        known = job_type(first.name)
        if known is None or known.run_together is None or first.id in alone:
            return [first]
        limit = known.max_attempts or self.settings.jobs_max_attempts
        return [
            job
            for job in unstarted
            if job.name == first.name and job.id not in alone and job.attempt < limit
        ] or [first]

    async def _run_together(self, group: list[Claimed]) -> list[Claimed]:
        """Jobs of one kind by its together-handler, in one transaction with their deletion;
        those it leaves (all of them if it fails) are returned to run alone."""
        known = job_type(group[0].name)
        together = known.run_together if known is not None else None
        if together is None:
            return group
        started = time.monotonic()
        try:
            async with write_session(self.sessionmaker) as session:
                context = JobContext(session, self.settings, self.clock)
                positions = await together(context, [job.payload for job in group])
                done = [job for position, job in enumerate(group) if position in positions]
                if done and not await queue.finish_all(session, done, self.name):
                    await session.rollback()
                    return group  # a lease lost: each alone finds out which
                await session.commit()
        except asyncio.CancelledError:
            for job in group:
                await asyncio.shield(self._release(job))
            raise
        except Exception as exc:  # each alone: its own retries and its own error
            logger.info(
                "job %s: %d run together failed (%s); each runs alone",
                group[0].name,
                len(group),
                _error_text(exc),
                extra={"job": group[0].name},
            )
            return group
        now, seconds = self.clock(), (time.monotonic() - started) / max(len(done), 1)
        for job in done:
            metrics.observe_job(
                job.name, "succeeded", seconds, (now - job.created_at).total_seconds()
            )
        return [job for job in group if job not in done]

    async def _run(self, job: Claimed) -> None:
        """One claimed job: its handler and its deletion in one transaction, or a retry."""
        known = job_type(job.name)
        limit = (known.max_attempts if known else None) or self.settings.jobs_max_attempts
        if job.attempt > limit:  # its earlier attempts died with their workers
            lost = RuntimeError("lost with its worker on its last attempt")
            await self._fail(job, lost, limit, 0.0)
            return
        started = time.monotonic()
        try:
            if known is None:
                raise LookupError(f"no job handler is registered as {job.name!r}")
            async with write_session(self.sessionmaker) as session:
                await known.handler(JobContext(session, self.settings, self.clock), job.payload)
                if not await queue.finish(session, job, self.name):
                    await session.rollback()
                    raise LeaseLost
                await session.commit()
        except LeaseLost:
            metrics.observe_job(job.name, "lost", time.monotonic() - started, None)
            logger.warning(
                "job %s %s: claimed again by another worker; this run rolled back",
                job.name,
                job.id,
                extra={"job_id": job.id, "job": job.name, "attempt": job.attempt},
            )
        except asyncio.CancelledError:
            await asyncio.shield(self._release(job))
            raise
        except Exception as exc:
            await self._fail(job, exc, limit, time.monotonic() - started)
        else:
            latency = (self.clock() - job.created_at).total_seconds()
            metrics.observe_job(job.name, "succeeded", time.monotonic() - started, latency)

    async def _fail(self, job: Claimed, exc: Exception, limit: int, seconds: float) -> None:
        now = self.clock()
        error = _error_text(exc)
        fields: dict[str, Any] = {
            "job_id": job.id,
            "job": job.name,
            "attempt": job.attempt,
            "max_attempts": limit,
            "error": error,
        }
        async with self.sessionmaker() as session:
            if job.attempt >= limit:
                await queue.reschedule(
                    session,
                    job,
                    self.name,
                    state=DEAD,
                    run_at=now,
                    attempts=job.attempt,
                    error=error,
                )
                await session.commit()
                metrics.observe_job(job.name, "dead", seconds, None)
                # The one line with a traceback: the job is given up on.
                logger.error(
                    "job %s %s dead after %d attempts: %s",
                    job.name,
                    job.id,
                    job.attempt,
                    error,
                    exc_info=exc,
                    extra=fields,
                )
                return
            delay = backoff_seconds(self.settings, job.attempt)
            await queue.reschedule(
                session,
                job,
                self.name,
                state=QUEUED,
                run_at=now + timedelta(seconds=delay),
                attempts=job.attempt,
                error=error,
            )
            await session.commit()
        metrics.observe_job(job.name, "retried", seconds, None)
        logger.warning(
            "job %s %s failed (attempt %d of %d), retry in %gs: %s",
            job.name,
            job.id,
            job.attempt,
            limit,
            delay,
            error,
            extra={**fields, "retry_in_seconds": delay},
        )

    async def _release(self, job: Claimed) -> None:
        """Shutdown interrupted the job: due again now, the attempt not counted."""
        async with self.sessionmaker() as session:
            await queue.reschedule(
                session,
                job,
                self.name,
                state=QUEUED,
                run_at=self.clock(),
                attempts=job.attempt - 1,
                error=None,
            )
            await session.commit()

    async def observe_queue(self) -> None:
        """Queue depth and the oldest waiting job's age into /metrics (at most every few s)."""
        if time.monotonic() - self._queue_seen_at < QUEUE_METRICS_EVERY_SECONDS:
            return
        self._queue_seen_at = time.monotonic()
        now = self.clock()
        async with self.sessionmaker() as session:
            by_state = await queue.counts(session)
            oldest = await queue.oldest_due(session, now)
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        metrics.observe_queue(by_state, max(age, 0.0))

    async def run(self, stop: asyncio.Event) -> None:
        """Run jobs until `stop` is set, JOBS_CONCURRENCY at a time; the jobs in hand are
        finished (or released) first."""
        logger.info("job worker %s started", self.name, extra={"worker": self.name})
        try:
            # A task group waits for every slot, even when cancelled: no release is cut off.
            async with asyncio.TaskGroup() as slots:
                if not self.settings.is_sqlite:
                    slots.create_task(self._listen(stop))
                for _ in range(self.settings.jobs_concurrency):
                    slots.create_task(self._run_slot(stop))
        finally:
            logger.info("job worker %s stopped", self.name, extra={"worker": self.name})

    async def _run_slot(self, stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        _wakers[wake] = self._slot_wakers[wake] = None
        try:
            while not stop.is_set():
                wake.clear()  # before the claim: a wake-up during it is not lost
                try:
                    if await self.run_due(self.settings.jobs_claim_batch):
                        continue
                    await self.observe_queue()
                except Exception as exc:  # the database away: log once per poll, keep going
                    logger.warning(
                        "job worker %s: %s",
                        self.name,
                        _error_text(exc),
                        extra={"worker": self.name},
                    )
                _idle_wakers.add(wake)
                try:
                    await _idle(stop, wake, self.settings.jobs_poll_interval_seconds)
                finally:
                    _idle_wakers.discard(wake)
                if wake.is_set() and self.settings.jobs_gather_seconds:
                    await _gather(stop, self.settings.jobs_gather_seconds)
        finally:
            _wakers.pop(wake, None)
            self._slot_wakers.pop(wake, None)

    def _wake_slots(self, *_notification: object) -> None:
        _ring(self._slot_wakers)

    def _wake_every_slot(self) -> None:
        for wake in self._slot_wakers:
            wake.set()

    async def _listen(self, stop: asyncio.Event) -> None:
        """PostgreSQL: LISTEN on a connection of its own; each notification (a commit that
        enqueued, in any process) wakes the idle slots. Lost, it is opened again later."""
        while not stop.is_set():
            try:
                await self._listen_until_lost(stop)
            except Exception as exc:  # whatever it was, the slots poll on: never end the worker
                if not self._listen_failures:  # one line per outage
                    logger.warning(
                        "job worker %s: not listening (%s); polling until it can again",
                        self.name,
                        _error_text(exc),
                        extra={"worker": self.name},
                    )
                self._listen_failures += 1
                await _wait_any(stop, asyncio.Event(), RELISTEN_SECONDS)

    async def _listen_until_lost(self, stop: asyncio.Event) -> None:
        dsn = make_url(self.settings.database_url).set(drivername="postgresql")
        connection = await asyncpg.connect(
            dsn.render_as_string(hide_password=False),
            timeout=self.settings.db_connect_timeout_seconds,
            server_settings={"application_name": LISTEN_APPLICATION_NAME},
        )
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(queue.CHANNEL, self._wake_slots)
            self.listening.set()
            self._wake_every_slot()  # what was enqueued while nobody listened
            if self._listen_failures:
                logger.info("job worker %s: listening again", self.name)
                self._listen_failures = 0
            while not await _wait_any(stop, lost, LISTEN_CHECK_SECONDS):
                await connection.fetchval("SELECT 1", timeout=LISTEN_CHECK_SECONDS)
            if lost.is_set() and not stop.is_set():
                raise ConnectionError("its connection was closed")
        finally:
            self.listening.clear()
            connection.terminate()


async def _idle(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """A slot with nothing to claim waits here: stopped, woken, or the poll interval."""
    await _wait_any(stop, wake, seconds)


async def _gather(stop: asyncio.Event, seconds: float) -> None:
    """A slot woken by a new job waits here before it claims: the jobs enqueued right behind
    it are claimed with it."""
    await _wait_any(stop, asyncio.Event(), seconds)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> bool:
    """Until `stop` or `wake` is set (True) or `seconds` pass (False)."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        return bool(done)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def run_until_idle(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    clock: Clock = utc_now,
    max_jobs: int = 100_000,
) -> int:
    """Run due jobs until none is due (tests, tools); how many ran."""
    worker = Worker(sessionmaker, settings, clock=clock)
    ran = 0
    while ran < max_jobs and (claimed := await worker.run_due(settings.jobs_claim_batch)):
        ran += claimed
    return ran


class InProcessWorker:
    """The worker as a task of `conduit serve` (the app's lifespan), stopped at shutdown."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._worker = Worker(sessionmaker, settings)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._worker.run(self._stop), name="conduit-jobs")

    async def stop(self, grace_seconds: float) -> None:
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=grace_seconds)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
