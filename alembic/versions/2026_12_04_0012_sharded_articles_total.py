"""The global article total in shard rows: no row that every article write must lock.

Before, every create and delete in the platform updated the one `counters` row "articles", so
creates by different authors queued on its lock until commit. Now the total is the sum of 32
rows (`counters.shard`), and a writer moves one no other transaction holds
(src/services/counters.py; docs/performance.md, "Counts"). The current total goes to shard 0,
the other shards start at zero. Downgrade folds the shards back into one row.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 32  # as src/services/counters.SHARDS when written; more or fewer are still exact
# The row that holds the total alone before the shards (an empty table has none yet).
SHARD_ZERO = (
    "INSERT INTO counters (name, shard, value) SELECT 'articles', 0, 0 "
    "WHERE NOT EXISTS (SELECT 1 FROM counters WHERE name = 'articles' AND shard = 0)"
)


def upgrade() -> None:
    with op.batch_alter_table("counters", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False)
        )
        batch_op.drop_constraint("pk_counters", type_="primary")
        batch_op.create_primary_key("pk_counters", ["name", "shard"])
    with op.batch_alter_table("counters", schema=None) as batch_op:
        batch_op.alter_column("shard", server_default=None)
    op.execute(SHARD_ZERO)
    op.get_bind().execute(
        sa.text("INSERT INTO counters (name, shard, value) VALUES ('articles', :shard, 0)"),
        [{"shard": shard} for shard in range(1, SHARDS)],
    )


def downgrade() -> None:
    op.execute(SHARD_ZERO)
    op.execute(
        "UPDATE counters SET value = (SELECT sum(c.value) FROM counters AS c "
        "WHERE c.name = counters.name) WHERE shard = 0"
    )
    op.execute("DELETE FROM counters WHERE shard <> 0")
    with op.batch_alter_table("counters", schema=None) as batch_op:
        batch_op.drop_constraint("pk_counters", type_="primary")
        batch_op.create_primary_key("pk_counters", ["name"])
        batch_op.drop_column("shard")
