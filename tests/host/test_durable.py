"""Durable writes: the file is fsynced before its rename, the directory after it,
and a failed write leaves neither a temporary file nor a partial target.

The spies wrap the real syscalls (which still run) and record their order;
an fsync is told apart as a directory's or a file's by ``fstat`` on its fd.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kexec_lineage.errors import InputError
from kexec_lineage.host.durable import write_atomic
from kexec_lineage.host.ledger import Ledger
from kexec_lineage.host.spool import Spool
from tests.host.test_ledger import boot_entry

Event = tuple[str, Any, Any]


def ident(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def is_file(path: Path | None, st: os.stat_result) -> bool:
    """Whether ``st`` is that of the file now at ``path`` (none between two renames)."""
    try:
        return path is not None and ident(path) == (st.st_dev, st.st_ino)
    except FileNotFoundError:
        return False


@pytest.fixture
def syscalls(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Every successful rename, unlink and fsync, in order:
    ``("rename", src, dst)``, ``("unlink", path, None)``, ``("fsync", "dir"|"file", ident)``."""
    events: list[Event] = []
    real = {name: getattr(os, name) for name in ("rename", "replace", "unlink", "fsync")}

    def renamer(name: str) -> Any:
        def spy(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            real[name](src, dst, *args, **kwargs)
            events.append(("rename", Path(src), Path(dst)))

        return spy

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        real["unlink"](path, *args, **kwargs)
        events.append(("unlink", Path(path), None))

    def fsync(fd: Any) -> None:
        st = os.fstat(fd if isinstance(fd, int) else fd.fileno())
        real["fsync"](fd)
        kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
        events.append(("fsync", kind, (st.st_dev, st.st_ino)))

    monkeypatch.setattr(os, "rename", renamer("rename"))
    monkeypatch.setattr(os, "replace", renamer("replace"))
    monkeypatch.setattr(os, "unlink", unlink)
    monkeypatch.setattr(os, "fsync", fsync)
    return events


def at(events: list[Event], *event: Any) -> list[int]:
    """The positions of ``event`` (its leading fields) in ``events``."""
    return [i for i, e in enumerate(events) if e[: len(event)] == event]


def renamed_onto(events: list[Event], target: Path) -> tuple[int, Path]:
    """The position and source of the one rename onto ``target``, from beside it."""
    (i,) = [i for i, e in enumerate(events) if e[0] == "rename" and e[2] == target]
    source: Path = events[i][1]
    assert source.parent == target.parent and source != target
    return i, source


def fail_fsync_once(monkeypatch: pytest.MonkeyPatch, spared: Path | None = None) -> None:
    """The next fsync of a regular file other than ``spared`` raises EIO."""
    real = os.fsync
    armed = [True]

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        if armed[0] and stat.S_ISREG(st.st_mode) and not is_file(spared, st):
            armed[0] = False
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_spool_put_fsyncs_the_directory_after_the_rename(
    tmp_path: Path, syscalls: list[Event]
) -> None:
    spool = Spool(tmp_path / "spool")
    first = spool.put("boot", {"uptime": 1}, replaces="boot-1")
    syscalls.clear()
    path = spool.put("boot", {"uptime": 2}, replaces="boot-1")
    rename, tmp = renamed_onto(syscalls, path)
    assert not tmp.exists()
    # The record's bytes are on disk before its name, and its name before put returns ...
    assert at(syscalls, "fsync", "file", ident(path))[0] < rename
    assert [i for i in at(syscalls, "fsync", "dir", ident(spool.directory)) if i > rename]
    # ... and before the record it replaces is removed: a power loss keeps one of the two.
    (unlink,) = at(syscalls, "unlink", first)
    assert at(syscalls, "fsync", "dir")[-1] < unlink
    assert spool.files() == [path]


def test_ledger_rotation_fsyncs_the_directory_after_both_renames(
    tmp_path: Path, syscalls: list[Event]
) -> None:
    ledger = Ledger(tmp_path / "state", max_bytes=1000)
    n = 0
    while not ledger.previous.exists():  # until an append rotates
        syscalls.clear()
        ledger.append(boot_entry(n))
        n += 1
    aside, old = renamed_onto(syscalls, ledger.previous)
    assert old == ledger.path
    rename, tmp = renamed_onto(syscalls, ledger.path)
    assert tmp != ledger.previous and not tmp.exists()
    assert at(syscalls, "fsync", "file", ident(ledger.path))[0] < aside < rename
    assert [i for i in at(syscalls, "fsync", "dir", ident(ledger.directory)) if i > rename]
    assert sorted(os.listdir(ledger.directory)) == ["ledger.jsonl", "ledger.jsonl.1", "ledger.lock"]


def test_ledger_creation_fsyncs_its_directory_into_the_parent_and_the_file_into_it(
    tmp_path: Path, syscalls: list[Event]
) -> None:
    ledger = Ledger(tmp_path / "state")
    ledger.append(boot_entry(0))
    assert syscalls == [
        ("fsync", "dir", ident(tmp_path)),  # the new state directory's name
        ("fsync", "file", ident(ledger.path)),
        ("fsync", "dir", ident(ledger.directory)),
    ]


def test_failed_spool_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = Spool(tmp_path / "spool")
    fail_fsync_once(monkeypatch)
    with pytest.raises(InputError) as info:
        spool.put("crash", {"n": 1})
    assert str(info.value) == f"cannot write spool {spool.directory}: Input/output error"
    assert os.listdir(spool.directory) == []
    assert spool.put("crash", {"n": 2}) == spool.files()[0]  # the spool still works


def test_failed_rotation_leaves_the_ledger_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(tmp_path / "state", max_bytes=1000)
    ledger.append(boot_entry(0, "cold"))
    # The appends' own fsyncs (on ledger.jsonl) pass; the rotation's new file fails.
    fail_fsync_once(monkeypatch, spared=ledger.path)
    for n in range(1, 100):  # until an append rotates
        try:
            ledger.append(boot_entry(n))
        except InputError as exc:
            error = str(exc)
            break
    else:
        pytest.fail("no append rotated the ledger")
    assert error == f"cannot rotate {ledger.path}: Input/output error"
    assert sorted(os.listdir(ledger.directory)) == ["ledger.jsonl", "ledger.lock"]
    # The append that asked for the rotation is kept; nothing was lost or torn.
    assert [b.release for b in ledger.boots()] == [f"7.1.{i}" for i in range(n + 1)]
    ledger.append(boot_entry(n + 1))  # the next append rotates
    assert ledger.previous.exists()
    assert [b.release for b in ledger.boots()] == [f"7.1.{i}" for i in range(n + 2)]


def test_failed_rename_removes_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "target"
    (target / "inside").mkdir(parents=True)  # a non-empty directory: no file replaces it
    with pytest.raises(IsADirectoryError):
        write_atomic(target, b"new")
    assert os.listdir(tmp_path) == ["target"]
    assert os.listdir(target) == ["inside"]


def test_a_new_state_directory_is_synced_into_its_parent(
    tmp_path: Path, syscalls: list[Event]
) -> None:
    spool = Spool(tmp_path / "var" / "spool")
    path = spool.put("boot", {"uptime": 1})
    created = [ident(tmp_path), ident(tmp_path / "var"), ident(spool.directory)]
    assert [e[2] for e in syscalls if e[:2] == ("fsync", "dir")] == created
    assert at(syscalls, "fsync", "file", ident(path))
