"""
Console text
------------

Every log source is brought to one shape before boots and crashes are looked
for: *console text*, one kernel message per line, each line starting with the
kernel's own prefix (``<6>``, ``[   12.345678]``, ``[T123]``) as on a serial
console. Plain console captures and ``dmesg`` output already have that shape
and pass through untouched, so offsets are offsets into the file; what a
receiver adds around the kernel's text (syslog and console-server prefixes,
terminal escapes) is removed, and then offsets refer to the cleaned text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ("BootMark", "ConsoleLog", "console_line", "from_console", "group_by_host")

# A console server's own "[ host-seconds] " before the kernel's "[ time]".
_RECEIVER_RE = re.compile(rb"^\[\s*\d+\.\d+\] (?=(?:<\d+>)?\[\s*\d+\.\d+\])", re.M)
_RECEIVER_ANY_RE = re.compile(rb"^\[\s*\d+\.\d+\] ", re.M)
# A boot banner glued to the end of the previous line (firmware output with
# no newline before the kernel's first message).
_BANNER_RE = re.compile(rb"\[\s*0\.0+\] Linux version ")
# Terminal control sequences (CSI, single-character ESC commands) that
# firmware and getty print.
_ANSI_RE = re.compile(rb"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_]|[c78=>])")
# "Nov 25 01:02:03 host kernel: msg" and RFC 3339 "2026-11-25T01:02:03Z host kernel: msg".
_SYSLOG_RE = re.compile(
    rb"^(?:<\d+>)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-][\d:]+)?)"
    rb" (\S+) (\S+?)(?:\[\d+\])?: ?(.*)$",
    re.M,
)


@dataclass(frozen=True, slots=True)
class BootMark:
    """A boot boundary the source itself knows (journal boot id, netconsole release)."""

    offset: int
    boot_id: str | None = None
    release: str | None = None


@dataclass(frozen=True, slots=True)
class ConsoleLog:
    """Kernel messages of one host as console text.

    ``marks`` are boot boundaries given by the source, in offset order; a
    console capture has none and is split at ``Linux version`` banners.
    ``origin`` names the file (or pstore records) it came from.
    """

    text: bytes
    source: str
    host: str | None = None
    marks: tuple[BootMark, ...] = ()
    origin: str = ""


def console_line(message: bytes, usec: int | None = None, level: int | None = None) -> bytes:
    """One console line for ``message``: ``<level>[ sec.usec] message``, lines of a
    multi-line message each prefixed alike."""
    prefix = b"" if level is None else b"<%d>" % level
    if usec is not None:
        prefix += b"[%5d.%06d] " % divmod(usec, 1_000_000)
    return b"".join(prefix + part + b"\n" for part in message.split(b"\n"))


def group_by_host(lines: Iterable[tuple[str | None, bytes]], source: str) -> list[ConsoleLog]:
    """Console logs, one per host, from ``(host, console line)`` pairs in log order."""
    hosts: dict[str | None, list[bytes]] = {}
    for host, line in lines:
        hosts.setdefault(host, []).append(line)
    return [ConsoleLog(b"".join(chunks), source, host) for host, chunks in hosts.items()]


def _syslog(data: bytes, source: str) -> list[ConsoleLog] | None:
    sample = data[:65536]
    hits = sum(1 for _ in _SYSLOG_RE.finditer(sample))
    if hits < max(1, sample.count(b"\n") // 2):
        return None
    return group_by_host(
        (
            (match.group(1).decode("utf-8", "replace"), match.group(3) + b"\n")
            for match in _SYSLOG_RE.finditer(data)
            if match.group(2) == b"kernel"
        ),
        source,
    )


def from_console(data: bytes, source: str = "console") -> list[ConsoleLog]:
    """Console logs from a console capture, ``dmesg`` output, or a syslog file.

    A syslog file gives one log per host, with the kernel's lines only.
    """
    if (logs := _syslog(data, source)) is not None:
        return logs
    text = data
    if b"\x1b" in text:
        text = _ANSI_RE.sub(b"", text)
    sample = text[:65536]
    receiver = len(_RECEIVER_RE.findall(sample))
    # Strip when a good share of the bracketed lines carry two stamps.
    if receiver and receiver * 4 >= len(_RECEIVER_ANY_RE.findall(sample)):
        text = _RECEIVER_ANY_RE.sub(b"", text)
    return [ConsoleLog(_unglue_banners(text), source)]


def _unglue_banners(text: bytes) -> bytes:
    # Glued to firmware output means right after a non-blank byte; a banner
    # quoted in a message ("dmesg: [ 0.000000] Linux version") follows a space.
    cuts = [
        m.start()
        for m in _BANNER_RE.finditer(text)
        if m.start() and text[m.start() - 1] not in b"\n \t"
    ]
    if not cuts:
        return text
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    return b"\n".join(pieces)
