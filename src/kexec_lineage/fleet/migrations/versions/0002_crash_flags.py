"""Crashes keep syzkaller's ``corrupted_reason`` and ``suppressed`` flags.

Before this, the collector dropped both; stored crashes get the values the
report model gives a crash that has neither.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crashes") as batch:
        batch.add_column(
            sa.Column("corrupted_reason", sa.String(1024), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("suppressed", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("crashes") as batch:
        batch.drop_column("suppressed")
        batch.drop_column("corrupted_reason")
