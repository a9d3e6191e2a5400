"""Count tables kept at ingest.

They are created empty, with no rules recorded: the store recounts them from
the boots and crashes stored when it is next opened
(:func:`kexec_lineage.fleet.count_upkeep.recount_if_stale`), by the rules of
the code that opens it.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _key(*columns: sa.Column[Any]) -> list[sa.Column[Any]]:
    return [sa.Column(c.name, c.type, primary_key=True) for c in columns]


def upgrade() -> None:
    release, predecessor, how = (
        sa.Column("release", sa.String(64)),
        sa.Column("predecessor", sa.String(64)),
        sa.Column("how", sa.String(8)),
    )
    op.create_table(
        "count_cells",
        *_key(
            release,
            predecessor,
            how,
            sa.Column("depth", sa.Integer),
            sa.Column("facts", sa.String(32)),
            sa.Column("day", sa.BigInteger),
            sa.Column("early_by", sa.Integer),
        ),
        *(
            sa.Column(name, sa.BigInteger, nullable=False)
            for name in ("boots", "seconds", "crashed_boots", "crashes")
        ),
    )
    op.create_table(
        "title_cells",
        *_key(sa.Column("title", sa.String(512)), release, predecessor, how),
        sa.Column("crashed_boots", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "host_transitions",
        *_key(release, predecessor),
        sa.Column("host_id", sa.Integer, sa.ForeignKey("hosts.id"), primary_key=True),
        sa.Column("boots", sa.BigInteger, nullable=False),
        sa.Column("crashed_boots", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "spread_cells",
        *_key(release, predecessor),
        sa.Column("hosts", sa.BigInteger, nullable=False),
        sa.Column("crashed_hosts", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "count_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("rules", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("count_state", "spread_cells", "host_transitions", "title_cells", "count_cells"):
        op.drop_table(table)
