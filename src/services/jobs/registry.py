"""Job handlers by name: one registry, filled by the `@job` decorator where a handler lives."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from src.core.config import Settings
from src.models.base import utc_now

# The modules that declare handlers; a worker imports them all before it claims a job.
HANDLER_MODULES = (
    "src.services.feeds",
    "src.services.mail.outbox",
    "src.services.account_email",
    "src.services.webhooks.delivery",
    "src.services.media.user_images",
)

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler runs with: a session whose transaction also deletes the job (commit
    nothing yourself; enqueue follow-up jobs on it), the worker's settings, and its clock
    (tests move it)."""

    session: AsyncSession
    settings: Settings
    clock: Callable[[], datetime] = utc_now


Handler = Callable[[JobContext, Payload], Awaitable[None]]
# Runs several claimed jobs of one kind in one transaction; the positions (in `payloads`) of
# those it did, the others left for the handler, one at a time.
TogetherHandler = Callable[[JobContext, list[Payload]], Awaitable[set[int]]]


@dataclass(frozen=True, slots=True)
class JobType:
    name: str
    handler: Handler
    max_attempts: int | None  # None: the worker's JOBS_MAX_ATTEMPTS
    claimed_together: bool  # quick jobs: a worker claims several in one statement
    run_together: TogetherHandler | None = None  # and may run them in one transaction


_handlers: dict[str, JobType] = {}


def job(
    name: str, *, max_attempts: int | None = None, claimed_together: bool = False
) -> Callable[[Handler], Handler]:
    """Register `handler` under `name`, the name jobs are enqueued and stored with.

    Handlers run at least once, so each must be idempotent: run twice with one payload, it
    leaves what running once leaves (conflict-ignoring inserts, deletes, state it checks).
    `claimed_together`: a quick job that only talks to the database; a worker slot claims up
    to JOBS_CLAIM_BATCH of them at once and runs them in turn, never a slow job (mail, HTTP)
    that would hold the others back.
    """

    def register(handler: Handler) -> Handler:
        known = _handlers.get(name)
        if known is not None and known.handler is not handler:
            raise ValueError(f"job {name!r} is registered twice")
        _handlers[name] = JobType(name, handler, max_attempts, claimed_together)
        claimed_together_kinds.cache_clear()
        return handler

    return register


def run_together(name: str) -> Callable[[TogetherHandler], TogetherHandler]:
    """Register how several claimed jobs `name` (a kind claimed together, registered first)
    run in one transaction and a few statements instead of one transaction each. It does
    what the one-at-a-time handler would do for each job it reports done, and leaves any
    other to that handler; if it raises, its transaction is rolled back and every job runs
    alone (docs/architecture.md, "Claimed together")."""

    def register(handler: TogetherHandler) -> TogetherHandler:
        known = _handlers.get(name)
        if known is None or not known.claimed_together:
            raise ValueError(f"job {name!r} is not a kind claimed together")
        _handlers[name] = replace(known, run_together=handler)
        return handler

    return register


def job_type(name: str) -> JobType | None:
    return _handlers.get(name)


@cache  # asked on every claim; a registration clears it
def claimed_together_kinds() -> tuple[str, ...]:
    """The names of the job types a worker claims several at a time."""
    return tuple(sorted(name for name, known in _handlers.items() if known.claimed_together))


def load_handlers() -> None:
    """Import every module that declares handlers (a worker does, before its first claim)."""
    for module in HANDLER_MODULES:
        importlib.import_module(module)
