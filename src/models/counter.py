from __future__ import annotations

from sqlalchemy import BigInteger, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base


class Counter(Base):
    """Named running totals kept exact by the writes (see src/services/counters.py).

    The total named "articles" (the unfiltered `articlesCount`) is the sum of its shard rows,
    so writers by different authors never wait on one row (docs/performance.md, "Counts").
    """

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=0)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
