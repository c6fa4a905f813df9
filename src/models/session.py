"""Login sessions (refresh-token families) and the refresh tokens issued in them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base, UTCDateTime, utc_now


class AuthSession(Base):
    """One login: every access token carries its id (`sid`); revoking it ends them all."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # When the password was last proven in this session (login, registration, or a sent
    # `currentPassword`); refreshes leave it alone. Changing the password or the email needs a
    # recent one (REAUTH_WINDOW_SECONDS). Null: never, as for sessions older than the column.
    password_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class RefreshToken(Base):
    """A refresh token, stored only as its SHA-256; `used_at` is set when it is rotated."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
