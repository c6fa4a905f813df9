"""Rows whose counters every write moves leave room for their next versions (PostgreSQL).

`users.articles_count` / `favorites_count`, `tags.articles_count`, `articles.favorites_count`
and the `counters` row change with every article, favorite or tag written (migration 0003).
In full pages (the default fillfactor of 100) each such update is a non-HOT update: a new
index entry per version, and until vacuum every read of the row walks them (docs/performance.md,
"Writes keep them exact"). With free space in each page the updates stay HOT (no new index
entries) and the page's old versions are pruned on the way.

Applies to pages written from now on (existing full pages gain room as vacuum frees them);
tighter autovacuum on `counters`, whose one row is the hottest of all. SQLite: nothing to do.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = {"users": 80, "tags": 80, "articles": 90, "counters": 10}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, fillfactor in FILLFACTOR.items():
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")
    op.execute(
        "ALTER TABLE counters SET (autovacuum_vacuum_threshold = 100, "
        "autovacuum_vacuum_scale_factor = 0)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE counters RESET (autovacuum_vacuum_threshold, autovacuum_vacuum_scale_factor)"
    )
    for table in FILLFACTOR:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
