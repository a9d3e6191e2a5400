"""
Spool
-----

Records waiting to be shipped to the collector: one JSON file each, written
by :func:`~kexec_lineage.host.durable.write_atomic`, so a file in the spool is
always whole and, once :meth:`Spool.put` returns, survives a power loss (one
that is not, damaged some other way, is moved to ``damaged/`` by the shipper). The
spool is bounded: past ``max_files`` the oldest records are dropped first (a
host whose collector is gone for weeks keeps its newest history). File names
sort by creation time.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from kexec_lineage.errors import InputError
from kexec_lineage.host.durable import make_dirs, write_atomic

__all__ = ("Spool",)

_SEQUENCE = itertools.count()
_BOUND_EVERY = 64


class Spool:
    """The spool directory ``directory``."""

    def __init__(self, directory: Path, max_files: int = 10_000) -> None:
        self.directory = directory
        self.max_files = max_files
        self._puts = 0

    def put(self, kind: str, record: dict[str, Any], *, replaces: str | None = None) -> Path:
        """Store ``record`` of ``kind`` (``boot``, ``crash``); returns its file.

        A record put with ``replaces`` removes the earlier ones put with the
        same key that are still waiting: a report that only grows (a boot's
        uptime) keeps one file however long the collector is away.

        :raises InputError: the spool cannot be written.
        """
        tag = ""
        if replaces is not None:
            key = replaces.encode("utf-8", "surrogateescape")
            tag = "-" + hashlib.sha256(key).hexdigest()[:16]
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(_SEQUENCE):04d}-{kind}{tag}.json"
        path = self.directory / name
        data = json.dumps({"kind": kind, "record": record}, sort_keys=True).encode()
        try:
            make_dirs(self.directory)
            write_atomic(path, data)
            if tag:
                for earlier in self.directory.glob(f"*-{kind}{tag}.json"):
                    if earlier.name < name:
                        earlier.unlink(missing_ok=True)
        except OSError as exc:
            raise InputError(f"cannot write spool {self.directory}: {exc.strerror}") from None
        # Listing the directory on every put would make a burst quadratic: check
        # every _BOUND_EVERY puts; the bound may be overshot by that much.
        if self._puts % _BOUND_EVERY == 0:
            self._bound()
        self._puts += 1
        return path

    def files(self) -> list[Path]:
        """Spooled records, oldest first."""
        try:
            return sorted(p for p in self.directory.glob("*.json") if p.is_file())
        except OSError:
            return []

    def quarantine(self, path: Path, why: str) -> None:
        """Move the damaged record ``path`` to ``damaged/``, with ``why`` in a note beside it.

        :raises InputError: the spool cannot be written.
        """
        folder = self.directory / "damaged"
        try:
            folder.mkdir(exist_ok=True)
            path.replace(folder / path.name)
            (folder / f"{path.name}.why").write_text(why + "\n", encoding="utf-8")
        except FileNotFoundError:
            pass  # gone meanwhile
        except OSError as exc:
            raise InputError(f"cannot move damaged {path} to {folder}: {exc.strerror}") from None

    def _bound(self) -> None:
        files = self.files()
        for old in files[: max(0, len(files) - self.max_files)]:
            old.unlink(missing_ok=True)
