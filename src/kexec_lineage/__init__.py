"""kexec-lineage: which kernel kexec'd into which, and what it cost.

The base package imports only the standard library: the host agent runs as
root on every server at boot.
"""

__version__ = "0.1.0"
