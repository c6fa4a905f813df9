from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, func, true
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base, UTCDateTime, utc_now

USERNAME_MAX_LENGTH = 39
ROLE_USER = "user"
ROLE_ADMIN = "admin"
EMAIL_MAX_LENGTH = 254


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX_LENGTH))
    # Stored lower-cased, so a plain unique constraint makes it case-insensitive.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    bio: Mapped[str | None] = mapped_column(String(2000), default=None)
    image: Mapped[str | None] = mapped_column(String(2048), default=None)
    # The stored object behind `image` when the user uploaded it (src/services/media).
    image_key: Mapped[str | None] = mapped_column(String(255), default=None)
    role: Mapped[str] = mapped_column(String(16), default=ROLE_USER, server_default=ROLE_USER)
    # A deactivated user cannot log in, and every token they hold is refused.
    is_active: Mapped[bool] = mapped_column(Boolean(), default=True, server_default=true())
    # When the current address was confirmed by a link sent to it; null: not (yet) verified.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Maintained counts behind ?author= and ?favorited= (src/services/counters.py).
    articles_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    favorites_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Follow(Base):
    """`follower` follows `followee`."""

    __tablename__ = "follows"

    follower_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Second PK column: the reverse lookup ("who follows X") has its own index, below.
    followee_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


# An author's followers in follower order: the fan-out's keyset steps read a step's worth
# (migration 0022).
Index("ix_follows_followee_id_follower_id", Follow.followee_id, Follow.follower_id)


# Usernames are unique regardless of case; the display spelling is kept.
Index("uq_users_username_lower", func.lower(User.username), unique=True)
