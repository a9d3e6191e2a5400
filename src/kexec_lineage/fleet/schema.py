"""
Schema
------

Hosts, their boots and crashes, the sets of host facts boots ran with, and
API tokens, as SQLAlchemy Core tables. A boot is keyed by (host, boot_id) and
a crash by (host, boot_id, fingerprint): sending a record twice stores it
once. A fleet has few distinct fact sets (hosts of one model share theirs), so
each is stored once, keyed by its digest, and boots point to it. Alembic migrations in
:mod:`kexec_lineage.fleet.migrations` create and change these tables.

The count tables (``count_cells``, ``title_cells``, ``host_transitions``,
``spread_cells``) are the sums every analysis reads, kept by ingest in the
transaction that stores what they count (:mod:`kexec_lineage.fleet.count_upkeep`);
``count_state`` says which rules of counting they follow, so that a store
whose tables follow others (or none yet) is recounted when opened.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

__all__ = (
    "boots",
    "count_cells",
    "count_state",
    "crashes",
    "fact_sets",
    "host_claims",
    "host_transitions",
    "hosts",
    "metadata",
    "spread_cells",
    "title_cells",
    "tokens",
)

metadata = MetaData()

hosts = Table(
    "hosts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)

fact_sets = Table(
    "fact_sets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(32), nullable=False, unique=True),
    Column("facts", Text, nullable=False),
)

boots = Table(
    "boots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host_id", Integer, ForeignKey("hosts.id"), nullable=False),
    Column("boot_id", String(64), nullable=False),
    Column("release", String(64), nullable=False),
    Column("how", String(8), nullable=False),
    Column("previous_release", String(64)),
    Column("kexec_count", BigInteger, nullable=False),
    Column("previous_boot_id", String(64)),
    Column("machine_id", String(64)),
    Column("started_at", Float),
    Column("hours", Float),
    Column("fact_set_id", Integer, ForeignKey("fact_sets.id")),
    Column("evidence", Text, nullable=False),
    Column("disagreements", Text, nullable=False),
    Column("received_at", Float, nullable=False),
    UniqueConstraint("host_id", "boot_id", name="uq_boots_host_boot"),
    Index("ix_boots_transition", "release", "previous_release"),
    # A host's boots received lately: what its daily bound counts (claims).
    Index("ix_boots_host_received", "host_id", "received_at"),
)

crashes = Table(
    "crashes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host_id", Integer, ForeignKey("hosts.id"), nullable=False),
    Column("boot_id", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("title", String(512), nullable=False),
    Column("alt_titles", Text, nullable=False),
    Column("type", String(64), nullable=False),
    Column("frame", String(256), nullable=False),
    Column("corrupted", Boolean, nullable=False),
    Column("corrupted_reason", String(1024), nullable=False, server_default=""),
    Column("suppressed", Boolean, nullable=False, server_default=false()),
    Column("panicked", Boolean, nullable=False),
    Column("source", String(64), nullable=False),
    Column("release", String(64)),
    Column("report", Text, nullable=False),
    Column("uptime", Float),
    Column("received_at", Float, nullable=False),
    UniqueConstraint("host_id", "boot_id", "fingerprint", name="uq_crashes_host_boot_fp"),
    Index("ix_crashes_title", "title"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),
    Column("host", String(255)),
    Column("created_at", Float, nullable=False),
)

#: One cell of :class:`~kexec_lineage.fleet.count_table.CountRow`, finer by the window
#: its boots' first crash came in (``early_by``: the first of
#: :data:`~kexec_lineage.fleet.count_table.EARLY_EDGES` seconds it came within, 0 for
#: none: no crash, later, or at an unknown time).
count_cells = Table(
    "count_cells",
    metadata,
    Column("release", String(64), primary_key=True),
    Column("predecessor", String(64), primary_key=True),
    Column("how", String(8), primary_key=True),
    Column("depth", Integer, primary_key=True),
    Column("facts", String(32), primary_key=True),
    Column("day", BigInteger, primary_key=True),
    Column("early_by", Integer, primary_key=True),
    Column("boots", BigInteger, nullable=False),
    Column("seconds", BigInteger, nullable=False),
    Column("crashed_boots", BigInteger, nullable=False),
    Column("crashes", BigInteger, nullable=False),
    # The sums per transition, how and day that weigh the analysis' days, read off an
    # index in its order: without it, a sort of every cell.
    Index(
        "ix_count_cells_days",
        "release",
        "predecessor",
        "how",
        "day",
        "boots",
        "seconds",
        "crashed_boots",
        "crashes",
    ),
    # Rows in key order (SQLite): the analysis reads them all in that order, which a
    # table of rowids would look up cell by cell from its key's index.
    sqlite_with_rowid=False,
)

title_cells = Table(
    "title_cells",
    metadata,
    Column("title", String(512), primary_key=True),
    Column("release", String(64), primary_key=True),
    Column("predecessor", String(64), primary_key=True),
    Column("how", String(8), primary_key=True),
    Column("crashed_boots", BigInteger, nullable=False),
)

#: Each host's boots (and crashed boots) of each transition: what turns into
#: ``spread_cells`` as a host's first boot of a transition arrives or its last leaves.
host_transitions = Table(
    "host_transitions",
    metadata,
    Column("release", String(64), primary_key=True),
    Column("predecessor", String(64), primary_key=True),
    Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
    Column("boots", BigInteger, nullable=False),
    Column("crashed_boots", BigInteger, nullable=False),
)

spread_cells = Table(
    "spread_cells",
    metadata,
    Column("release", String(64), primary_key=True),
    Column("predecessor", String(64), primary_key=True),
    Column("hosts", BigInteger, nullable=False),
    Column("crashed_hosts", BigInteger, nullable=False),
)

#: What each host's stored boots claim together (their boot-hours, their earliest
#: start), which every batch of the host is checked against
#: (:mod:`kexec_lineage.server.claims`): kept at ingest, so that a check reads one row,
#: not the host's whole history.
host_claims = Table(
    "host_claims",
    metadata,
    Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
    Column("boot_hours", Float, nullable=False),
    Column("first_start", Float),
)

count_state = Table(
    "count_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rules", Integer, nullable=False),
)
