"""
API models
----------

The request bodies of the collector, with the limits every field has. The
fields are those of :mod:`kexec_lineage.model.wire` (a test checks); other
keys are ignored so that newer agents can talk to older collectors.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kexec_lineage.model.wire import MAX_HOST_NAME, BootRecord, CrashRecord, host_name_problem

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


def _host_name(value: str) -> str:
    problem = host_name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


HostName = Annotated[str, Field(min_length=1, max_length=MAX_HOST_NAME), AfterValidator(_host_name)]
Id = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_text)]
ReleaseText = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_text)]
Note = Annotated[str, Field(max_length=1024), AfterValidator(_text)]
Title = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_text)]
Word = Annotated[str, Field(max_length=64), AfterValidator(_text)]
U32 = Annotated[int, Field(ge=0, le=0xFFFF_FFFF)]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EvidenceIn(_In):
    source: Annotated[str, Field(max_length=32), AfterValidator(_text)]
    kexec: bool | None = None
    previous_release: ReleaseText | None = None
    kexec_count: U32 | None = None
    previous_boot_id: Id | None = None
    detail: Note = ""


class BootIn(_In):
    host: HostName
    boot_id: Id
    release: ReleaseText
    how: Literal["cold", "kexec", "kdump"]
    previous_release: ReleaseText | None = None
    kexec_count: U32 = 0
    previous_boot_id: Id | None = None
    machine_id: Id | None = None
    evidence: Annotated[list[EvidenceIn], Field(max_length=32)] = []
    disagreements: Annotated[list[Note], Field(max_length=32)] = []
    started_at: Annotated[float, Field(ge=0, le=1e11)] | None = None
    hours: Annotated[float, Field(ge=0, le=1e6)] | None = None

    def record(self) -> BootRecord:
        return BootRecord.from_dict(self.model_dump())


class CrashIn(_In):
    host: HostName
    boot_id: Id
    title: Title
    alt_titles: Annotated[list[Title], Field(max_length=16)] = []
    type: Word = ""
    frame: Annotated[str, Field(max_length=256), AfterValidator(_text)] = ""
    corrupted: bool = False
    corrupted_reason: Note = ""
    suppressed: bool = False
    panicked: bool = False
    source: Word = ""
    release: ReleaseText | None = None
    report: Annotated[str, Field(max_length=256 * 1024), AfterValidator(_text)] = ""

    def record(self) -> CrashRecord:
        return CrashRecord.from_dict(self.model_dump())


class BootsIn(_In):
    boots: Annotated[list[BootIn], Field(max_length=MAX_BATCH)]


class CrashesIn(_In):
    crashes: Annotated[list[CrashIn], Field(max_length=MAX_BATCH)]


class StoredOut(BaseModel):
    inserted: int
    updated: int
    unchanged: int
