"""Pulled authors: the feed reads their articles at read time instead of fanning them out.

`feed_pulled_authors` lists the authors whose articles are not copied into their followers'
feeds; `feed_pulls` holds, for each follower of one, the pull the feed page merges
(src/services/feeds.py, "Pulled authors").

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-04 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_pulled_authors",
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name="fk_feed_pulled_authors_author_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("author_id", name="pk_feed_pulled_authors"),
    )
    op.create_table(
        "feed_pulls",
        sa.Column("follower_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name="fk_feed_pulls_author_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["follower_id"],
            ["users.id"],
            name="fk_feed_pulls_follower_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("follower_id", "author_id", name="pk_feed_pulls"),
    )
    op.create_index("ix_feed_pulls_author_id", "feed_pulls", ["author_id"])


def downgrade() -> None:
    op.drop_index("ix_feed_pulls_author_id", table_name="feed_pulls")
    op.drop_table("feed_pulls")
    op.drop_table("feed_pulled_authors")
