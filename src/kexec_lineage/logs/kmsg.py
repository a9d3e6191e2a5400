"""
/dev/kmsg and netconsole
------------------------

The kernel's structured record format (``Documentation/ABI/testing/dev-kmsg``),
which ``/dev/kmsg`` readers and netconsole's extended mode both emit::

    6,1234,5678901,-,caller=T42;message with \\x07 escapes
     SUBSYSTEM=acpi
     release=7.1.0                    (netconsole sysdata)
    7.1.0,6,1235,5679000,-;message    (netconsole=+r...: release prepended)

Fields: syslog priority (facility * 8 + level), sequence number, monotonic
time in microseconds, flags (``-``, ``c``, ``+``), optional ``caller=`` and
netconsole's ``ncfrag=off/len`` for messages split over several datagrams.
A netconsole receiver may put a host name (and a time) before each record.
The sequence number restarts with every boot, and netconsole's release
(sysdata ``release=``, or the prepended field: a release has a dot, a
priority never) names the kernel of every message: both mark boots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kexec_lineage.logs.console import BootMark, ConsoleLog, console_line

__all__ = ("RECORD_RE", "from_kmsg")

RECORD_RE = re.compile(
    rb"^(?:(?:\[[^\]\n]*\]|\d{4}-\d\d-\d\dT\S+)[ \t]+)?"  # a receiver's time
    rb"(?:(?P<host>[^\s;,]+?):?[ \t]+)?"  # a receiver's host
    rb"(?:(?P<release>[^\s,;.]*\.[^\s,;]*),)?"  # netconsole's prepended release
    rb"(?P<prio>\d{1,4}),(?P<seq>\d{1,20}),(?P<usec>\d{1,20}),(?P<flags>[-c+][^;\n]*);"
    rb"(?P<msg>[^\n]*)$",
    re.M,
)
_DICT_RE = re.compile(rb"^(?:\S+[ \t]+)?[ \t](?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>[^\n]*)$")
# Far more than a printk record can hold (PRINTK_MESSAGE_MAX is 2048).
_MAX_MESSAGE = 1 << 16
_ESCAPE_RE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def _unescape(text: bytes) -> bytes:
    return _ESCAPE_RE.sub(lambda m: bytes([int(m.group(1), 16)]), text)


@dataclass(slots=True)
class _Host:
    lines: list[bytes] = field(default_factory=list)
    size: int = 0
    marks: list[BootMark] = field(default_factory=list)
    seq: int = -1
    release: str | None = None
    fragments: dict[int, bytearray] = field(default_factory=dict)

    def add(self, line: bytes, seq: int, release: str | None) -> None:
        if seq < self.seq or (release is not None and release != self.release and self.lines):
            self.marks.append(BootMark(self.size, release=release))
        elif release is not None and not self.lines:
            self.marks.append(BootMark(0, release=release))
        self.seq = seq
        self.release = release or self.release
        self.lines.append(line)
        self.size += len(line)


def from_kmsg(data: bytes, source: str = "kmsg") -> list[ConsoleLog]:
    """Console logs, one per host, from ``/dev/kmsg`` or netconsole records."""
    hosts: dict[str | None, _Host] = {}
    lines = data.split(b"\n")
    i = 0
    while i < len(lines):
        match = RECORD_RE.match(lines[i])
        i += 1
        if match is None:
            continue
        extra: dict[bytes, bytes] = {}
        while i < len(lines) and (more := _DICT_RE.match(lines[i])) is not None:
            extra[more.group("key")] = more.group("value")
            i += 1
        host_raw = match.group("host")
        host = host_raw.decode("utf-8", "replace") if host_raw is not None else None
        state = hosts.setdefault(host, _Host())
        seq = int(match.group("seq"))
        flags = match.group("flags").split(b",")
        fields = dict(f.partition(b"=")[::2] for f in flags[1:])
        text = _unescape(match.group("msg"))
        frag = fields.get(b"ncfrag")
        message = text if frag is None else _reassemble(state, seq, frag, text)
        if message is None:
            continue  # more fragments to come
        caller = fields.get(b"caller")
        line = console_line(message, int(match.group("usec")), int(match.group("prio")) & 7)
        if caller:
            line = line.replace(b"] ", b"][%6s] " % caller, 1)
        release = match.group("release") or extra.get(b"release")
        state.add(line, seq, release.decode("utf-8", "replace") if release else None)
    return [
        ConsoleLog(b"".join(h.lines), source, host, tuple(h.marks)) for host, h in hosts.items()
    ]


def _reassemble(state: _Host, seq: int, frag: bytes, chunk: bytes) -> bytes | None:
    # ncfrag=<offset>/<total>: the message is complete once every byte arrived.
    offset_raw, _, total_raw = frag.partition(b"/")
    if not (offset_raw.isdigit() and total_raw.isdigit()):
        return chunk
    offset, total = int(offset_raw), int(total_raw)
    if offset + len(chunk) > total or total > _MAX_MESSAGE:
        return chunk  # not a fragment netconsole could send
    buf = state.fragments.setdefault(seq, bytearray())
    buf.extend(bytes(max(0, offset - len(buf))))
    buf[offset : offset + len(chunk)] = chunk
    if offset + len(chunk) < total:
        return None
    return bytes(state.fragments.pop(seq))
