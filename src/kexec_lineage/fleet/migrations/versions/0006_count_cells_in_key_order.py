"""The count cells in their key's order (SQLite: a table without rowids), and an index
that holds their sums per transition, how and day in that order."""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_KEY = ("release", "predecessor", "how", "depth", "facts", "day", "early_by")
_AMOUNTS = ("boots", "seconds", "crashed_boots", "crashes")
_DAYS = ("release", "predecessor", "how", "day", *_AMOUNTS)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot make a table without rowids of one with: a new one, the cells
        # copied into it.
        op.execute(
            "CREATE TABLE count_cells_new ("
            "release VARCHAR(64) NOT NULL, predecessor VARCHAR(64) NOT NULL, "
            "how VARCHAR(8) NOT NULL, depth INTEGER NOT NULL, facts VARCHAR(32) NOT NULL, "
            "day BIGINT NOT NULL, early_by INTEGER NOT NULL, "
            "boots BIGINT NOT NULL, seconds BIGINT NOT NULL, "
            "crashed_boots BIGINT NOT NULL, crashes BIGINT NOT NULL, "
            f"PRIMARY KEY ({', '.join(_KEY)})) WITHOUT ROWID"
        )
        columns = ", ".join((*_KEY, *_AMOUNTS))
        op.execute(f"INSERT INTO count_cells_new ({columns}) SELECT {columns} FROM count_cells")
        op.drop_table("count_cells")
        op.rename_table("count_cells_new", "count_cells")
    op.create_index("ix_count_cells_days", "count_cells", list(_DAYS))


def downgrade() -> None:
    op.drop_index("ix_count_cells_days", "count_cells")
