from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base, UTCDateTime

# What a job can be: waiting (or waiting for its retry), claimed by a worker, or given up on.
JOB_STATES = ("queued", "running", "dead")


class Job(Base):
    """One unit of work after a response (src/services/jobs): the transactional outbox.

    Enqueued in the transaction of the write that causes it, deleted when its handler's
    transaction commits, kept as `dead` after its last attempt. `run_at` is when it may next
    be claimed: for a queued job its (retry) time, for a running one the end of its lease, so
    a crashed worker's job becomes claimable again by the same condition.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        # The claim's scan: live jobs in the order they fall due; dead ones are not in it.
        Index(
            "ix_jobs_due",
            "run_at",
            postgresql_where=text("state <> 'dead'"),
            sqlite_where=text("state <> 'dead'"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
