"""Single-use tokens sent by e-mail: address verification, e-mail change, password reset."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base, UTCDateTime, utc_now
from src.models.user import EMAIL_MAX_LENGTH

# What a token may do; one token does exactly one of these.
PURPOSE_VERIFY_EMAIL = "verify_email"
PURPOSE_CHANGE_EMAIL = "change_email"
PURPOSE_RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose's name, not a secret


class AccountToken(Base):
    """A token stored only as its SHA-256, bound to its purpose and to the account state it
    was issued for (`binding`: a digest of the password hash or of the address), so it dies
    when that changes, when it expires, or once `used_at` is set."""

    __tablename__ = "account_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    # The address the token was sent to: for an e-mail change, the new address to take on.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    binding: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
