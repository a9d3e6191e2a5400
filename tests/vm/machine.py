"""One QEMU virtual machine playing a kexec plan, and what its serial console reported.

The guest's init (init.sh) writes one-line ``KLTEST`` records to the serial console:

- ``KLTEST BOOT <boot> <release>``: a boot started;
- ``KLTEST RESULT <boot> <name> <status> <stdout> <stderr>``: one command's exit status and
  base64 output (``-`` for none);
- ``KLTEST FAIL <boot> <message>``: a step could not go on (the guest powers off);
- ``KLTEST DONE <boot>``: the plan ran to its end.

As in drgn's vmtest, "the VM died" is kept apart from "a test failed": when QEMU exits or
times out without the guest's verdict (DONE or FAIL), ``run_vm`` raises :class:`LostVM`,
while everything the guest did report comes back as a :class:`Run` for the test to judge.
The whole console, each line stamped with host seconds since QEMU started, is kept in
``build/vm/logs/<name>.log``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from tests.vm import BUILD

QEMU = "qemu-system-x86_64"
# KVM here is kvm-pvm, which stock kernels cannot run on; TCG it is. Without cx16, QEMU 7.2's
# TCG does not double-fault the guest after cmpxchg16b (0 failures in 72 lab runs).
MACHINE = ("-accel", "tcg", "-cpu", "qemu64,-cx16", "-smp", "1")
# A record split by a kernel message (only emergencies reach the console once init runs)
# matches none of these and is left out: the test then misses it and says which.
_BOOT = re.compile(r"KLTEST BOOT (\d+) (\S+)$")
_B64 = r"([A-Za-z0-9+/]+=*|-)"
_RESULT = re.compile(rf"KLTEST RESULT (\d+) (\S+) (\d+) {_B64} {_B64}$")
_FAIL = re.compile(r"KLTEST FAIL (\S+) (.*)$")
_DONE = re.compile(r"KLTEST DONE \d+$")


class LostVM(Exception):
    """QEMU exited or hit the wall-clock limit before the guest reported DONE or FAIL."""


@dataclass(frozen=True)
class Result:
    """One command the guest ran."""

    boot: int
    name: str
    status: int
    #: stdout as the guest wrote it: binary files (KHO blobs) are copied this way
    raw: bytes
    stderr: str

    @property
    def stdout(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def json(self) -> Any:
        """The command's stdout as JSON; a failed or non-JSON run fails with its stderr."""
        assert self.status == 0, f"boot {self.boot}: {self.name} exited {self.status}:\n" + (
            self.stderr or self.stdout
        )
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as e:
            raise AssertionError(
                f"boot {self.boot}: {self.name} printed no JSON ({e}):\n{self.stdout}"
            ) from None


@dataclass
class Run:
    """Everything one VM reported, in order."""

    log: Path
    seconds: float = 0.0
    releases: list[str] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    failure: str | None = None
    done: bool = False

    def result(self, boot: int, name: str) -> Result:
        for r in self.results:
            if (r.boot, r.name) == (boot, name):
                return r
        raise AssertionError(f"boot {boot} reported no {name!r} (see {self.log})")

    def check(self) -> None:
        """Fail with the guest's own words when a step of the plan failed."""
        if self.failure is not None:
            last = self.results[-1] if self.results else None
            detail = (
                f"\nlast command {last.name} exited {last.status}:\n{last.stderr}" if last else ""
            )
            raise AssertionError(f"guest: {self.failure}{detail}\n(console: {self.log})")

    def _parse(self, line: str) -> None:
        if match := _BOOT.search(line):
            self.releases.append(match.group(2))
        elif match := _RESULT.search(line):
            boot, name, status, out, err = match.groups()
            with contextlib.suppress(binascii.Error):  # garbled on the way, as above
                self.results.append(
                    Result(
                        int(boot),
                        name,
                        int(status),
                        _b64(out),
                        _b64(err).decode("utf-8", "replace"),
                    )
                )
        elif match := _FAIL.search(line):
            self.failure = f"boot {match.group(1)}: {match.group(2)}"
        elif _DONE.search(line):
            self.done = True


def _b64(text: str) -> bytes:
    return b"" if text == "-" else base64.b64decode(text)


def make_disk(path: Path, size_mib: int = 32, fs: str = "ext4") -> Path:
    """A fresh image for the guest's state: it outlives every kexec and reboot.

    The KHO kernels have only ext2 built in (Debian's mount it through ext4).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with path.open("wb") as f:
        f.truncate(size_mib << 20)
    subprocess.run([f"mkfs.{fs}", "-q", "-F", str(path)], check=True, capture_output=True)
    return path


def run_vm(
    name: str,
    *,
    kernel: Path,
    initrd: Path,
    disk: Path,
    append: str,
    reboot: bool = False,
    timeout: float = 150.0,
    memory_mib: int = 768,
) -> Run:
    """Boot ``kernel`` cold and wait for the guest's verdict; raise :class:`LostVM` if none.

    ``reboot=False`` adds ``-no-reboot``, so a panic or reset ends QEMU instead of looping;
    the warm-reboot scenario passes True (QEMU keeps the guest's RAM across its reset).
    """
    logs = BUILD / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    run = Run(log=logs / f"{name}.log")
    argv = [QEMU, *MACHINE, "-m", str(memory_mib), "-nographic", "-nodefaults", "-serial", "stdio"]
    argv += ["-kernel", str(kernel), "-initrd", str(initrd), "-append", append]
    argv += ["-drive", f"file={disk},format=raw,if=virtio"]
    if not reboot:
        argv.append("-no-reboot")
    start = time.monotonic()
    verdict = threading.Event()
    with (
        run.log.open("w") as log,
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        ) as qemu,
    ):
        log.write(f"# {' '.join(argv)}\n")
        assert qemu.stdout is not None
        reader = threading.Thread(
            target=_console, args=(qemu.stdout, log, run, start, verdict), daemon=True
        )
        reader.start()
        timed_out = not verdict.wait(timeout)
        try:
            status = qemu.wait(0 if timed_out else 10)  # after a verdict, the guest powers off
        except subprocess.TimeoutExpired:
            qemu.kill()
            status = qemu.wait()
        reader.join()
        run.seconds = time.monotonic() - start
        log.write(f"# qemu exit {status} after {run.seconds:.1f} s\n")
    if not (run.done or run.failure):
        why = f"timed out after {timeout:.0f} s" if timed_out else f"exited {status}"
        tail = "\n".join(run.log.read_text().splitlines()[-15:])
        raise LostVM(f"QEMU {why} before the guest's verdict; console {run.log}:\n{tail}")
    return run


def _console(
    stdout: IO[bytes], log: TextIO, run: Run, start: float, verdict: threading.Event
) -> None:
    """Copy the serial console to the log with timestamps, parsing records on the way."""
    for raw in stdout:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        log.write(f"[{time.monotonic() - start:8.3f}] {line}\n")
        run._parse(line)
        if run.done or run.failure:
            verdict.set()
    verdict.set()  # QEMU is gone
