"""Page order keys: ?tag= and ?favorited= pages as index range scans.

article_tags and favorites get `article_created_at`, a copy of the article's created_at (which
never changes), and indexes (tag_id | user_id, article_created_at, article_id). A page of a tag
or of a user's favorites then reads its 20 newest index entries instead of every row of the tag
and a sort (docs/performance.md, "Pages in index order: tag, favorited, feed").

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 10:00:00
"""

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COPY_CREATED_AT = (
    "UPDATE {table} SET article_created_at = "
    "(SELECT articles.created_at FROM articles WHERE articles.id = {table}.article_id)"
)


@contextmanager
def _quiet_user_index_reflection() -> Iterator[None]:
    # SQLite batch mode copies the table, reflecting it and the tables its foreign keys name;
    # SQLite reflection cannot read users' expression index (it is not touched here) and warns.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Skipped unsupported reflection of expression-based index"
        )
        yield


def upgrade() -> None:
    for table in ("article_tags", "favorites"):
        # Nullable first, filled from the articles, then NOT NULL (a batch copy on SQLite).
        op.add_column(
            table, sa.Column("article_created_at", sa.DateTime(timezone=True), nullable=True)
        )
        op.execute(COPY_CREATED_AT.format(table=table))
    with _quiet_user_index_reflection(), op.batch_alter_table("article_tags") as batch_op:
        batch_op.alter_column(
            "article_created_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        # The new index starts with tag_id: it serves everything the old one did.
        batch_op.drop_index(batch_op.f("ix_article_tags_tag_id"))
        batch_op.create_index(
            "ix_article_tags_tag_id_order", ["tag_id", "article_created_at", "article_id"]
        )
    with _quiet_user_index_reflection(), op.batch_alter_table("favorites") as batch_op:
        batch_op.alter_column(
            "article_created_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.create_index(
            "ix_favorites_user_id_order", ["user_id", "article_created_at", "article_id"]
        )


def downgrade() -> None:
    with _quiet_user_index_reflection(), op.batch_alter_table("favorites") as batch_op:
        batch_op.drop_index("ix_favorites_user_id_order")
        batch_op.drop_column("article_created_at")
    with _quiet_user_index_reflection(), op.batch_alter_table("article_tags") as batch_op:
        batch_op.drop_index("ix_article_tags_tag_id_order")
        batch_op.create_index(batch_op.f("ix_article_tags_tag_id"), ["tag_id"], unique=False)
        batch_op.drop_column("article_created_at")
