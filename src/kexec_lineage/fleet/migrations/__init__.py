"""Alembic migrations of the fleet schema, run by :func:`kexec_lineage.fleet.store.open_store`."""
