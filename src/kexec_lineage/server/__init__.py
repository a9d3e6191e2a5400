"""The collector: a thin HTTP layer over :mod:`kexec_lineage.fleet` (``server`` extra)."""
