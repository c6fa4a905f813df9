"""Keyset pages: comments' index ends in (created_at, id), the order of their pages.

A page of comments by `limit` and `cursor` is then one range of the index, read from its
newest entry or from the cursor's (created_at, id) on, as long as the page, with no sort;
`(article_id, created_at)` alone left the `id` tie-break to a sort of all the article's
comments. The article lists and the feed need nothing new: their indexes already end in
(created_at, id) (docs/performance.md, "Cursor pages").

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 18:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The new index serves every read the old one did: it starts with the same two columns.
    op.create_index(
        "ix_comments_article_id_created_at_id", "comments", ["article_id", "created_at", "id"]
    )
    op.drop_index("ix_comments_article_id_created_at", table_name="comments")


def downgrade() -> None:
    op.create_index("ix_comments_article_id_created_at", "comments", ["article_id", "created_at"])
    op.drop_index("ix_comments_article_id_created_at_id", table_name="comments")
