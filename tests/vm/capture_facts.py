"""Capture the host-facts test data: copied trees of what booted QEMU guests show under ``/``.

Test data for the host facts reader, from this project's own QEMU runs: each guest boots a
Debian cloud kernel (``fetch_kernels()``, as in the VM tests) under TCG with a tiny busybox
initramfs whose init copies, at their paths relative to ``/``:

- every regular file directly in ``sys/class/dmi/id/`` except the identifying ones
  (``SKIP_DMI``);
- ``proc/cpuinfo``, ``proc/meminfo``, ``proc/cmdline``;
- ``sys/kernel/kexec_crash_loaded``, ``sys/kernel/kexec_crash_size``;
- where they exist: ``sys/firmware/efi/`` reduced to a marker (the directory, with only the
  ``SecureBoot`` efivar byte for byte, efivarfs being mounted first),
  ``sys/class/tpm/tpm0/tpm_version_major`` and ``sys/hypervisor/type``.

The guest prints them as a base64 tar.gz between markers on the serial console (with its
sha256); this script checks and unpacks them to ``OUTDIR/<guest>/``. Rerun with::

    cd /work/main && .venv/bin/python -m tests.vm.capture_facts tests/data/host-facts

Needs qemu-system-x86_64, and for the EFI guests ovmf, for the TPM swtpm (neither is in
scripts/system-packages: this is a one-off, not a test). Consoles go to
``build/vm/logs/capture-<guest>.log``. The first capture (2026-12-03, QEMU 7.2 TCG on a
2-CPU machine without usable KVM) took 22 s for the four guests, kernels already cached:
boot to power-off 2 to 9 s each, see tests/data/host-facts/README.md.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.vm import BUILD
from tests.vm.cpio import CpioWriter
from tests.vm.initramfs import _Root
from tests.vm.kernels import Kernel, fetch_kernels
from tests.vm.machine import QEMU
from tests.vm.modules import load_order

OVMF = Path("/usr/share/OVMF")
# EFI_GLOBAL_VARIABLE, as efivarfs names it.
SECURE_BOOT = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
# Identifying DMI fields, never copied.
SKIP_DMI = "product_serial product_uuid board_serial chassis_serial board_asset_tag " + (
    "chassis_asset_tag"
)
TIMEOUT = 900.0

INIT = rf"""#!/bin/sh
# PID 1 of a capture guest: copy the facts to /tmp/facts, print them, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
dmesg -n 1
while read -r m; do insmod "/modules/$m.ko"; done </modules/list
O=/tmp/facts
# cat, not cp or tar: sysfs files claim 4096 bytes whatever they hold.
copy() {{ mkdir -p "$O/${{1%/*}}" && cat "/$1" >"$O/$1"; }}
for f in /sys/class/dmi/id/*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    case " {SKIP_DMI} " in *" ${{f##*/}} "*) continue ;; esac
    copy "${{f#/}}"
done
if [ -e /crash/vmlinuz ]; then
    kexec -s -p /crash/vmlinuz --append="console=ttyS0 nr_cpus=1 reset_devices" ||
        echo "=== kexec -p failed ==="
fi
for f in proc/cpuinfo proc/meminfo proc/cmdline sys/kernel/kexec_crash_loaded \
    sys/kernel/kexec_crash_size sys/class/tpm/tpm0/tpm_version_major sys/hypervisor/type; do
    [ -e "/$f" ] && copy "$f"
done
if [ -d /sys/firmware/efi ]; then
    mkdir -p "$O/sys/firmware/efi"
    mount -t efivarfs efivarfs /sys/firmware/efi/efivars
    v=sys/firmware/efi/efivars/{SECURE_BOOT}
    [ -e "/$v" ] && copy "$v"
