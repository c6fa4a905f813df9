"""The background-job engine (src/services/jobs): enqueue in the write's transaction, retries
with backoff, dead jobs, leases, and workers that never run one job at the same time.

The worker's clock is the test's: a retry's backoff or a lease runs out when the test moves it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import select, text

from src.core.config import Settings
from src.models import Job
from src.models.base import utc_now
from src.services.jobs import (
    JobContext,
    Payload,
    Worker,
    enqueue,
    job,
    queue,
    run_together,
    run_until_idle,
)
from src.services.jobs import worker as worker_module
from src.services.jobs.worker import backoff_seconds
from tests.cli import Conduit

FLAKY, BROKEN, BLOCKING, NOTED = "test.flaky", "test.broken", "test.blocking", "test.noted"
QUICK = "test.quick"
TOGETHER = "test.together"

ran: list[Payload] = []
failures_left = {"n": 0}
gate = {"entered": asyncio.Event(), "release": asyncio.Event(), "last_ran": asyncio.Event()}


@job(NOTED)
async def _noted(context: JobContext, payload: Payload) -> None:
    ran.append(payload)


@job(FLAKY)
async def _flaky(context: JobContext, payload: Payload) -> None:
    if failures_left["n"] > 0:
        failures_left["n"] -= 1
        raise ConnectionError("the far end hung up")
    ran.append(payload)


@job(BROKEN, max_attempts=3)
async def _broken(context: JobContext, payload: Payload) -> None:
    raise ValueError("this payload can never work")


@job(BLOCKING)
async def _blocking(context: JobContext, payload: Payload) -> None:
    gate["entered"].set()
    await gate["release"].wait()
    ran.append(payload)


@job(QUICK, claimed_together=True)
async def _quick(context: JobContext, payload: Payload) -> None:
    """A quick job: fails while failures are left for its payload, waits at the gate when
    told to."""
    if payload.get("fails") and failures_left["n"] > 0:
        failures_left["n"] -= 1
        raise ConnectionError("the far end hung up")
    if payload.get("waits"):
        gate["entered"].set()
        await gate["release"].wait()
    ran.append(payload)
    if payload.get("last"):
        gate["last_ran"].set()


# What the together-handler did: one list of payloads per transaction it ran in.
ran_together: list[list[Payload]] = []


@job(TOGETHER, claimed_together=True)
async def _alone(context: JobContext, payload: Payload) -> None:
    if payload.get("fails"):
        raise ConnectionError("the far end hung up")
    ran.append(payload)


@run_together(TOGETHER)
async def _together(context: JobContext, payloads: list[Payload]) -> set[int]:
    """Does the jobs not marked `alone`, in one go; fails or waits at the gate as told."""
    mine = {i for i, p in enumerate(payloads) if not p.get("alone")}
    await enqueue(context.session, NOTED, {"after_batch": len(mine)})  # rolled back with it
    if any(payloads[i].get("fails") for i in mine):
        raise ConnectionError("the far end hung up")
    if any(p.get("waits") for p in payloads):
        gate["entered"].set()
        await gate["release"].wait()
    ran_together.append([payloads[i] for i in sorted(mine)])
    return mine


@pytest.fixture(autouse=True)
def _fresh_handlers() -> Iterator[None]:
    ran.clear()
    ran_together.clear()
    failures_left["n"] = 0
    gate["entered"], gate["release"] = asyncio.Event(), asyncio.Event()
    gate["last_ran"] = asyncio.Event()
    yield
    gate["release"].set()


class Clock:
    """The real time, moved on by what the test skips."""

    def __init__(self) -> None:
        self.skipped = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self.skipped

    def advance(self, seconds: float) -> None:
        self.skipped += timedelta(seconds=seconds)


async def _enqueue(app: FastAPI, name: str, payload: Payload) -> None:
    async with app.state.sessionmaker() as session:
        await enqueue(session, name, payload)
        await session.commit()


async def _jobs(app: FastAPI) -> list[Job]:
    async with app.state.sessionmaker() as session:
        return list(await session.scalars(select(Job).order_by(Job.id)))


def _worker(app: FastAPI, clock: Clock, settings: Settings | None = None) -> Worker:
    return Worker(app.state.sessionmaker, settings or app.state.settings, clock=clock)


async def test_a_job_exists_only_if_its_transaction_commits(app: FastAPI) -> None:
    async with app.state.sessionmaker() as session:
        await enqueue(session, NOTED, {"n": 1})
        await session.rollback()
    await _enqueue(app, NOTED, {"n": 2})

    assert await run_until_idle(app.state.sessionmaker, app.state.settings) == 1
    assert ran == [{"n": 2}]
    assert await _jobs(app) == []  # done jobs are deleted with their handler's work


async def test_an_unknown_job_name_is_refused_at_enqueue(app: FastAPI) -> None:
    async with app.state.sessionmaker() as session:
        with pytest.raises(LookupError):
            await enqueue(session, "test.nobody-handles-this", {})


async def test_a_job_that_fails_once_is_retried_after_its_backoff_and_succeeds(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    worker = _worker(app, clock)
    failures_left["n"] = 1
    await _enqueue(app, FLAKY, {"to": "receiver"})

    before = clock()
    with caplog.at_level(logging.WARNING, logger="conduit.jobs"):
        assert await worker.run_one()
    after = clock()
    [waiting] = await _jobs(app)
    wait = timedelta(seconds=backoff_seconds(app.state.settings, 1))
    assert (waiting.state, waiting.attempts) == ("queued", 1)
    assert before + wait <= waiting.run_at <= after + wait
    assert waiting.last_error == "ConnectionError: the far end hung up"
    [line] = [r for r in caplog.records if r.name == "conduit.jobs"]
    assert line.levelno == logging.WARNING and line.exc_info is None  # no traceback per retry
    assert line.__dict__["job"] == FLAKY and line.__dict__["attempt"] == 1

    assert not await worker.run_one()  # not due before its backoff
    clock.advance(wait.total_seconds())
    assert await worker.run_one()
    assert ran == [{"to": "receiver"}]
    assert await _jobs(app) == []


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    settings = Settings(jobs_backoff_base_seconds=2, jobs_backoff_max_seconds=30)

    waits = [backoff_seconds(settings, attempt) for attempt in range(1, 7)]

    assert waits == [2, 4, 8, 16, 30, 30]


async def test_a_job_that_always_fails_is_kept_dead_after_its_last_attempt(
    app: FastAPI, caplog: pytest.LogCaptureFixture, conduit: Conduit
) -> None:
    clock = Clock()
    worker = _worker(app, clock)
    await _enqueue(app, BROKEN, {"id": 7})

    with caplog.at_level(logging.WARNING, logger="conduit.jobs"):
        for attempt in range(1, 4):
            assert await worker.run_one(), attempt
            clock.advance(3600)
    assert not await worker.run_one()  # nothing left to claim

    [dead] = await _jobs(app)
    assert (dead.state, dead.attempts, dead.payload) == ("dead", 3, {"id": 7})
    assert dead.last_error == "ValueError: this payload can never work"
    lines = [r for r in caplog.records if r.name == "conduit.jobs"]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.WARNING, logging.ERROR]
    assert lines[-1].exc_info is not None  # one traceback, when the job is given up on

    # `conduit jobs` shows it; --retry-dead queues it again with fresh attempts.
    env = {"DATABASE_URL": app.state.settings.database_url}
    listed = await conduit.invoke_in_thread("jobs", env=env)
    assert listed.exit_code == 0, listed.output
    assert "dead      1" in listed.output
    assert f"dead job {dead.id} {BROKEN}" in listed.output
    assert "ValueError: this payload can never work" in listed.output
    retried = await conduit.invoke_in_thread("jobs", "--retry-dead", env=env)
    assert "Queued again: 1 dead job(s)" in retried.output
    [again] = await _jobs(app)
    assert (again.state, again.attempts) == ("queued", 0)
    purged = await conduit.invoke_in_thread("jobs", "--purge-dead", env=env)
    assert "Deleted: 0 dead job(s)" in purged.output


async def test_a_job_whose_worker_died_is_claimed_again_once_its_lease_runs_out(
    app: FastAPI,
) -> None:
    clock = Clock()
    await _enqueue(app, NOTED, {"n": 1})
    async with app.state.sessionmaker() as session:  # a worker claims it, then dies
        lost = await queue.claim(session, "dead-worker", clock(), lease_seconds=60)
        await session.commit()
    assert lost is not None
    worker = _worker(app, clock)

    assert not await worker.run_one()  # leased: nobody else takes it
    clock.advance(60)
    assert await worker.run_one()
    assert ran == [{"n": 1}]
    # The first worker coming back cannot finish it: its claim is no longer the job's.
    async with app.state.sessionmaker() as session:
        assert not await queue.finish(session, lost, "dead-worker")


async def test_a_job_that_kills_its_worker_every_time_ends_dead(app: FastAPI) -> None:
    clock = Clock()
    settings = app.state.settings.model_copy(update={"jobs_max_attempts": 2})
    await _enqueue(app, NOTED, {"n": 1})
    for _ in range(2):  # two workers claim it and die
        async with app.state.sessionmaker() as session:
            assert await queue.claim(session, "doomed", clock(), lease_seconds=1)
            await session.commit()
        clock.advance(1)

    assert await _worker(app, clock, settings).run_one()

    [dead] = await _jobs(app)
    assert (dead.state, dead.attempts) == ("dead", 3)
    assert ran == []


async def test_two_workers_never_run_the_same_job_at_once(app: FastAPI) -> None:
    clock = Clock()
    first, second = _worker(app, clock), _worker(app, clock)
    await _enqueue(app, BLOCKING, {"n": 1})

    holding = asyncio.create_task(first.run_one())
    await gate["entered"].wait()  # the first worker is inside the handler
    assert not await second.run_one()  # the only job is taken: the second claims nothing

    await _enqueue(app, NOTED, {"n": 2})
    assert await second.run_one()  # a different job
    assert ran == [{"n": 2}]
    gate["release"].set()
    assert await holding
    assert ran == [{"n": 2}, {"n": 1}]
    assert await _jobs(app) == []


async def test_a_stopping_worker_puts_the_job_in_hand_back_without_using_an_attempt(
    app: FastAPI,
) -> None:
    clock = Clock()
    await _enqueue(app, BLOCKING, {"n": 1})
    stop = asyncio.Event()
    running = asyncio.create_task(_worker(app, clock).run(stop))
    await gate["entered"].wait()

    running.cancel()  # shutdown's grace ran out
    await asyncio.gather(running, return_exceptions=True)

    [back] = await _jobs(app)
    assert (back.state, back.attempts, back.locked_by) == ("queued", 0, None)


async def test_quick_jobs_are_claimed_together_and_each_runs_in_its_own_transaction(
    app: FastAPI,
) -> None:
    clock = Clock()
    worker = _worker(app, clock)
    failures_left["n"] = 1
    await _enqueue(app, NOTED, {"n": 0})
    for n in range(1, 6):
        await _enqueue(app, QUICK, {"n": n, "fails": n == 3})

    # The oldest due job, and three quick ones with it; the third fails alone.
    assert await worker.run_due(4) == 4
    assert ran == [{"n": 0}, {"n": 1, "fails": False}, {"n": 2, "fails": False}]
    assert await worker.run_due(4) == 2  # the failed one waits for its backoff
    assert [p["n"] for p in ran[3:]] == [4, 5]

    clock.advance(backoff_seconds(app.state.settings, 1))
    assert await worker.run_due(4) == 1
    assert ran[-1] == {"n": 3, "fails": True}
    assert await _jobs(app) == []


async def test_jobs_of_a_kind_that_runs_together_run_in_one_transaction_the_rest_alone(
    app: FastAPI,
) -> None:
    worker = _worker(app, Clock())
    for n in range(5):
        await _enqueue(app, TOGETHER, {"n": n, "alone": n == 2})

    assert await worker.run_due(8) == 5

    assert ran_together == [[{"n": n, "alone": False} for n in (0, 1, 3, 4)]]
    assert ran == [{"n": 2, "alone": True}]  # left by the batch, run by the one-job handler
    assert [j.payload for j in await _jobs(app)] == [{"after_batch": 4}]


async def test_a_batch_that_fails_is_rolled_back_and_each_of_its_jobs_runs_alone(
    app: FastAPI,
) -> None:
    worker = _worker(app, Clock())
    await _enqueue(app, TOGETHER, {"n": 1})
    await _enqueue(app, TOGETHER, {"n": 2, "fails": True})
    await _enqueue(app, TOGETHER, {"n": 3})

    assert await worker.run_due(8) == 3

    assert ran_together == []  # nothing the batch wrote (its follow-up job) is kept
    assert ran == [{"n": 1}, {"n": 3}]
    [failed] = await _jobs(app)  # alone, it failed with its own retry and error
    assert (failed.payload, failed.state, failed.attempts) == ({"n": 2, "fails": True}, "queued", 1)
    assert failed.last_error == "ConnectionError: the far end hung up"


async def test_a_stopping_worker_puts_back_a_batch_it_was_running_and_the_rest(
    app: FastAPI,
) -> None:
    await _enqueue(app, TOGETHER, {"n": 1, "waits": True})
    await _enqueue(app, TOGETHER, {"n": 2, "alone": True})
    running = asyncio.create_task(_worker(app, Clock()).run_due(8))
    await gate["entered"].wait()

    running.cancel()
    await asyncio.gather(running, return_exceptions=True)

    jobs = await _jobs(app)
    assert [(j.name, j.state, j.attempts, j.locked_by) for j in jobs] == [
        (TOGETHER, "queued", 0, None)
    ] * 2
    assert ran == ran_together == []


async def test_slow_jobs_are_never_claimed_together(app: FastAPI) -> None:
    worker = _worker(app, Clock())
    for n in range(3):
        await _enqueue(app, NOTED, {"n": n})

    assert [await worker.run_due(8) for _ in range(4)] == [1, 1, 1, 0]


async def test_a_stopping_worker_puts_back_the_jobs_it_claimed_but_had_not_started(
    app: FastAPI,
) -> None:
    await _enqueue(app, QUICK, {"n": 1, "waits": True})
    await _enqueue(app, QUICK, {"n": 2})
    running = asyncio.create_task(_worker(app, Clock()).run_due(8))
    await gate["entered"].wait()  # both claimed, the first in its handler

    running.cancel()
    await asyncio.gather(running, return_exceptions=True)

    jobs = await _jobs(app)
    assert [(j.state, j.attempts, j.locked_by) for j in jobs] == [("queued", 0, None)] * 2
    assert ran == []


async def test_the_worker_counts_outcomes_and_the_queue_in_metrics(app: FastAPI) -> None:
    def sample(metric: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(metric, labels) or 0.0

    clock = Clock()
    worker = _worker(app, clock)
    succeeded = sample("conduit_jobs_run_total", name=NOTED, outcome="succeeded")
    await _enqueue(app, NOTED, {"n": 1})
    await _enqueue(app, BROKEN, {"n": 2})

    assert await worker.run_one() and await worker.run_one()
    await worker.observe_queue()

    assert sample("conduit_jobs_run_total", name=NOTED, outcome="succeeded") == succeeded + 1
    assert sample("conduit_jobs_run_total", name=BROKEN, outcome="retried") >= 1
    assert sample("conduit_jobs", state="queued") == 1
    assert sample("conduit_job_latency_seconds_count", name=NOTED) >= 1


async def test_a_claim_in_progress_is_skipped_not_waited_for(
    app: FastAPI, is_postgres: bool
) -> None:
    """PostgreSQL: two workers' claims at the same moment (SELECT ... FOR UPDATE SKIP LOCKED)."""
    if not is_postgres:
        pytest.skip("SQLite runs one writer at a time: its claims never overlap")
    await _enqueue(app, NOTED, {"n": 1})
    now = utc_now()
    async with app.state.sessionmaker() as first:
        assert await queue.claim(first, "first", now, lease_seconds=60)  # not committed yet
        async with app.state.sessionmaker() as second, asyncio.timeout(30):
            assert await queue.claim(second, "second", now, lease_seconds=60) is None
            await second.rollback()
        await first.rollback()


