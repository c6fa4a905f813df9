"""Read counters: exact maintained counts behind articlesCount.

users.articles_count, users.favorites_count, tags.articles_count and the counters table are
kept exact by the writes (src/services/counters.py); this migration fills them from the rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("articles_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("favorites_count", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("articles_count", sa.Integer(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE users SET "
        "articles_count = (SELECT count(*) FROM articles WHERE articles.author_id = users.id), "
        "favorites_count = (SELECT count(*) FROM favorites WHERE favorites.user_id = users.id)"
    )
    op.execute(
        "UPDATE tags SET articles_count = "
        "(SELECT count(*) FROM article_tags WHERE article_tags.tag_id = tags.id)"
    )
    op.execute("INSERT INTO counters (name, value) SELECT 'articles', count(*) FROM articles")


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+ too): no batch copy of `users`, whose
    # expression index SQLite reflection cannot read.
    op.drop_column("tags", "articles_count")
    op.drop_column("users", "favorites_count")
    op.drop_column("users", "articles_count")
    op.drop_table("counters")
