from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base


class Counter(Base):
    """Named running totals kept exact by the writes (see src/services/counters.py).

    One row, "articles", holds the number of articles: the unfiltered `articlesCount`.
    """

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
