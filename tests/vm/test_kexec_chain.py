"""The host agent in real kexec chains: Debian's 6.1 and 6.12 cloud kernels under QEMU TCG.

Each test boots one VM that plays a plan (see init.sh): every boot runs ``record --json`` and
``status --json``, then kexecs through ``kexec-lineage kexec load``, panics, or ends. The
agent's state lives on a virtual ext4 disk, so the ledger is the one a real host would keep
across kexec and reboots. What the guest printed is judged here, on the host.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.vm import BUILD
from tests.vm.kernels import Kernel
from tests.vm.machine import Run, make_disk, run_vm

pytestmark = pytest.mark.slow

# panic=1 oops=panic: any failure ends the boot at once (with -no-reboot, the VM);
# retain_initrd: 6.12 keeps its initramfs in /sys/firmware/initrd for the next kernel.
BASE_APPEND = "console=ttyS0 panic=1 oops=panic retain_initrd"
# 1 MiB of RAM at 256 MiB, kept from the kernel by memmap= and given to ramoops; QEMU's
# -kernel/-initrd loader never writes there, and a warm reset keeps RAM.
RAMOOPS = (
    "memmap=1M$0x10000000 ramoops.mem_address=0x10000000 ramoops.mem_size=0x100000"
    " ramoops.record_size=0x20000 ramoops.max_reason=2"  # 2: KMSG_DUMP_OOPS, panics included
)
SYSRQ_TITLE = "kernel panic: sysrq triggered crash"

Boot = Callable[..., Run]


@pytest.fixture
def boot_vm(
    request: pytest.FixtureRequest, initramfs: Path, capsys: pytest.CaptureFixture[str]
) -> Boot:
    """Cold-boot a fresh VM (new state disk) on a kernel with a plan; its verdict or LostVM."""

    def boot(first: Kernel, plan: list[str], append: str = "", reboot: bool = False) -> Run:
        name = request.node.name
        run = run_vm(
            name,
            kernel=first.vmlinuz,
            initrd=initramfs,
            disk=make_disk(BUILD / "disks" / f"{name}.img"),
            append=f"{BASE_APPEND} kltest.plan={','.join(plan)} {append}".strip(),
            reboot=reboot,
        )
        with capsys.disabled():
            print(f"\n{name}: {len(run.releases)} boots in {run.seconds:.1f} s (wall)")
        run.check()
        return run

    return boot


# The keys of `status --json` that `record --json` repeats under "boot".
BOOT_KEYS = ("boot_id", "release", "how", "previous_release", "kexec_count", "previous_boot_id")


def _reports(run: Run, boot: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(record, status)`` of one boot; the two must agree on the boot itself, and no step
    of the agent may have failed quietly (``problems``)."""
    record, status = run.result(boot, "record").json(), run.result(boot, "status").json()
    assert record["problems"] == [], f"boot {boot}"
    assert {k: record["boot"][k] for k in BOOT_KEYS} == {k: status[k] for k in BOOT_KEYS}
    return record, status


def _spool(run: Run, boot: int) -> list[str]:
    """The spooled records as the guest listed them after ``record`` in ``boot``."""
    return run.result(boot, "spool").stdout.splitlines()


def test_chain_61_612_61(boot_vm: Boot, kernels: tuple[Kernel, Kernel]) -> None:
    """Cold 6.1 -> kexec 6.12 -> kexec 6.1: each boot knows where it came from."""
    k61, k612 = kernels
    releases = [k61.release, k612.release, k61.release]
    run = boot_vm(k61, [f"kexec:{k612.release}", f"kexec:{k61.release}", "end"])
    assert run.done
    assert run.releases == releases
    statuses = [_reports(run, b)[1] for b in range(3)]
    ids = [s["boot_id"] for s in statuses]

    assert [s["release"] for s in statuses] == releases
    assert [s["how"] for s in statuses] == ["cold", "kexec", "kexec"]
    assert [s["kexec_count"] for s in statuses] == [0, 1, 2]
    assert [s["previous_release"] for s in statuses] == [None, *releases[:2]]
    assert [s["previous_boot_id"] for s in statuses] == [None, *ids[:2]]
    assert len(set(ids)) == 3
    assert all(run.result(b, "record").json()["recorded"] for b in range(3))
    # The last boot's command line names only the boot before it: the cold boot at the
    # head of its chain comes from the ledger on the disk, which survived both kexecs.
    assert statuses[2]["chain"] == [
        {"boot_id": ids[b], "release": releases[b], "how": how, "kexec_count": b}
        for b, how in enumerate(["cold", "kexec", "kexec"])
    ]
    # Boot-hours from the guest's own clock: each boot spooled its start, and each kexec'd
    # boot its predecessor's whole uptime, from one start to the next.
    spool = [json.loads(line)["record"] for line in _spool(run, 2)]
    starts = {r["boot_id"]: r["started_at"] for r in spool if "hours" not in r}
    ended = {r["boot_id"]: r["hours"] for r in spool if "hours" in r}
    assert (list(starts), list(ended)) == (ids, ids[:2])
    for b in range(2):
        assert ended[ids[b]] * 3600 == pytest.approx(starts[ids[b + 1]] - starts[ids[b]])
    assert 0 < sum(ended.values()) * 3600 <= run.seconds + 2
    # The second load replaced the lineage words its --append inherited from the first.
    words = run.result(2, "cmdline").stdout.split()
    assert sorted(w for w in words if w.startswith("kexec_lineage.")) == [
        f"kexec_lineage.boot={ids[1]}",
        "kexec_lineage.count=2",
        f"kexec_lineage.prev={k612.release}",
    ]


def test_panic_harvested_from_pstore(boot_vm: Boot, kernels: tuple[Kernel, Kernel]) -> None:
    """Cold 6.12 -> kexec_file_load 6.12 -> panic -> warm reboot: the crash is attributed."""
    _, k612 = kernels
    run = boot_vm(k612, [f"kexec_file:{k612.release}", "panic", "end"], append=RAMOOPS, reboot=True)
    assert run.done
    assert run.releases == [k612.release] * 3
    _, panicked = _reports(run, 1)
    assert (panicked["how"], panicked["kexec_count"]) == ("kexec", 1)  # kexec -s worked too
    after, status = _reports(run, 2)
    assert (status["how"], status["kexec_count"]) == ("cold", 0)
    assert [(c["boot_id"], c["title"], c["source"]) for c in after["crashes"]] == [
        (panicked["boot_id"], SYSRQ_TITLE, "pstore:panic")
    ]
    # The dump's last time stamp is the panicked boot's uptime: nothing else knows it
    # after a reset. (Its kexec'd start also gave it the cold boot's whole uptime.)
    spool = [json.loads(line)["record"] for line in _spool(run, 2)]
    (crashed_hours,) = [
        r["hours"] for r in spool if r["boot_id"] == panicked["boot_id"] and "hours" in r
    ]
    assert 0 < crashed_hours * 3600 < run.seconds
