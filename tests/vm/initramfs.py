"""The guest's whole root filesystem, as one initramfs that every kernel of a chain boots.

Contents: static busybox and its applet links, kexec-tools with the libraries ``ldd`` names,
Debian's python3.11 with its libraries and a trimmed standard library, a byte-compiled copy
of ``src/`` under ``/opt/kexec-lineage/src`` with pylibfdt beside it (the ``fdt`` extra, for
``decode`` of KHO FDTs), every kernel of the chain under
``/kernels/<release>/vmlinuz``, the modules each kernel must load under
``/lib/modules/<release>/`` with their load order, and ``/init`` (init.sh).

The same image boots every kernel: the guest hands it on to the next one itself (see
init.sh). Built afresh per test session, since ``src/`` is what is under test (about 1.5 s).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import _libfdt
import libfdt

from tests.conftest import REPO
from tests.vm import BUILD
from tests.vm.cpio import CpioWriter
from tests.vm.kernels import Kernel
from tests.vm.modules import load_order

# Debian's interpreter, not whichever python3 is first on PATH (pyenv, a venv).
PYTHON = Path("/usr/bin/python3.11")
STDLIB = Path("/usr/lib/python3.11")
# Parts of the standard library a host agent never imports: tests, GUI, packaging, and
# extension modules whose libraries (OpenSSL, ncurses, Berkeley DB...) would double the
# image. hashlib falls back to the built-in _sha256 and friends without _hashlib.
STDLIB_SKIP = re.compile(
    r"(^|/)(test|tests|idlelib|tkinter|turtledemo|ensurepip|lib2to3|pydoc_data|"
    r"site-packages|dist-packages|config-3\.11-[^/]*)(/|$)"
    r"|lib-dynload/(_test|_xx|xxlimited|_curses|readline|_dbm|nis|_ssl|_hashlib|_sqlite3|"
    r"_tkinter|_ctypes_test|ossaudiodev|audioop)"
)
# Modules per purpose, by name; dependencies and built-ins are worked out per release.
MODULES = {
    "disk": ("virtio_pci", "virtio_blk", "ext4"),
    "pstore": ("ramoops",),
}


def build_initramfs(kernels: Iterable[Kernel], name: str = "initramfs") -> Path:
    """Write ``build/vm/<name>.cpio.gz`` and return its path."""
    out = BUILD / f"{name}.cpio.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    # Level 1: the kernel images inside are already compressed, and the guest decompresses
    # the rest under TCG, where a smaller stream buys little.
    with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz:
        root = _Root(CpioWriter(gz))
        for d in ("dev", "proc", "sys", "tmp", "var/lib"):  # mount points
            root.cpio.directory(d)
        root.busybox()
        root.program(Path("/usr/sbin/kexec"), "usr/sbin/kexec")
        root.program(PYTHON, "usr/bin/python3")
        root.stdlib()
        _source(root.cpio)
        for kernel in kernels:
            _kernel(root.cpio, kernel)
        root.cpio.file("init", (Path(__file__).parent / "init.sh").read_bytes(), mode=0o755)
        root.cpio.close()
    tmp.rename(out)
    return out


class _Root:
    """Host programs copied into the image, each shared library once at its own path."""

    def __init__(self, cpio: CpioWriter) -> None:
        self.cpio = cpio
        self._libraries: set[str] = set()

    def busybox(self) -> None:
        busybox = Path("/bin/busybox")
        self.cpio.file("bin/busybox", busybox.read_bytes(), mode=0o755)
        applets = subprocess.run(
            [busybox, "--list"], capture_output=True, text=True, check=True
        ).stdout.split()
        for applet in applets:
            if applet != "busybox":
                self.cpio.symlink(f"bin/{applet}", "busybox")

    def program(self, path: Path, dest: str) -> None:
        self.cpio.file(dest, path.read_bytes(), mode=0o755)
        self.libraries_of(path)

    def libraries_of(self, obj: Path) -> None:
        ldd = subprocess.run(["ldd", obj], capture_output=True, text=True, check=True)
        for lib in re.findall(r"(/\S+) \(0x", ldd.stdout):
            if lib not in self._libraries:
                self._libraries.add(lib)
                self.cpio.file(lib, Path(lib).read_bytes(), mode=0o755)

    def stdlib(self) -> None:
        """The trimmed standard library with Debian's own bytecode (mtimes kept: still valid)."""
        for path in _walk(STDLIB):
            rel = path.relative_to(STDLIB).as_posix()
            if STDLIB_SKIP.search(rel) or ".opt-" in path.name:
                continue
            dest = f"usr/lib/python3.11/{rel}"
            if path.is_symlink():
                self.cpio.symlink(dest, os.readlink(path))
                continue
            self.cpio.file(dest, path.read_bytes(), mtime=int(path.stat().st_mtime))
            if path.suffix == ".so":
                self.libraries_of(path)


def _source(cpio: CpioWriter) -> None:
    """``src/kexec_lineage`` byte-compiled by the guest's interpreter, so no boot compiles it.

    ``unchecked-hash`` bytecode is trusted without comparing mtimes, which the copy would
    otherwise have to preserve through the 6.1 re-pack.
    """
    staging = BUILD / "guest-src"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(
        REPO / "src" / "kexec_lineage",
        staging / "kexec_lineage",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    # pylibfdt as the venv built it: a Python 3.11 extension needing only libc.
    for module in (libfdt, _libfdt):
        shutil.copy2(str(module.__file__), staging)
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", staging],
        check=True,
    )
    for path in _walk(staging):
        if not path.is_symlink():
            rel = path.relative_to(staging).as_posix()
            cpio.file(f"opt/kexec-lineage/src/{rel}", path.read_bytes())


def _kernel(cpio: CpioWriter, kernel: Kernel) -> None:
    """The image and, per purpose, the modules to load (none for a kernel without modules)."""
    cpio.file(f"kernels/{kernel.release}/vmlinuz", kernel.vmlinuz.read_bytes())
    for purpose, wanted in MODULES.items():
        order = load_order(kernel, wanted) if kernel.modules else []
        for name, elf in order:
            cpio.file(f"lib/modules/{kernel.release}/{name}.ko", elf)
        listing = "".join(f"{name}\n" for name, _ in order)
        cpio.file(f"lib/modules/{kernel.release}/{purpose}.list", listing.encode())


def _walk(root: Path) -> Iterator[Path]:
    """Files and symlinks under ``root``, in a stable order (directories are implied)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(Path(dirpath, d))]):
            yield Path(dirpath, name)
