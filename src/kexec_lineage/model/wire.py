"""
Wire
----

What the host agent hands the collector, and the collector stores: a boot
record and a crash record, as JSON objects, and the paths they go to. This is
their one home: the agent spools and sends through :meth:`BootRecord.as_dict`
and :meth:`CrashRecord.as_dict`, the collector's request models have exactly
these fields (a test checks), and the store's rows are made from them. A new
field is added here. Standard library only, since the agent imports it.

A receiver ignores keys it does not know, so newer agents can talk to older
collectors.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from kexec_lineage.model.boot import Boot, Evidence
from kexec_lineage.model.crash import Crash

__all__ = (
    "ANALYSIS_PATH",
    "BOOTS_PATH",
    "BOOT_FIELDS",
    "CHAIN_PATH",
    "CLASS_FACTS",
    "CRASHES_PATH",
    "CRASH_FIELDS",
    "EVIDENCE_FIELDS",
    "FACT_KEY",
    "MAX_FACTS",
    "MAX_FACT_VALUE",
    "MAX_HOST_NAME",
    "SHIP_BATCH",
    "SYNTHETIC_BOOT_PREFIX",
    "TOKEN_FORMAT",
    "TOKEN_PREFIX",
    "TRANSITIONS_PATH",
    "BootRecord",
    "CrashRecord",
    "facts_digest",
    "facts_problem",
    "fingerprint",
    "host_name_problem",
    "synthetic_boot_id",
    "text_problem",
)

#: Where the collector takes boots and crashes (POST), and what it answers (GET).
BOOTS_PATH = "/v1/boots"
CRASHES_PATH = "/v1/crashes"
CHAIN_PATH = "/v1/hosts/{host}/chain"
TRANSITIONS_PATH = "/v1/transitions"
ANALYSIS_PATH = "/v1/analysis"

#: Longest host name the collector stores.
MAX_HOST_NAME = 255

#: Records a host sends per request unless told otherwise (``ship --batch``).
SHIP_BATCH = 500

#: An API token as ``token create`` makes it: ``kl_`` and 32 random bytes in
#: URL-safe base64, so it can never hold a space, a newline or a quote.
TOKEN_PREFIX = "kl_"
TOKEN_FORMAT = re.compile(TOKEN_PREFIX + r"[A-Za-z0-9_-]{43}")

#: Begins the boot id of a crash whose boot nobody recorded (a dump in pstore
#: that the first ``record`` on a host finds): that boot's own id is gone.
SYNTHETIC_BOOT_PREFIX = "pstore-"

#: A boot's host facts (``cpu.flag.la57: "1"``, ``label.rack: "r12"``): at most this
#: many, each key a dotted lower-case name, each value at most this long.
MAX_FACTS = 64
MAX_FACT_VALUE = 128
FACT_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
#: The facts whose values make a host's class by default: its machine as the kernel
#: names it (``DMI:``, what console logs tell too) and the operator's region label.
CLASS_FACTS = ("dmi.system", "label.region")

# Where a report stood in the log it was found in: meaningless anywhere else.
_LOG_POSITION = ("offset", "end")
_CRASH_REPORT_FIELDS = tuple(f.name for f in fields(Crash) if f.name not in _LOG_POSITION)

#: The keys of each record on the wire.
EVIDENCE_FIELDS = tuple(f.name for f in fields(Evidence))
BOOT_FIELDS = (*(f.name for f in fields(Boot)), "started_at", "hours", "facts")
CRASH_FIELDS = ("host", "boot_id", "source", "release", *_CRASH_REPORT_FIELDS)


@dataclass(frozen=True, slots=True)
class BootRecord:
    """A boot of ``boot.host``, with its wall-clock start and its uptime in hours where
    known, and the facts of the host it ran on (hardware, firmware, labels: a BIOS
    update changes them, so they belong to the boot)."""

    boot: Boot
    started_at: float | None = None
    hours: float | None = None
    facts: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The record on the wire; a start, uptime or facts not known are left out."""
        known = {"started_at": self.started_at, "hours": self.hours}
        out = self.boot.as_dict() | {k: v for k, v in known.items() if v is not None}
        if self.facts:
            out["facts"] = dict(sorted(self.facts.items()))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BootRecord:
        """The inverse of :meth:`as_dict`; unknown keys are ignored.

        :raises KeyError, TypeError, ValueError: not a boot record.
        """
        facts = data.get("facts") or {}
        if not isinstance(facts, dict):
            raise TypeError("facts: not an object")
        return cls(Boot.from_dict(data), data.get("started_at"), data.get("hours"), facts)


