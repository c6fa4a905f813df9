"""`auth_sessions.password_verified_at`: when the session last proved the user's password.

Changing the password or the email needs a proof within REAUTH_WINDOW_SECONDS
(src/services/users.py). Existing sessions are left null, which counts as not recent: their
holders send `currentPassword` once. Downgrade drops the column.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "auth_sessions",
        sa.Column("password_verified_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("auth_sessions", "password_verified_at")  # plain DROP COLUMN, SQLite 3.35+
