"""Byte-exact codecs for what one kernel hands the next: pure, no I/O.

:mod:`.kexec_metadata` needs only the standard library (the host agent uses
it at boot); :mod:`.kho_fdt` and :mod:`.kho_boot` need pylibfdt, the
``fdt`` extra.
"""
