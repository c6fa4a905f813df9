"""The service's one background-job engine: a table in the app's own database.

Enqueue with `enqueue(session, name, payload)` inside the write's transaction; declare the
handler with `@job(name)`. Why this and not a library, and what it promises:
docs/architecture.md, "Background jobs".
"""

from src.services.jobs.queue import enqueue
from src.services.jobs.registry import JobContext, Payload, job, run_together
from src.services.jobs.worker import InProcessWorker, Worker, run_until_idle

__all__ = [
    "InProcessWorker",
    "JobContext",
    "Payload",
    "Worker",
    "enqueue",
    "job",
    "run_together",
    "run_until_idle",
]
