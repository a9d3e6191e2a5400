"""
Boot
----

One boot of one host and how it came to be: cold, kexec, or a kdump crash
kernel; the release before it; how many kexecs separate it from the last cold
boot; and the evidence that says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ("HOWS", "Boot", "Evidence")

#: How a boot can come to be.
HOWS = ("cold", "kexec", "kdump")


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one source says about how this boot came to be.

    ``source`` names it: ``kho`` (the kexec-metadata blob), ``kho-log`` (the
    kernel's ``KHO:`` lines), ``cmdline`` (our parameters), ``pstore`` (the
    previous kernel's log), ``ledger`` (this host's own record), ``kdump``.
    ``kexec`` is ``True`` where the source says this boot followed a kexec,
    ``False`` where it says it did not, ``None`` where it does not tell.
    """

    source: str
    kexec: bool | None = None
    previous_release: str | None = None
    kexec_count: int | None = None
    previous_boot_id: str | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        # Its fields are plain values: no need for asdict's recursive deep copy, which
        # was a third of the collector's ingest time.
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class Boot:
    """A boot as reconciled from its evidence.

    ``kexec_count`` is 0 for a cold boot and N after N kexecs since the last
    cold boot (the count the kernel's ``KHO: exec from`` line shows).
    ``disagreements`` says where sources differed and which one was taken.
    """

    host: str
    boot_id: str
    release: str
    how: str
    previous_release: str | None = None
    kexec_count: int = 0
    previous_boot_id: str | None = None
    machine_id: str | None = None
    evidence: tuple[Evidence, ...] = ()
    disagreements: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; the keys ``kexec-lineage status --json`` prints."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["evidence"] = [e.as_dict() for e in self.evidence]
        out["disagreements"] = list(self.disagreements)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Boot:
        """The inverse of :meth:`as_dict`; unknown keys are ignored.

        :raises KeyError, TypeError, ValueError: not a boot record.
        """
        evidence = tuple(
            Evidence(**{k: v for k, v in e.items() if k in Evidence.__dataclass_fields__})
            for e in data.get("evidence", ())
        )
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["evidence"] = evidence
        fields["disagreements"] = tuple(data.get("disagreements", ()))
        boot = cls(**fields)
        if boot.how not in HOWS or not isinstance(boot.kexec_count, int):
            raise ValueError(f"not a boot: how={boot.how!r}")
        return boot
