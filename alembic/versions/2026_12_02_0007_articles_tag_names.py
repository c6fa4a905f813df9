"""`articles.tag_names`: each article's tag names, a sorted JSON array written with its tags.

A page listed its articles' tags by a primary-key lookup of `tags` per tag (~60 for a page of
20), the larger part of PostgreSQL's work for a list; tags are never renamed or deleted, so a
copy of the names on the article, written in the same transaction as its `article_tags` rows
(services/articles._replace_tags), is exact and costs the page nothing. Backfilled from the
rows (sorted in code point order, as the app writes it); downgrade drops it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAMES = (
    "SELECT tags.name AS name FROM article_tags JOIN tags ON tags.id = article_tags.tag_id "
    "WHERE article_tags.article_id = articles.id ORDER BY tags.name {collate}"
)
BACKFILL = {
    # array_to_json writes compact JSON ('["a","b"]'), as orjson does.
    "postgresql": "array_to_json(ARRAY(" + _NAMES.format(collate='COLLATE "C"') + "))::text",
    "sqlite": "(SELECT json_group_array(name) FROM (" + _NAMES.format(collate="") + "))",
}


def upgrade() -> None:
    op.add_column(
        "articles", sa.Column("tag_names", sa.Text(), nullable=False, server_default="[]")
    )
    dialect = op.get_bind().dialect.name
    op.execute(f"UPDATE articles SET tag_names = {BACKFILL[dialect]}")  # noqa: S608 - constant


def downgrade() -> None:
    op.drop_column("articles", "tag_names")  # plain DROP COLUMN, SQLite 3.35+ too
