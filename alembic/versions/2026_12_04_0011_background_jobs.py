"""Background jobs: the `jobs` table (src/services/jobs) and the feed entries by article.

The feed's fan-out moves into jobs; a job that removes a deleted article from the feeds finds
its entries by `article_id`, whoever follows the author by then (src/services/feeds.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index(
        "ix_jobs_due",
        "jobs",
        ["run_at"],
        postgresql_where=sa.text("state <> 'dead'"),
        sqlite_where=sa.text("state <> 'dead'"),
    )
    op.create_index("ix_feed_entries_article_id", "feed_entries", ["article_id"])


def downgrade() -> None:
    op.drop_index("ix_feed_entries_article_id", table_name="feed_entries")
    op.drop_index("ix_jobs_due", table_name="jobs")
    op.drop_table("jobs")
