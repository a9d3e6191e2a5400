"""
API models
----------

The request bodies of the collector, with the limits every field has. A boot
is what ``kexec-lineage status --json`` prints and a crash what
``kexec-lineage crashes --json`` prints plus ``host`` and ``boot_id``; other
keys are ignored so that newer agents can talk to older collectors.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kexec_lineage.fleet.records import BootRecord, CrashRecord
from kexec_lineage.model.boot import Boot, Evidence
from kexec_lineage.model.crash import Crash

__all__ = ("MAX_BATCH", "BootIn", "BootsIn", "CrashIn", "CrashesIn", "EvidenceIn", "StoredOut")

#: Records per request.
MAX_BATCH = 1000


def _text(value: str) -> str:
    """Text a database can store: no NUL, no lone surrogate."""
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode (a lone surrogate)") from None
    return value


Name = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_text)]
Id = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_text)]
Release = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_text)]
Note = Annotated[str, Field(max_length=1024), AfterValidator(_text)]
Title = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_text)]
Word = Annotated[str, Field(max_length=64), AfterValidator(_text)]
U32 = Annotated[int, Field(ge=0, le=0xFFFF_FFFF)]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EvidenceIn(_In):
    source: Annotated[str, Field(max_length=32), AfterValidator(_text)]
    kexec: bool | None = None
    previous_release: Release | None = None
    kexec_count: U32 | None = None
    previous_boot_id: Id | None = None
    detail: Note = ""


class BootIn(_In):
    host: Name
    boot_id: Id
    release: Release
    how: Literal["cold", "kexec", "kdump"]
    previous_release: Release | None = None
    kexec_count: U32 = 0
    previous_boot_id: Id | None = None
    machine_id: Id | None = None
    evidence: Annotated[list[EvidenceIn], Field(max_length=32)] = []
    disagreements: Annotated[list[Note], Field(max_length=32)] = []
    started_at: Annotated[float, Field(ge=0, le=1e11)] | None = None
    hours: Annotated[float, Field(ge=0, le=1e6)] | None = None

    def record(self) -> BootRecord:
        boot = Boot(
            self.host,
            self.boot_id,
            self.release,
            self.how,
            self.previous_release,
            self.kexec_count,
            self.previous_boot_id,
            self.machine_id,
            tuple(Evidence(**e.model_dump()) for e in self.evidence),
            tuple(self.disagreements),
        )
        return BootRecord(boot, self.started_at, self.hours)


class CrashIn(_In):
    host: Name
    boot_id: Id
    title: Title
    alt_titles: Annotated[list[Title], Field(max_length=16)] = []
    type: Word = ""
    frame: Annotated[str, Field(max_length=256), AfterValidator(_text)] = ""
    corrupted: bool = False
    panicked: bool = False
    source: Word = ""
    release: Release | None = None
    report: Annotated[str, Field(max_length=256 * 1024), AfterValidator(_text)] = ""

    def record(self) -> CrashRecord:
        crash = Crash(
            self.title,
            tuple(self.alt_titles),
            self.type,
            self.frame,
            self.corrupted,
            panicked=self.panicked,
            report=self.report,
        )
        return CrashRecord(self.host, self.boot_id, crash, self.source, self.release)


class BootsIn(_In):
    boots: Annotated[list[BootIn], Field(max_length=MAX_BATCH)]


class CrashesIn(_In):
    crashes: Annotated[list[CrashIn], Field(max_length=MAX_BATCH)]


class StoredOut(BaseModel):
    inserted: int
    updated: int
    unchanged: int
