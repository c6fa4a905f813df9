"""Prometheus metrics, correct with one process or several (multiprocess mode).

Multiprocess mode is on when PROMETHEUS_MULTIPROC_DIR is set before this module is imported;
`conduit serve --workers N` (N > 1) sets it up itself.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from src import __version__

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LABELS = ("method", "route", "status")

REQUESTS = Counter("conduit_http_requests", "HTTP requests served.", LABELS)
LATENCY = Histogram(
    "conduit_http_request_duration_seconds",
    "Time to serve an HTTP request.",
    LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_PROGRESS = Gauge(
    "conduit_http_requests_in_progress",
    "HTTP requests being served now.",
    multiprocess_mode="livesum",
)
DB_POOL = Gauge(
    "conduit_db_pool_connections",
    "Database pool connections by state (size, checked_out, overflow), summed over workers.",
    ["state"],
    multiprocess_mode="livesum",
)
APP_INFO = Gauge(
    "conduit_app_info",
    "Always 1; the labels say which version runs (one sample per worker in multiprocess mode).",
    ["version"],
    multiprocess_mode="liveall",
)

# Background jobs (src/services/jobs): outcomes and times by job name (names are declared in
# code, so the label set is bounded), and the queue as the last worker to look saw it.
JOBS_RUN = Counter(
    "conduit_jobs_run",
    "Job attempts finished, by job name and outcome (succeeded, retried, dead, lost).",
    ["name", "outcome"],
)
JOB_DURATION = Histogram(
    "conduit_job_duration_seconds",
    "Time a job's handler ran, by job name.",
    ["name"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
JOB_LATENCY = Histogram(
    "conduit_job_latency_seconds",
    "Time from enqueue to the end of a job's successful attempt, by job name.",
    ["name"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
JOBS = Gauge(
    "conduit_jobs",
    "Jobs in the queue by state (queued, running, dead).",
    ["state"],
    multiprocess_mode="livemostrecent",
)
JOBS_OLDEST_AGE = Gauge(
    "conduit_jobs_oldest_age_seconds",
    "Age of the oldest job that is due and not yet claimed (0: none waits).",
    multiprocess_mode="livemostrecent",
)


def observe_job(name: str, outcome: str, seconds: float, latency: float | None) -> None:
    JOBS_RUN.labels(name, outcome).inc()
    JOB_DURATION.labels(name).observe(seconds)
    if latency is not None:
        JOB_LATENCY.labels(name).observe(latency)


def observe_queue(by_state: dict[str, int], oldest_age_seconds: float) -> None:
    for state, count in by_state.items():
        JOBS.labels(state).set(count)
    JOBS_OLDEST_AGE.set(oldest_age_seconds)


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def mark_started() -> None:
    APP_INFO.labels(version=__version__).set(1)


def mark_stopped() -> None:
    """Drop this worker's live gauges (in-flight, pool, info) from the aggregate."""
    if multiprocess_enabled():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


# Per-request bookkeeping stays cheap: each label set's children are looked up once (routes
# are templates, so the set is bounded), and pool gauges are written when they change.
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_pool_seen: dict[str, int] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    children = _request_children.get(key)
    if children is None:
        labels = (method, route, str(status))
        children = _request_children[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
    children[0].inc()
    children[1].observe(seconds)


def _set_pool_gauge(state: str, value: int) -> None:
    if _pool_seen.get(state) != value:
        _pool_seen[state] = value
        DB_POOL.labels(state=state).set(value)


def observe_pool(engine: AsyncEngine) -> None:
    pool = engine.pool
    if isinstance(pool, QueuePool):
        _set_pool_gauge("size", pool.size())
        _set_pool_gauge("checked_out", pool.checkedout())
        _set_pool_gauge("overflow", max(pool.overflow(), 0))


def render(engine: AsyncEngine) -> tuple[bytes, str]:
    """The exposition text (every worker's samples in multiprocess mode) and its media type."""
    observe_pool(engine)
    if multiprocess_enabled():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def prepare_multiprocess(workers: int) -> str | None:
    """Before workers start: make sure several workers share one metrics directory.

    With PROMETHEUS_MULTIPROC_DIR set, its stale files (from a previous run) are removed; with
    more than one worker and none set, a fresh temporary directory is created and returned (the
    caller removes it at exit). Workers inherit the variable, so they import in multiprocess mode.
    """
    directory = os.environ.get(MULTIPROC_ENV)
    created = None
    if not directory and workers > 1:
        directory = created = tempfile.mkdtemp(prefix="conduit-metrics-")
        os.environ[MULTIPROC_ENV] = directory
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    return created