@dataclass(frozen=True, slots=True)
class CrashRecord:
    """A crash in boot ``boot_id`` of ``host``; ``source`` says which log it was found in."""

    host: str
    boot_id: str
    crash: Crash
    source: str = ""
    release: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.crash)

    def as_dict(self) -> dict[str, Any]:
        """The record on the wire."""
        report = {k: v for k, v in self.crash.as_dict().items() if k not in _LOG_POSITION}
        return {
            "host": self.host,
            "boot_id": self.boot_id,
            "source": self.source,
            "release": self.release,
        } | report

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrashRecord:
        """The inverse of :meth:`as_dict`; unknown keys are ignored.

        :raises KeyError, TypeError: not a crash record.
        """
        report = {k: data[k] for k in _CRASH_REPORT_FIELDS if k in data}
        report["alt_titles"] = tuple(report.get("alt_titles", ()))
        return cls(
            data["host"],
            data["boot_id"],
            Crash(**report),
            data.get("source", ""),
            data.get("release"),
        )


def fingerprint(crash: Crash) -> str:
    """A stable content hash: the same crash report sent twice has the same one."""
    canonical = json.dumps([crash.title, crash.report], separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def synthetic_boot_id(host: str, digest: str) -> str:
    """A stable id, marked by :data:`SYNTHETIC_BOOT_PREFIX`, for the unrecorded boot that
    left the pstore dump of SHA-256 ``digest``: a dump found again names the same boot."""
    key = f"{host}\0{digest}".encode("utf-8", "surrogateescape")
    return SYNTHETIC_BOOT_PREFIX + hashlib.sha256(key).hexdigest()[:32]


def text_problem(value: str) -> str | None:
    """Why a database cannot store ``value`` (a NUL, a lone surrogate), or ``None``."""
    if "\x00" in value:
        return "NUL characters are not allowed"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid Unicode (a lone surrogate)"
    return None


def facts_digest(facts: Mapping[str, str]) -> str:
    """A fact set's key: the same facts, in any order, give the same 32 hex digits."""
    canonical = json.dumps(dict(sorted(facts.items())), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def facts_problem(facts: Mapping[str, object]) -> str | None:
    """Why ``facts`` cannot be a boot's facts (see :data:`MAX_FACTS`), or ``None``."""
    if len(facts) > MAX_FACTS:
        return f"at most {MAX_FACTS} facts, not {len(facts)}"
    for key, value in facts.items():
        if not isinstance(key, str) or FACT_KEY.fullmatch(key) is None:
            return f"fact {key!r}: a key is a lower-case dotted name of 1 to 64 characters"
        if not isinstance(value, str) or len(value) > MAX_FACT_VALUE:
            return f"fact {key!r}: a value is a string of at most {MAX_FACT_VALUE} characters"
        if problem := text_problem(value):
            return f"fact {key!r}: {problem}"
    return None


def host_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a host's name, or ``None``.

    A host is addressed as one path segment (``/v1/hosts/NAME/chain``), so no
    ``/`` and not ``.`` or ``..``; a database must store it. ``token create``
    and the API both ask here.
    """
    if not 1 <= len(name) <= MAX_HOST_NAME:
        return f"a host name has 1 to {MAX_HOST_NAME} characters"
    if "/" in name or name in (".", ".."):
        return "a host name is one path segment: no '/', not '.' or '..'"
    return text_problem(name)