def _waiting(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> tuple[Worker, asyncio.Event]:
    """A one-slot worker polling once an hour, and an event set when its slot sleeps with no
    wake-up pending (and, on PostgreSQL, LISTEN on): only a new wake-up can get it a job."""
    settings = app.state.settings.model_copy(
        update={"jobs_poll_interval_seconds": 3600.0, "jobs_concurrency": 1}
    )
    worker, asleep = Worker(app.state.sessionmaker, settings), asyncio.Event()
    idle = worker_module._idle

    async def noted(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
        if not wake.is_set() and (settings.is_sqlite or worker.listening.is_set()):
            asleep.set()
        await idle(stop, wake, seconds)

    monkeypatch.setattr(worker_module, "_idle", noted)
    return worker, asleep


@asynccontextmanager
async def _running(worker: Worker) -> AsyncIterator[None]:
    """The worker runs until the block ends (a hang guard: its poll would take an hour); then
    any blocked job is let go and the worker stops."""
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(30):
            yield
    finally:
        gate["release"].set()
        stop.set()
        await running


def _counting_claims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, how many claims the workers make (the one element of the list)."""
    claims, claim_some = [0], queue.claim_some

    async def counted(*args: Any, **kwargs: Any) -> list[queue.Claimed]:
        claims[0] += 1
        return await claim_some(*args, **kwargs)

    monkeypatch.setattr(queue, "claim_some", counted)
    return claims


async def _enqueue_from_another_process(app: FastAPI, name: str, payload: Payload) -> None:
    """A commit this process's workers are not told of: only PostgreSQL's NOTIFY reaches them."""
    async with app.state.sessionmaker() as session:
        await enqueue(session, name, payload)
        session.info.pop(queue.ENQUEUED)
        await session.commit()


async def _runs_job_while_asleep(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, enqueue_it: Callable[[], Awaitable[None]]
) -> None:
    worker, asleep = _waiting(app, monkeypatch)
    async with _running(worker):
        await asleep.wait()
        await enqueue_it()
        await gate["entered"].wait()
    assert ran == [{"n": 1}]


async def test_a_commit_that_enqueued_wakes_the_idle_worker_of_its_process(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _runs_job_while_asleep(app, monkeypatch, lambda: _enqueue(app, BLOCKING, {"n": 1}))


async def test_a_job_committed_elsewhere_wakes_an_idle_worker_through_notify(
    app: FastAPI, is_postgres: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not is_postgres:
        pytest.skip("SQLite has no LISTEN/NOTIFY: other processes' jobs wait for the poll")
    await _runs_job_while_asleep(
        app, monkeypatch, lambda: _enqueue_from_another_process(app, BLOCKING, {"n": 1})
    )


async def test_a_new_job_wakes_one_idle_slot_not_every_slot(
    app: FastAPI, is_postgres: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app.state.settings.model_copy(
        update={"jobs_poll_interval_seconds": 3600.0, "jobs_concurrency": 3}
    )
    worker, claims = Worker(app.state.sessionmaker, settings), _counting_claims(monkeypatch)
    all_asleep, idle = asyncio.Event(), worker_module._idle

    async def noted(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
        listening = settings.is_sqlite or worker.listening.is_set()
        if len(worker_module._idle_wakers) == 3 and not wake.is_set() and listening:
            all_asleep.set()
        await idle(stop, wake, seconds)

    monkeypatch.setattr(worker_module, "_idle", noted)
    async with _running(worker):
        await all_asleep.wait()
        claims[0] = 0
        # One wake-up: this process's commit on SQLite, another's NOTIFY on PostgreSQL.
        enqueue_it = _enqueue_from_another_process if is_postgres else _enqueue
        await enqueue_it(app, BLOCKING, {"n": 1})
        await gate["entered"].wait()
        assert (claims[0], len(worker_module._idle_wakers)) == (1, 2)
    assert ran == [{"n": 1}]


async def test_a_woken_slot_gathers_the_jobs_right_behind_the_first_into_one_claim(
    app: FastAPI, is_postgres: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, asleep = _waiting(app, monkeypatch)
    gathered, first_enqueued = asyncio.Event(), asyncio.Event()

    async def second_job_meanwhile(stop: asyncio.Event, seconds: float) -> None:
        if first_enqueued.is_set() and not gathered.is_set():  # while the woken slot gathers
            await _enqueue(app, QUICK, {"n": 2, "last": True})
            gathered.set()

    monkeypatch.setattr(worker_module, "_gather", second_job_meanwhile)
    async with _running(worker):
        await asleep.wait()
        claims = _counting_claims(monkeypatch)
        enqueue_it = _enqueue_from_another_process if is_postgres else _enqueue
        first_enqueued.set()  # the slot, asleep, is woken by this enqueue alone
        await enqueue_it(app, QUICK, {"n": 1})
        await gate["last_ran"].wait()
        claims_when_both_ran = claims[0]
    assert ran == [{"n": 1}, {"n": 2, "last": True}]
    assert claims_when_both_ran == 1  # the second job came with the first


async def test_a_lost_listen_connection_is_opened_again_and_catches_up(
    app: FastAPI, is_postgres: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not is_postgres:
        pytest.skip("SQLite has no LISTEN/NOTIFY")
    monkeypatch.setattr(worker_module, "RELISTEN_SECONDS", 0.0)

    async def kill_the_listener_then_enqueue() -> None:
        async with app.state.sessionmaker() as session:
            killed = await session.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": worker_module.LISTEN_APPLICATION_NAME},
            )
            await session.commit()
        assert killed == 1
        await _enqueue_from_another_process(app, BLOCKING, {"n": 1})

    await _runs_job_while_asleep(app, monkeypatch, kill_the_listener_then_enqueue)
