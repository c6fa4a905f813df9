"""Favorites carry their article's tag ids: ?favorited= with ?tag= needs no probe.

`favorites.article_tag_ids` is the favorited article's tag ids (`integer[]` on PostgreSQL, a
JSON array on SQLite), written with the favorite and rewritten with the article's tag edits.
On PostgreSQL the ?favorited= index includes it, so a page or count of one user's favorites
with one tag is an index-only scan (docs/performance.md, "Combined filters").

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 07:00:00
"""

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_favorites_user_id_order"
_ORDER = ["user_id", "article_created_at", "article_id"]
_COPY = {
    "postgresql": "UPDATE favorites SET article_tag_ids = coalesce((SELECT array_agg(tag_id) "
    "FROM article_tags WHERE article_tags.article_id = favorites.article_id), '{}')",
    "sqlite": "UPDATE favorites SET article_tag_ids = (SELECT json_group_array(tag_id) "
    "FROM article_tags WHERE article_tags.article_id = favorites.article_id)",
}


@contextmanager
def _quiet_user_index_reflection() -> Iterator[None]:
    # SQLite batch mode reflects the tables the foreign keys name; it cannot read users'
    # expression index (not touched here) and warns.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Skipped unsupported reflection of expression-based index"
        )
        yield


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    postgres = dialect == "postgresql"
    column_type = postgresql.ARRAY(sa.Integer()) if postgres else sa.Text()
    # Nullable first, filled from article_tags, then NOT NULL (a batch copy on SQLite).
    op.add_column("favorites", sa.Column("article_tag_ids", column_type, nullable=True))
    op.execute(_COPY[dialect])
    with _quiet_user_index_reflection(), op.batch_alter_table("favorites") as batch_op:
        batch_op.alter_column("article_tag_ids", existing_type=column_type, nullable=False)
        if postgres:
            batch_op.drop_index(_INDEX)
            batch_op.create_index(_INDEX, _ORDER, postgresql_include=["article_tag_ids"])


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with _quiet_user_index_reflection(), op.batch_alter_table("favorites") as batch_op:
        if postgres:
            batch_op.drop_index(_INDEX)
            batch_op.create_index(_INDEX, _ORDER)
        batch_op.drop_column("article_tag_ids")
