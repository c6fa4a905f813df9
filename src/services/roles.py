"""Roles: `user` (everyone) and `admin` (moderation and account administration)."""

from __future__ import annotations

from src.models import User
from src.models.user import ROLE_ADMIN


def is_admin(user: User) -> bool:
    return user.role == ROLE_ADMIN
