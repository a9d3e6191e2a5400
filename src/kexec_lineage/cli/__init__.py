"""The ``kexec-lineage`` command: a thin argparse front over the library."""
