"""What each host's boots claim, kept at ingest from now on and summed here from the
boots stored; its boots by arrival."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_claims",
        sa.Column("host_id", sa.Integer, sa.ForeignKey("hosts.id"), primary_key=True),
        sa.Column("boot_hours", sa.Float, nullable=False),
        sa.Column("first_start", sa.Float),
    )
    op.execute(
        "INSERT INTO host_claims (host_id, boot_hours, first_start) "
        "SELECT host_id, coalesce(sum(hours), 0.0), min(started_at) FROM boots GROUP BY host_id"
    )
    op.create_index("ix_boots_host_received", "boots", ["host_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_boots_host_received", "boots")
    op.drop_table("host_claims")
