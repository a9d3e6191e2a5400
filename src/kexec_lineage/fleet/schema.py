"""
Schema
------

Hosts, their boots and crashes, the sets of host facts boots ran with, and
API tokens, as SQLAlchemy Core tables. A boot is keyed by (host, boot_id) and
a crash by (host, boot_id, fingerprint): sending a record twice stores it
once. A fleet has few distinct fact sets (hosts of one model share theirs), so
each is stored once, keyed by its digest, and boots point to it. Alembic migrations in
:mod:`kexec_lineage.fleet.migrations` create and change these tables.
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

__all__ = ("boots", "crashes", "fact_sets", "hosts", "metadata", "tokens")

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
