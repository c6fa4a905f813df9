"""An author's followers in follower order: `follows (followee_id, follower_id)`.

The fan-out and pull steps page through an author's followers by keyset (`follower_id >
after ORDER BY follower_id LIMIT n`) and test for more than a step's worth of them: with an
index on `followee_id` alone each step read every follower of the author and sorted them;
this one reads a step's worth in order, whatever the plan (docs/performance.md, "Feed jobs
run together"). It replaces `ix_follows_followee_id`, whose lookups it serves as well.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD, _NEW = "ix_follows_followee_id", "ix_follows_followee_id_follower_id"


def upgrade() -> None:
    op.create_index(_NEW, "follows", ["followee_id", "follower_id"])
    op.drop_index(_OLD, table_name="follows")


def downgrade() -> None:
    op.create_index(_OLD, "follows", ["followee_id"])
    op.drop_index(_NEW, table_name="follows")
