"""
Handover
--------

What one kernel passes to the next about itself: the release it ran and how
many kexecs separate it from the last cold boot. The byte layout lives in
:mod:`kexec_lineage.abi.kexec_metadata`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kexec_lineage.model.text import printable

__all__ = ("Handover",)


@dataclass(frozen=True, slots=True)
class Handover:
    """``struct kho_kexec_metadata`` as values.

    ``previous_release`` is the ``uname -r`` of the kernel that wrote the
    record, as :func:`kexec_lineage.model.text.from_kernel` decodes it.
    ``kexec_count`` is 1 when that kernel was cold-booted and grows by one per
    kexec (u32, it wraps like the kernel's counter).
    """

    previous_release: str
    kexec_count: int
    version: int = 1

    @property
    def kernel_line(self) -> str:
        """The line the receiving kernel logs, as ``dmesg`` shows it."""
        return f"KHO: exec from: {printable(self.previous_release)} (count {self.kexec_count})"
