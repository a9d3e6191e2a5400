"""The initial fleet schema: hosts, boots, crashes, tokens.

Migrations spell their tables out rather than importing the current schema,
so that each one keeps meaning what it meant when it was written.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("platform", sa.String(64)),
        sa.Column("region", sa.String(64)),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    op.create_table(
        "boots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host_id", sa.Integer, sa.ForeignKey("hosts.id"), nullable=False),
        sa.Column("boot_id", sa.String(64), nullable=False),
        sa.Column("release", sa.String(64), nullable=False),
        sa.Column("how", sa.String(8), nullable=False),
        sa.Column("previous_release", sa.String(64)),
        sa.Column("kexec_count", sa.BigInteger, nullable=False),
        sa.Column("previous_boot_id", sa.String(64)),
        sa.Column("machine_id", sa.String(64)),
        sa.Column("started_at", sa.Float),
        sa.Column("hours", sa.Float),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("disagreements", sa.Text, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.UniqueConstraint("host_id", "boot_id", name="uq_boots_host_boot"),
    )
    op.create_index("ix_boots_transition", "boots", ["release", "previous_release"])
    op.create_table(
        "crashes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host_id", sa.Integer, sa.ForeignKey("hosts.id"), nullable=False),
        sa.Column("boot_id", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("title", sa.String(512), nullable=False),
        sa.Column("alt_titles", sa.Text, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("frame", sa.String(256), nullable=False),
        sa.Column("corrupted", sa.Boolean, nullable=False),
        sa.Column("panicked", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("release", sa.String(64)),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.UniqueConstraint("host_id", "boot_id", "fingerprint", name="uq_crashes_host_boot_fp"),
    )
    op.create_index("ix_crashes_title", "crashes", ["title"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("host", sa.String(255)),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("tokens", "crashes", "boots", "hosts"):
        op.drop_table(table)
