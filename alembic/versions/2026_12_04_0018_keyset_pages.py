"""Keyset (cursor) pages and bounded comment reads.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 18:30:00
"""

from collections.abc import Sequence

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
