"""
Log sources
-----------

Which kind of log a file is, told from its content (a name helps only where
content cannot tell, as for kdump's ``vmcore-dmesg.txt``), and the way to
turn each kind into :class:`~kexec_lineage.logs.console.ConsoleLog`\\ s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from kexec_lineage.errors import LogError
from kexec_lineage.logs import journal, kmsg, pstore
from kexec_lineage.logs.console import ConsoleLog, from_console

__all__ = ("FORMATS", "detect_format", "read_logs")

#: Formats a caller may name instead of detection.
FORMATS = ("console", "kdump", "journal-json", "journal-export", "kmsg", "netconsole", "pstore")

_READERS: dict[str, Callable[[bytes, str], list[ConsoleLog]]] = {
    "console": from_console,
    "kdump": from_console,
    "journal-json": journal.from_journal_json,
    "journal-export": journal.from_journal_export,
    "kmsg": kmsg.from_kmsg,
    "netconsole": kmsg.from_kmsg,
}
_EXPORT_RE = re.compile(rb"\A(?:[A-Z_][A-Z0-9_]*(?:=[^\n]*)?\n)+")
_NETCONSOLE_HINT_RE = re.compile(rb"^[ \t]release=|ncfrag=", re.M)


def detect_format(data: bytes, name: str = "") -> str:
    """The format of ``data``: one of :data:`FORMATS`."""
    head = data[:65536]
    if pstore.HEADER_RE.match(head) or name.endswith(".enc.z"):
        return "pstore"
    stripped = head.lstrip()
    if stripped.startswith(b"{") and b'"MESSAGE"' in head:
        return "journal-json"
    if _EXPORT_RE.match(head) and (b"\nMESSAGE" in head or head.startswith(b"MESSAGE")):
        return "journal-export"
    lines = head.count(b"\n") or 1
    records = list(kmsg.RECORD_RE.finditer(head))
    if len(records) * 2 >= lines:
        # Either a /dev/kmsg dump or a netconsole receiver's log.
        if _NETCONSOLE_HINT_RE.search(head) or any(m["host"] or m["release"] for m in records):
            return "netconsole"
        return "kmsg"
    if name.rsplit("/", 1)[-1].startswith("vmcore-dmesg"):
        return "kdump"
    return "console"


def read_logs(files: Sequence[tuple[str, bytes]], fmt: str | None = None) -> list[ConsoleLog]:
    """Console logs from ``(name, content)`` pairs.

    pstore records are gathered across all files so that the parts of one
    dump are joined; every other file stands alone.

    :raises LogError: a file that is not the named format, or a pstore record
        that cannot be read.
    """
    if fmt is not None and fmt not in FORMATS:
        raise LogError(f"unknown log format {fmt!r}; one of {', '.join(FORMATS)}")
    logs: list[ConsoleLog] = []
    records = []
    for name, data in files:
        kind = fmt or detect_format(data, name)
        if kind == "pstore":
            records.append(pstore.parse_record(name, data))
        else:
            logs += [replace(log, origin=name) for log in _READERS[kind](data, kind)]
    return logs + pstore.from_pstore(records)