fi
tar -C "$O" -czf /tmp/facts.tgz .
echo "=== RELEASE $(uname -r) ==="
echo "=== FACTS BEGIN $(sha256sum /tmp/facts.tgz | cut -d' ' -f1) ==="
base64 /tmp/facts.tgz
echo "=== FACTS END ==="
poweroff -f
"""


@dataclass(frozen=True)
class Guest:
    name: str
    series: str  # "6.1" or "6.12"
    qemu: tuple[str, ...]  # machine, cpu, smp, memory
    append: str = ""
    firmware: tuple[str, str] | None = None  # OVMF (code, vars template)
    tpm: bool = False  # a TPM 2.0 from swtpm
    crash: bool = False  # load a crash kernel, so kexec_crash_loaded reads 1


GUESTS = (
    Guest(
        "qemu-la57-bios",
        "6.12",
        ("-machine", "pc", "-cpu", "max,+la57,-cx16", "-smp", "2", "-m", "3072"),
        append="crashkernel=256M",
        crash=True,
    ),
    Guest(
        "qemu-nola57-bios",
        "6.1",
        ("-machine", "pc", "-cpu", "qemu64,-cx16", "-smp", "1", "-m", "1536"),
    ),
    Guest(
        "qemu-efi",
        "6.12",
        ("-machine", "pc", "-cpu", "qemu64,-cx16", "-smp", "2", "-m", "2048"),
        append="crashkernel=128M",
        firmware=("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"),
        tpm=True,
    ),
    Guest(
        "qemu-efi-secureboot",
        "6.12",
        (
            *("-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"),
            *("-cpu", "max,-la57,-cx16", "-smp", "1", "-m", "2560"),
        ),
        firmware=("OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"),
    ),
)


@dataclass
class Capture:
    guest: Guest
    argv: list[str]
    release: str
    seconds: float


def build_initramfs(kernel: Kernel, crash: bool, out: Path) -> Path:
    """busybox, efivarfs.ko (a module in Debian's cloud kernels), the init, and for ``crash``
    kexec-tools and the kernel itself to load as the crash kernel."""
    with out.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz:
        root = _Root(CpioWriter(gz))
        for d in ("dev", "proc", "sys", "tmp"):
            root.cpio.directory(d)
        root.busybox()
        modules = load_order(kernel, ("efivarfs",))
        for name, elf in modules:
            root.cpio.file(f"modules/{name}.ko", elf)
        root.cpio.file("modules/list", "".join(f"{n}\n" for n, _ in modules).encode())
        if crash:
            root.program(Path("/usr/sbin/kexec"), "usr/sbin/kexec")
            root.cpio.file("crash/vmlinuz", kernel.vmlinuz.read_bytes())
        root.cpio.file("init", INIT.encode(), mode=0o755)
        root.cpio.close()
    return out


def capture(guest: Guest, kernel: Kernel, outdir: Path) -> Capture:
    work = BUILD / "capture" / guest.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    initrd = build_initramfs(kernel, guest.crash, work / "initramfs.cpio.gz")
    argv = [QEMU, "-accel", "tcg", *guest.qemu, "-nodefaults", "-nographic", "-no-reboot"]
    argv += ["-serial", "stdio", "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd)]
    argv += ["-append", f"console=ttyS0 panic=-1 {guest.append}".strip()]
    if guest.firmware:
        code, template = guest.firmware
        shutil.copyfile(OVMF / template, work / "vars.fd")
        argv += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF / code}"]
        argv += ["-drive", f"if=pflash,format=raw,unit=1,file={work / 'vars.fd'}"]
    swtpm = None
    if guest.tpm:
        sock = work / "swtpm.sock"
        swtpm = subprocess.Popen(
            [
                *("swtpm", "socket", "--tpm2", "--tpmstate", f"dir={work}", "--terminate"),
                *("--ctrl", f"type=unixio,path={sock}"),
            ]
        )
        for _ in range(50):
            if sock.exists():
                break
            time.sleep(0.1)
        argv += ["-chardev", f"socket,id=chrtpm,path={sock}"]
        argv += ["-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"]
    start = time.monotonic()
    try:
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT, check=False
        )
        console = proc.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        console = (e.stdout or b"").decode("utf-8", "replace") + f"\n# timed out ({TIMEOUT} s)"
    finally:
        if swtpm is not None:
            swtpm.terminate()
            swtpm.wait()
    seconds = time.monotonic() - start
    log = BUILD / "logs" / f"capture-{guest.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"# {' '.join(argv)}\n{console}\n# {seconds:.1f} s\n")
    release = re.search(r"=== RELEASE (\S+) ===", console)
    block = re.search(r"=== FACTS BEGIN (\w+) ===\r?\n(.*?)=== FACTS END ===", console, re.S)
    if not (release and block):
        raise RuntimeError(f"{guest.name}: no facts on the console after {seconds:.0f} s: {log}")
    data = base64.b64decode("".join(block.group(2).split()))
    if hashlib.sha256(data).hexdigest() != block.group(1):
        raise RuntimeError(f"{guest.name}: the facts were garbled on the console: {log}")
    tree = outdir / guest.name
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(tree, filter="data")
    return Capture(guest, argv, release.group(1), seconds)


def summary(tree: Path) -> str:
    """The facts a tree exhibits, for the README."""
    flags = re.search(r"^flags\s*:(.*)$", (tree / "proc/cpuinfo").read_text(), re.M)
    la57 = "la57" in (flags.group(1).split() if flags else [])
    efi = (tree / "sys/firmware/efi").is_dir()
    sb = tree / "sys/firmware/efi/efivars" / SECURE_BOOT
    secure = f"SecureBoot={sb.read_bytes()[4:]!r}" if sb.exists() else "no SecureBoot var"
    tpm = tree / "sys/class/tpm/tpm0/tpm_version_major"
    crash = (tree / "sys/kernel/kexec_crash_loaded").read_text().strip()
    size = (tree / "sys/kernel/kexec_crash_size").read_text().strip()
    return (
        f"la57={'yes' if la57 else 'no'} {'efi, ' + secure if efi else 'bios'} "
        f"tpm={tpm.read_text().strip() if tpm.exists() else 'none'} "
        f"kexec_crash_loaded={crash} kexec_crash_size={size}"
    )


def main(argv: list[str]) -> int:
    if len(argv) < 1:
        print(f"usage: python -m tests.vm.capture_facts OUTDIR [GUEST...]\n{__doc__}")
        return 2
    outdir, wanted = Path(argv[0]), set(argv[1:])
    kernels = {".".join(k.release.split(".")[:2]): k for k in fetch_kernels()}  # "6.1": ...
    for guest in GUESTS:
        if wanted and guest.name not in wanted:
            continue
        try:
            c = capture(guest, kernels[guest.series], outdir)
        except RuntimeError as e:
            print(f"{guest.name}: FAILED: {e}", flush=True)
            continue
        print(f"{guest.name}: {c.release}, {c.seconds:.1f} s", flush=True)
        print(f"  {' '.join(a for a in c.argv[1:] if not a.startswith('/'))}", flush=True)
        print(f"  {summary(outdir / guest.name)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
