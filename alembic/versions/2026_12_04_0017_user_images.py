"""Uploaded profile pictures: `users.image_key`, the stored object behind `users.image`.

Null for every existing user (their `image`, if any, is a URL they typed). Set by
PUT /api/user/image, cleared by DELETE /api/user/image; the object it names is deleted by a
job when it is replaced, removed or its account deleted (src/services/media). Downgrade drops
the column; the stored objects stay where they are.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("image_key", sa.String(length=255), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "image_key")  # plain DROP COLUMN, SQLite 3.35+
