"""Boots carry their host's facts, crashes their time since boot.

Host class was ``hosts.platform`` and ``hosts.region``, which only the
simulator filled; they become the facts ``label.platform`` and
``label.region`` of every boot of their host, so nothing stored is lost.
"""

import json

import sqlalchemy as sa
from alembic import op

from kexec_lineage.model.wire import facts_digest

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    fact_sets = op.create_table(
        "fact_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(32), nullable=False, unique=True),
        sa.Column("facts", sa.Text, nullable=False),
    )
    # Plain ALTER TABLEs, which SQLite does in place too (Alembic would copy the
    # table to add a reference): a copy of a fleet's boots takes as long as it is large.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE boots ADD COLUMN fact_set_id INTEGER REFERENCES fact_sets (id)")
    else:
        op.add_column("boots", sa.Column("fact_set_id", sa.Integer, sa.ForeignKey("fact_sets.id")))
    op.add_column("crashes", sa.Column("uptime", sa.Float))
    connection = op.get_bind()
    classes = connection.execute(
        sa.text(
            "SELECT DISTINCT platform, region FROM hosts"
            " WHERE platform IS NOT NULL OR region IS NOT NULL"
        )
    ).all()
    for number, (platform, region) in enumerate(classes, 1):
        known = {"label.platform": platform, "label.region": region}
        facts = {k: v for k, v in known.items() if v}
        if not facts:
            continue
        connection.execute(
            fact_sets.insert().values(
                id=number, digest=facts_digest(facts), facts=json.dumps(facts, sort_keys=True)
            )
        )
        connection.execute(
            sa.text(
                "UPDATE boots SET fact_set_id = :id WHERE host_id IN (SELECT id FROM hosts"
                " WHERE platform IS NOT DISTINCT FROM :platform"
                " AND region IS NOT DISTINCT FROM :region)"
            ),
            {"id": number, "platform": platform, "region": region},
        )
    # (SQLite drops a plain column in place since 3.35.)
    op.drop_column("hosts", "platform")
    op.drop_column("hosts", "region")


def downgrade() -> None:
    op.add_column("hosts", sa.Column("platform", sa.String(64)))
    op.add_column("hosts", sa.Column("region", sa.String(64)))
    op.drop_column("crashes", "uptime")
    with op.batch_alter_table("boots") as batch:
        batch.drop_column("fact_set_id")
    op.drop_table("fact_sets")
