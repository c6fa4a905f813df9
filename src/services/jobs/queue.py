"""The jobs table's statements: enqueue, claim, finish, fail, and what `conduit jobs` shows.

Every statement is built once. Times are the worker's clock, passed in, so tests can move it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    bindparam,
    delete,
    event,
    func,
    insert,
    literal,
    select,
    tuple_,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from src.models import Job
from src.models.base import UTCDateTime, utc_now
from src.services.jobs.registry import Payload, claimed_together_kinds, job_type
from src.services.sql import run_alone, table_of

QUEUED, RUNNING, DEAD = "queued", "running", "dead"
STATES = (QUEUED, RUNNING, DEAD)
ERROR_MAX_CHARS = 2000
# Marks a session whose commit makes new jobs due (src/services/jobs/worker.py wakes on it).
ENQUEUED = "conduit_jobs_enqueued"
# PostgreSQL: workers LISTEN on this channel; a transaction that enqueued notifies it, and
# PostgreSQL delivers the notification only if that transaction commits.
CHANNEL = "conduit_jobs"
# Marks a session whose transaction has notified already (enqueue's statement does it).
NOTIFIED = "conduit_jobs_notified"
_NOTIFY = select(func.pg_notify(CHANNEL, ""))

_NOW = bindparam("now", type_=UTCDateTime())
_WORKER = bindparam("worker", type_=String())
_ATTEMPT = bindparam("attempt", type_=Integer())
_JOB_ID = bindparam("job_id", type_=BigInteger())


JOB_COLUMNS = ["name", "payload", "state", "attempts", "run_at", "created_at"]


def job_row(name: Any, payload: Any, run_at: Any) -> Any:
    """A new job's values in JOB_COLUMNS' order, queued with no attempt yet, created `now`:
    the one shape every insert of a job selects (`insert(Job).from_select(JOB_COLUMNS, ...)`)."""
    return select(name, payload, literal(QUEUED, String()), literal(0, Integer()), run_at, _NOW)


def _enqueue(dialect: str) -> Any:
    row = job_row(
        bindparam("name", type_=String()),
        bindparam("payload", type_=Job.payload.type),
        bindparam("run_at", type_=UTCDateTime()),
    )
    if dialect == "postgresql":
        # The notification rides on the insert: no round trip of its own.
        row = row.select_from(func.pg_notify(CHANNEL, ""))
    return insert(table_of(Job)).from_select(JOB_COLUMNS, row)


def enqueue_for_each(name: str, payload: Any, source: Any) -> Any:
    """PostgreSQL: the job `name` due now (`now`), one per row of `source`, its payload built
    in SQL from that row: a CTE of a write's own statement, so the job exists if and only if
    the write does. The notification rides on it; the session's `enqueued` marks it
    (`mark_enqueued`)."""
    if job_type(name) is None:
        raise LookupError(f"no job handler is registered as {name!r}")
    row = job_row(literal(name, String()), payload, _NOW)
    row = row.select_from(source, func.pg_notify(CHANNEL, ""))
    return insert(table_of(Job)).from_select(JOB_COLUMNS, row)


def mark_enqueued(session: AsyncSession) -> None:
    """A statement of the caller's inserted jobs and notified the workers (`enqueue_for_each`):
    the session's commit wakes this process's worker."""
    session.info[ENQUEUED] = True
    session.info[NOTIFIED] = True


_ENQUEUE = {dialect: _enqueue(dialect) for dialect in ("postgresql", "sqlite")}


@functools.cache
def _claim(dialect: str, together: tuple[str, ...]) -> Any:
    """The oldest due job, and up to `more` other due jobs of the kinds `together`; each
    part's rows in the order they fell due. The kinds are part of the statement (built once
    per set of kinds), not an expanding parameter rendered again at every claim."""
    due = select(Job.id).where(Job.state != DEAD, Job.run_at <= _NOW).order_by(Job.run_at)
    kinds = [literal(name, String()) for name in together] or [literal(None, String())]
    parts = [due.limit(1), due.where(Job.name.in_(kinds)).limit(bindparam("more", Integer()))]
    if dialect == "postgresql":
        # Another worker's claimed rows are skipped, not waited for.
        parts = [part.with_for_update(skip_locked=True) for part in parts]
    # Each part a subquery of its own: SQLite takes no LIMIT on a bare member of a UNION.
    claimed = union(*(select(part.subquery().c.id) for part in parts))
    return (
        update(Job)
        .where(Job.id.in_(claimed))
        .values(
            state=RUNNING,
            attempts=Job.attempts + 1,
            run_at=bindparam("lease_until", type_=UTCDateTime()),
            locked_by=_WORKER,
        )
        .returning(Job.id, Job.name, Job.payload, Job.attempts, Job.created_at)
    )


# Ours only while the claim is: a worker whose lease ran out and was re-claimed matches nothing.
_OURS = (Job.id == _JOB_ID, Job.locked_by == _WORKER, Job.attempts == _ATTEMPT)
_FINISH = delete(Job).where(*_OURS)
_FINISH_ALL = delete(Job).where(
    tuple_(Job.id, Job.attempts).in_(bindparam("claims", expanding=True)),
    Job.locked_by == _WORKER,
)
_RESCHEDULE = (
    update(Job)
    .where(*_OURS)
    .values(
        state=bindparam("state"),
        run_at=bindparam("run_at", type_=UTCDateTime()),
        attempts=bindparam("attempts"),
        locked_by=None,
        last_error=bindparam("error"),
    )
)
_COUNTS = select(Job.state, func.count()).group_by(Job.state)
_OLDEST_DUE = select(func.min(Job.created_at)).where(Job.state == QUEUED, Job.run_at <= _NOW)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    name: str
    payload: Payload
    attempt: int
    created_at: datetime


async def enqueue(
    session: AsyncSession, name: str, payload: Payload, *, delay_seconds: float = 0.0
) -> None:
    """Add a job in the session's transaction: it exists if and only if that commits."""
    if job_type(name) is None:
        raise LookupError(f"no job handler is registered as {name!r}")
    now = utc_now()
    dialect = session.get_bind().dialect.name
    await session.execute(
        _ENQUEUE[dialect],
        {
            "name": name,
            "payload": payload,
            "now": now,
            "run_at": now + timedelta(seconds=delay_seconds),
        },
    )
    session.info[ENQUEUED] = True
    if dialect == "postgresql":
        session.info[NOTIFIED] = True


