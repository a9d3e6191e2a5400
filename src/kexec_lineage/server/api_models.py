"""
API models
----------

The request bodies of the collector, with the limits every field has. The
fields are those of :mod:`kexec_lineage.model.wire` (a test checks); other
keys are ignored so that newer agents can talk to older collectors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, Required, TypeVar

from pydantic import AfterValidator, BaseModel, Field, TypeAdapter

# pydantic reads a TypedDict's fields only from typing_extensions' before Python 3.12.
from typing_extensions import TypedDict

from kexec_lineage.model.boot import Boot, Evidence
from kexec_lineage.model.wire import (
    MAX_HOST_NAME,
    BootRecord,
    CrashRecord,
    facts_problem,
    host_name_problem,
)

__all__ = (
    "BOOTS",
    "CRASHES",
    "MAX_BATCH",
    "NO_NUL",
    "Body",
    "BootIn",
    "BootsIn",
    "CrashIn",
    "CrashesIn",
    "EvidenceIn",
    "StoredOut",
)

#: Records per request.
MAX_BATCH = 1000

Record = TypeVar("Record", BootRecord, CrashRecord)


def _checked(problem: Callable[[Any], str | None]) -> AfterValidator:
    """A validator that refuses a value with what ``problem`` says of it."""

    def check(value: Any) -> Any:
        if (why := problem(value)) is not None:
            raise ValueError(why)
        return value

    return AfterValidator(check)


#: Text a database can store (:func:`~kexec_lineage.model.wire.text_problem`): in a JSON
#: body a lone surrogate is refused by the parser already, and the pattern refuses a
#: NUL in pydantic-core (a validator in Python on each of a boot's texts made the
#: parse of the ingest bench's 20,000 boots 0.071 s, against 0.060 s).
NO_NUL = r"^[^\x00]*$"
_text = Field(pattern=NO_NUL)
#: A host name that can also be addressed.
_host_name = _checked(host_name_problem)


HostName = Annotated[str, Field(min_length=1, max_length=MAX_HOST_NAME), _host_name]
Id = Annotated[str, Field(min_length=1, max_length=64), _text]
ReleaseText = Annotated[str, Field(min_length=1, max_length=64), _text]
Note = Annotated[str, Field(max_length=1024), _text]
Title = Annotated[str, Field(min_length=1, max_length=512), _text]
Word = Annotated[str, Field(max_length=64), _text]
U32 = Annotated[int, Field(ge=0, le=0xFFFF_FFFF)]


# The bodies are TypedDicts: pydantic-core makes their dicts at half the cost of
# models' instances, and the records are made from the dicts as they come.


class EvidenceIn(TypedDict, total=False):
    source: Required[Annotated[str, Field(max_length=32), _text]]
    kexec: bool | None
    previous_release: ReleaseText | None
    kexec_count: U32 | None
    previous_boot_id: Id | None
    detail: Note


class BootIn(TypedDict, total=False):
    host: Required[HostName]
    boot_id: Required[Id]
    release: Required[ReleaseText]
    how: Required[Literal["cold", "kexec", "kdump"]]
    previous_release: ReleaseText | None
    kexec_count: U32
    previous_boot_id: Id | None
    machine_id: Id | None
    evidence: Annotated[list[EvidenceIn], Field(max_length=32)]
    disagreements: Annotated[list[Note], Field(max_length=32)]
    started_at: Annotated[float, Field(ge=0, le=1e11)] | None
    hours: Annotated[float, Field(ge=0, le=1e6)] | None
    facts: Annotated[dict[str, str], _checked(facts_problem)]


class CrashIn(TypedDict, total=False):
    host: Required[HostName]
    boot_id: Required[Id]
    title: Required[Title]
    alt_titles: Annotated[list[Title], Field(max_length=16)]
    type: Word
    frame: Annotated[str, Field(max_length=256), _text]
    corrupted: bool
    corrupted_reason: Note
    suppressed: bool
    panicked: bool
    source: Word
    release: ReleaseText | None
    report: Annotated[str, Field(max_length=256 * 1024), _text]
    #: seconds since boot at which the report began (up to 3 years)
    uptime: Annotated[float, Field(ge=0, le=1e8)] | None


class BootsIn(TypedDict):
    boots: Annotated[list[BootIn], Field(max_length=MAX_BATCH)]


class CrashesIn(TypedDict):
    crashes: Annotated[list[CrashIn], Field(max_length=MAX_BATCH)]


@dataclass(frozen=True)
class Body(Generic[Record]):
    """A request body: its schema, and the records of a valid one."""

    adapter: TypeAdapter[Any]
    #: the key of its list of records
    key: str
    #: what one record is, as the collector's metrics name it
    kind: str
    record: Callable[[dict[str, Any]], Record]

    def records(self, data: Mapping[str, Any]) -> list[Record]:
        return [self.record(item) for item in data[self.key]]


def _boot_record(data: dict[str, Any]) -> BootRecord:
    """The record of a valid boot: its fields as they are (a boot with the evidence of
    :meth:`BootRecord.from_dict`, which looks at every key, cost as much as the parse)."""
    started_at, hours = data.pop("started_at", None), data.pop("hours", None)
    facts = data.pop("facts", None) or {}
    data["evidence"] = tuple(Evidence(**e) for e in data.get("evidence", ()))
    data["disagreements"] = tuple(data.get("disagreements", ()))
    return BootRecord(Boot(**data), started_at, hours, facts)


BOOTS = Body[BootRecord](TypeAdapter(BootsIn), "boots", "boot", _boot_record)
CRASHES = Body[CrashRecord](TypeAdapter(CrashesIn), "crashes", "crash", CrashRecord.from_dict)


class StoredOut(BaseModel):
    inserted: int
    updated: int
    unchanged: int
