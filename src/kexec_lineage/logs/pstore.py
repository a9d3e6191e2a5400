"""
pstore
------

Kernel logs that survive a reboot or kexec in persistent storage
(``/sys/fs/pstore/dmesg-ramoops-N``, ``dmesg-efi-N``, ...). ``pstore_dump()``
writes each dump as records that start with a header ``<Reason>#<count>
Part<n>`` (``Oops#1 Part1``, ``Panic#1 Part2``, ``Shutdown#1 Part1`` with
``ramoops.max_reason=4``) followed by ``<level>[time] message`` lines. Part 1
holds the newest lines; higher parts hold older ones, so a dump reads in
order from its highest part down. A record that pstore could not decompress
keeps its compressed bytes and an ``.enc.z`` suffix.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from kexec_lineage.errors import LogError
from kexec_lineage.logs.console import ConsoleLog

__all__ = ("HEADER_RE", "PstoreRecord", "from_pstore", "parse_record")

HEADER_RE = re.compile(
    rb"\A(?P<reason>Oops|Panic|Emergency|Shutdown|Restart|Halt|Poweroff|Unknown)"
    rb"#(?P<count>\d{1,10}) Part(?P<part>\d{1,10})\r?\n"
)
_EFI_ID_RE = re.compile(r"dmesg-efi-(\d+)")
# An uncompressed record larger than this is not one pstore wrote.
_MAX_RECORD = 64 << 20


@dataclass(frozen=True, slots=True)
class PstoreRecord:
    """One pstore dmesg record."""

    name: str
    reason: str
    count: int
    part: int
    body: bytes

    @property
    def dump(self) -> tuple[str, str, int, int | None]:
        """The dump this record is a part of: backend, reason, count, and for
        efi the write time encoded in the record id."""
        backend = self.name.split("-")[1] if self.name.count("-") >= 2 else self.name
        efi = _EFI_ID_RE.match(self.name)
        # efi-pstore ids are (time * 100 + part) * 1000 + count.
        time = int(efi.group(1)) // 100_000 if efi else None
        return backend, self.reason, self.count, time


def _decompress(data: bytes, name: str) -> bytes:
    # pstore compresses with raw deflate; older kernels used zlib or gzip framing.
    for wbits in (-15, 15, 31):
        decompressor = zlib.decompressobj(wbits)
        try:
            out = decompressor.decompress(data, _MAX_RECORD)
        except zlib.error:
            continue
        if not decompressor.unconsumed_tail:
            return out
    raise LogError(f"{name}: compressed pstore record that does not decompress")


def parse_record(name: str, data: bytes) -> PstoreRecord:
    """Read one record file; ``name`` is its file name.

    :raises LogError: no pstore header, or an ``.enc.z`` record that does
        not decompress.
    """
    if name.endswith(".enc.z"):
        data = _decompress(data, name)
    header = HEADER_RE.match(data)
    if header is None:
        raise LogError(f"{name}: not a pstore dmesg record (no 'Oops#1 Part1' header)")
    return PstoreRecord(
        name,
        header.group("reason").decode(),
        int(header.group("count")),
        int(header.group("part")),
        data[header.end() :],
    )


def from_pstore(records: Iterable[PstoreRecord]) -> list[ConsoleLog]:
    """Console logs, one per dump, parts joined oldest first."""
    dumps: dict[tuple[str, str, int, int | None], list[PstoreRecord]] = {}
    for record in records:
        dumps.setdefault(record.dump, []).append(record)
    logs = []
    for parts in dumps.values():
        parts.sort(key=lambda r: r.part, reverse=True)
        text = b"".join(p.body if p.body.endswith(b"\n") else p.body + b"\n" for p in parts)
        origin = "+".join(p.name for p in parts)
        logs.append(ConsoleLog(text, f"pstore:{parts[0].reason.lower()}", origin=origin))
    return logs
