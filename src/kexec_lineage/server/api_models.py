"""
API models
----------

The request bodies of the collector, with the limits every field has. The
fields are those of :mod:`kexec_lineage.model.wire` (a test checks); other
keys are ignored so that newer agents can talk to older collectors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kexec_lineage.model.boot import Boot, Evidence
from kexec_lineage.model.wire import (
    MAX_HOST_NAME,
    BootRecord,
    CrashRecord,
    facts_problem,
    host_name_problem,
    text_problem,
)

__all__ = ("MAX_BATCH", "BootIn", "BootsIn", "CrashIn", "CrashesIn", "EvidenceIn", "StoredOut")

#: Records per request.
MAX_BATCH = 1000

_EVIDENCE_FIELDS = tuple(Evidence.__dataclass_fields__)
_BOOT_FIELDS = tuple(Boot.__dataclass_fields__)


def _checked(problem: Callable[[Any], str | None]) -> AfterValidator:
    """A validator that refuses a value with what ``problem`` says of it."""

    def check(value: Any) -> Any:
        if (why := problem(value)) is not None:
            raise ValueError(why)
        return value

    return AfterValidator(check)


#: Text a database can store; a host name that can also be addressed.
_text = _checked(text_problem)
_host_name = _checked(host_name_problem)


HostName = Annotated[str, Field(min_length=1, max_length=MAX_HOST_NAME), _host_name]
Id = Annotated[str, Field(min_length=1, max_length=64), _text]
ReleaseText = Annotated[str, Field(min_length=1, max_length=64), _text]
Note = Annotated[str, Field(max_length=1024), _text]
Title = Annotated[str, Field(min_length=1, max_length=512), _text]
Word = Annotated[str, Field(max_length=64), _text]
U32 = Annotated[int, Field(ge=0, le=0xFFFF_FFFF)]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EvidenceIn(_In):
    source: Annotated[str, Field(max_length=32), _text]
    kexec: bool | None = None
    previous_release: ReleaseText | None = None
    kexec_count: U32 | None = None
    previous_boot_id: Id | None = None
    detail: Note = ""

    def evidence(self) -> Evidence:
        return Evidence(**{name: getattr(self, name) for name in _EVIDENCE_FIELDS})


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
    # A factory, not ``= {}``: pydantic deep-copies a mutable default for every boot.
    facts: Annotated[dict[str, str], _checked(facts_problem), Field(default_factory=dict)]

    def record(self) -> BootRecord:
        """The record, made from the fields themselves: a round trip through
        ``model_dump`` and :meth:`BootRecord.from_dict` cost more than the parse."""
        fields = {name: getattr(self, name) for name in _BOOT_FIELDS}
        fields["evidence"] = tuple(e.evidence() for e in self.evidence)
        fields["disagreements"] = tuple(self.disagreements)
        return BootRecord(Boot(**fields), self.started_at, self.hours, self.facts)


class CrashIn(_In):
    host: HostName
    boot_id: Id
    title: Title
    alt_titles: Annotated[list[Title], Field(max_length=16)] = []
    type: Word = ""
    frame: Annotated[str, Field(max_length=256), _text] = ""
    corrupted: bool = False
    corrupted_reason: Note = ""
    suppressed: bool = False
    panicked: bool = False
    source: Word = ""
    release: ReleaseText | None = None
    report: Annotated[str, Field(max_length=256 * 1024), _text] = ""
    #: seconds since boot at which the report began (up to 3 years)
    uptime: Annotated[float, Field(ge=0, le=1e8)] | None = None

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
