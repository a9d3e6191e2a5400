"""
systemd journal
---------------

Kernel messages exported by ``journalctl -k -o json`` (one JSON object per
line) and ``journalctl -o export`` (the binary-safe export format:
``NAME=value`` lines, or ``NAME``, a little-endian u64 length and raw bytes;
a blank line ends an entry). ``MESSAGE`` may be a string or, when it is not
UTF-8, an array of byte values. Each entry carries ``_BOOT_ID``, so the
journal marks its boots itself.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kexec_lineage.logs.console import BootMark, ConsoleLog, console_line

__all__ = ("from_journal_export", "from_journal_json")

_U64LE = struct.Struct("<Q")


@dataclass(slots=True)
class _Host:
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    marks: list[BootMark] = field(default_factory=list)
    boot_id: str | None = None


def _field(entry: Mapping[str, Any], name: str) -> Any:
    value = entry.get(name)
    # journalctl turns a field that occurs several times into a list.
    if isinstance(value, list) and value and not isinstance(value[0], int):
        value = value[0]
    return value


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _number(value: Any) -> int | None:
    text = _text(value)
    return int(text) if text is not None and text.isascii() and text.isdigit() else None


def _message(value: Any) -> bytes | None:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes):
        return value
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value)
    return None


def _to_logs(entries: Iterator[Mapping[str, Any]], source: str) -> list[ConsoleLog]:
    hosts: dict[str | None, _Host] = {}
    for entry in entries:
        transport = _text(_field(entry, "_TRANSPORT"))
        message = _message(_field(entry, "MESSAGE"))
        if message is None or transport not in (None, "kernel"):
            continue
        host = hosts.setdefault(_text(_field(entry, "_HOSTNAME")), _Host())
        boot_id = _text(_field(entry, "_BOOT_ID"))
        if boot_id is not None and boot_id != host.boot_id:
            host.marks.append(BootMark(host.size, boot_id=boot_id))
            host.boot_id = boot_id
        usec = _number(_field(entry, "_SOURCE_MONOTONIC_TIMESTAMP"))
        if usec is None:
            usec = _number(_field(entry, "__MONOTONIC_TIMESTAMP"))
        priority = _number(_field(entry, "PRIORITY"))
        line = console_line(message, usec, priority if priority is None else priority & 7)
        host.chunks.append(line)
        host.size += len(line)
    return [
        ConsoleLog(b"".join(h.chunks), source, name, tuple(h.marks)) for name, h in hosts.items()
    ]


def _json_entries(data: bytes) -> Iterator[Mapping[str, Any]]:
    for line in data.splitlines():
        if not line.startswith(b"{"):
            continue
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a torn or garbled line
        if isinstance(entry, dict):
            yield entry


def from_journal_json(data: bytes, source: str = "journal") -> list[ConsoleLog]:
    """Console logs, one per host, from ``journalctl -o json`` output."""
    return _to_logs(_json_entries(data), source)


def _export_entries(data: bytes) -> Iterator[Mapping[str, Any]]:
    entry: dict[str, Any] = {}
    pos, size = 0, len(data)
    while pos < size:
        end = data.find(b"\n", pos)
        end = size if end < 0 else end
        line = data[pos:end]
        pos = end + 1
        if not line:
            if entry:
                yield entry
            entry = {}
            continue
        name, sep, value = line.partition(b"=")
        if not sep:
            # Binary field: NAME\n, u64 length, the bytes, \n.
            if pos + 8 > size:
                break
            (length,) = _U64LE.unpack_from(data, pos)
            if pos + 8 + length > size:
                break
            value = data[pos + 8 : pos + 8 + length]
            pos += 8 + length + 1
        entry[name.decode("ascii", "replace")] = value
    if entry:
        yield entry


def from_journal_export(data: bytes, source: str = "journal") -> list[ConsoleLog]:
    """Console logs, one per host, from ``journalctl -o export`` output."""
    return _to_logs(_export_entries(data), source)
