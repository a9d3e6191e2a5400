"""Real-kernel tests: the host agent inside real kexec chains of Debian kernels under QEMU.

Every artifact (apt state, kernel packages, initramfs, disk images, console logs) lives
under ``build/vm/``, which git ignores; nothing here is ever committed.
"""

from __future__ import annotations

from tests.conftest import REPO

BUILD = REPO / "build" / "vm"
