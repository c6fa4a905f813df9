"""API keys (personal access tokens): stored as their secret's digest, with their scopes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base, UTCDateTime, utc_now

API_KEY_NAME_MAX_LENGTH = 100


class ApiKey(Base):
    """One key: `id` is the one in its secret (`cdt_<id>...`), `secret_digest` its SHA-256.
    A revoked key keeps its row (for the record) and stops working at once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(API_KEY_NAME_MAX_LENGTH))
    # Scope names separated by spaces (src/services/scopes.py).
    scopes: Mapped[str] = mapped_column(String(200))
    secret_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Written at most once a minute per key, not once per request (src/services/api_keys.py).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
