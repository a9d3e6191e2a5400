"""Kernel modules the guest loads itself, in dependency order, decompressed on the host.

The guest has only busybox ``insmod``, which neither reads ``modules.dep`` nor resolves
dependencies nor decompresses, and Debian's packages ship no ``modules.dep`` anyway (``depmod``
runs at install time). So the order comes from each module's own ``depends=`` field in its
``.modinfo`` section, and modules the kernel has built in (``modules.builtin``) are left out:
which drivers are modules differs between releases (virtio is ``=m`` in 6.1 cloud, ``=y`` in
6.12 cloud), and this is how one list of names serves both.
"""

from __future__ import annotations

import lzma
import re
import subprocess
from pathlib import Path

from tests.vm.kernels import Kernel


def _normalize(name: str) -> str:
    return name.replace("-", "_")


def _module_name(path: Path) -> str:
    return _normalize(path.name.split(".ko", 1)[0])


def read_module(path: Path) -> bytes:
    """The ELF object of a ``.ko``, ``.ko.xz`` or ``.ko.zst``."""
    if path.name.endswith(".xz"):
        return lzma.decompress(path.read_bytes())
    if path.name.endswith(".zst"):
        return subprocess.run(["zstd", "-dcq", str(path)], capture_output=True, check=True).stdout
    return path.read_bytes()


def load_order(kernel: Kernel, wanted: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """``(name, ELF bytes)`` of ``wanted`` and their dependencies, dependencies first."""
    assert kernel.modules is not None, f"{kernel.release} has no modules"
    builtin = {
        _module_name(Path(line))
        for line in (kernel.modules / "modules.builtin").read_text().split()
    }
    files = {_module_name(p): p for p in (kernel.modules / "kernel").rglob("*.ko*")}
    ordered: list[tuple[str, bytes]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        name = _normalize(name)
        if name in seen or name in builtin:
            return
        seen.add(name)
        if name not in files:
            raise LookupError(f"{kernel.release} has no module {name} (and it is not built in)")
        elf = read_module(files[name])
        depends = re.search(rb"(?:^|\0)depends=([^\0]*)\0", elf)
        for dep in depends.group(1).decode().split(",") if depends else []:
            if dep:
                visit(dep)
        ordered.append((name, elf))

    for name in wanted:
        visit(name)
    return ordered
