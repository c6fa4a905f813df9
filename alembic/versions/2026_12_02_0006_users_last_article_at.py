"""`users.last_article_at`: each author's newest article, maintained like `articles_count`.

The feed's statement ranks the followed authors by it to find how far back the page can
reach, then reads only those authors' articles from there (article_queries.feed_page): a
primary-key lookup per followed author instead of a scan of each one's newest articles.
Backfilled from the articles; downgrade drops it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("last_article_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE users SET last_article_at = "
        "(SELECT max(articles.created_at) FROM articles WHERE articles.author_id = users.id)"
    )


def downgrade() -> None:
    op.drop_column("users", "last_article_at")  # plain DROP COLUMN, SQLite 3.35+ too
