"""The feed, fanned out on write: `feed_entries` and `feed_counts` (src/services/feeds.py).

A feed page becomes a range scan of the viewer's entries, and its total one row, instead of a
lookup of every followed author (~50) per request. Backfilled from the follows and articles
(~50 rows per article at the seed's shape). `users.last_article_at` only bounded the old feed
statement's scan: dropped. Downgrade restores it (recomputed) and drops the tables.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_counts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("articles_count", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_feed_counts_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_feed_counts"),
    )
    op.create_table(
        "feed_entries",
        sa.Column("follower_id", sa.Integer(), nullable=False),
        sa.Column("article_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["follower_id"],
            ["feed_counts.user_id"],
            name="fk_feed_entries_follower_id_feed_counts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "follower_id", "article_created_at", "article_id", name="pk_feed_entries"
        ),
    )
    op.execute(
        "INSERT INTO feed_counts (user_id, articles_count) "
        "SELECT follows.follower_id, count(articles.id) FROM follows "
        "LEFT JOIN articles ON articles.author_id = follows.followee_id "
        "GROUP BY follows.follower_id"
    )
    op.execute(
        "INSERT INTO feed_entries (follower_id, article_created_at, article_id) "
        "SELECT follows.follower_id, articles.created_at, articles.id FROM follows "
        "JOIN articles ON articles.author_id = follows.followee_id"
    )
    op.drop_column("users", "last_article_at")


def downgrade() -> None:
    op.add_column("users", sa.Column("last_article_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE users SET last_article_at = "
        "(SELECT max(articles.created_at) FROM articles WHERE articles.author_id = users.id)"
    )
    op.drop_table("feed_entries")
    op.drop_table("feed_counts")
