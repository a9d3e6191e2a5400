"""The fleet side: the store (SQLite or PostgreSQL), ingest, analysis.

Needs the ``server`` extra (SQLAlchemy, Alembic); imported only by the
collector and the fleet commands, never by the host agent.
"""
