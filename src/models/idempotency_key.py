"""Idempotency-Key: a user's first answer to a keyed write, kept to replay to its retries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base, UTCDateTime

# What a key can be: claimed by a request still running, or holding that request's answer.
IDEMPOTENCY_STATES = ("running", "done")


class IdempotencyKey(Base):
    """One (user, key): the request it was first used with (its fingerprint), and once that
    finished its status, replayed headers and body (src/services/idempotency.py). A running
    row is its request's claim until `locked_until`; after `expires_at` the key may be reused."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        # The sweep of expired rows (and their reuse) reads them in expiry order.
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 (hex) of the method, path, query and body of the request first sent with the key.
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    # Which request holds the claim: a request whose lease was taken over writes nothing.
    owner: Mapped[str] = mapped_column(String(32))
    status: Mapped[int | None] = mapped_column(SmallInteger)
    headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