@event.listens_for(Session, "before_commit")
def _notify_workers(session: Session) -> None:
    """Jobs inserted by a statement of their own (webhooks' events) notify here, once."""
    if not session.info.get(ENQUEUED) or session.info.get(NOTIFIED):
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_NOTIFY)
        session.info[NOTIFIED] = True


async def claim(
    session: AsyncSession, worker: str, now: datetime, lease_seconds: float
) -> Claimed | None:
    """The next due job (or one whose lease ran out), marked running for `lease_seconds`."""
    claimed = await claim_some(session, worker, now, lease_seconds, limit=1)
    return claimed[0] if claimed else None


async def claim_some(
    session: AsyncSession, worker: str, now: datetime, lease_seconds: float, *, limit: int
) -> list[Claimed]:
    """As `claim`, and with it up to `limit - 1` more due jobs of the kinds claimed together
    (registry.job's `claimed_together`), in the order they were enqueued."""
    params = {
        "now": now,
        "worker": worker,
        "lease_until": now + timedelta(seconds=lease_seconds),
        "more": limit - 1,
    }
    dialect = session.get_bind().dialect.name
    claim = _claim(dialect, claimed_together_kinds() if limit > 1 else ())
    # One statement, its own transaction: on PostgreSQL straight on asyncpg (sql.run_alone).
    rows = await run_alone(session, claim, params)
    claimed = [
        Claimed(int(row.id), row.name, _payload_of(row.payload), int(row.attempts), row.created_at)
        for row in rows
    ]
    return sorted(claimed, key=lambda job: job.id)


def _payload_of(stored: Any) -> Payload:
    """A claimed job's payload: its JSON text when the claim ran straight on asyncpg (which
    leaves `json` columns as text), already decoded when it ran through SQLAlchemy."""
    payload: Payload = orjson.loads(stored) if isinstance(stored, str) else dict(stored)
    return payload


async def finish(session: AsyncSession, job: Claimed, worker: str) -> bool:
    """Delete the job in the handler's transaction; False if the claim was lost meanwhile."""
    params = {"job_id": job.id, "worker": worker, "attempt": job.attempt}
    result = await (await session.connection()).execute(_FINISH, params)
    return bool(getattr(result, "rowcount", 0))


async def finish_all(session: AsyncSession, jobs: list[Claimed], worker: str) -> bool:
    """`finish` for several jobs in one statement; False if any claim was lost meanwhile."""
    params = {"claims": [(job.id, job.attempt) for job in jobs], "worker": worker}
    result = await (await session.connection()).execute(_FINISH_ALL, params)
    return int(getattr(result, "rowcount", 0)) == len(jobs)


async def reschedule(
    session: AsyncSession,
    job: Claimed,
    worker: str,
    *,
    state: str,
    run_at: datetime,
    attempts: int,
    error: str | None,
) -> None:
    """Back to the queue (a retry, or a release at shutdown) or kept as dead."""
    await session.execute(
        _RESCHEDULE,
        {
            "job_id": job.id,
            "worker": worker,
            "attempt": job.attempt,
            "state": state,
            "run_at": run_at,
            "attempts": attempts,
            "error": error[:ERROR_MAX_CHARS] if error is not None else None,
        },
    )


async def counts(session: AsyncSession) -> dict[str, int]:
    """Jobs by state, every state present (zero when none)."""
    found = {str(state): int(n) for state, n in await session.execute(_COUNTS)}
    return {state: found.get(state, 0) for state in STATES}


async def oldest_due(session: AsyncSession, now: datetime) -> datetime | None:
    """When the oldest job that could run now was enqueued (None when none waits)."""
    created: datetime | None = await session.scalar(_OLDEST_DUE, {"now": now})
    return created


async def dead_jobs(session: AsyncSession, limit: int = 100) -> list[Job]:
    """The dead jobs, oldest first, for inspection."""
    query = select(Job).where(Job.state == DEAD).order_by(Job.id).limit(limit)
    return list(await session.scalars(query))


async def retry_dead(session: AsyncSession) -> int:
    """Every dead job queued again with fresh attempts; how many."""
    result = await session.execute(
        update(Job)
        .where(Job.state == DEAD)
        .values(state=QUEUED, attempts=0, run_at=utc_now(), locked_by=None)
    )
    return int(getattr(result, "rowcount", 0))


async def purge_dead(session: AsyncSession) -> int:
    """Every dead job deleted; how many."""
    result = await session.execute(delete(Job).where(Job.state == DEAD))
    return int(getattr(result, "rowcount", 0))
