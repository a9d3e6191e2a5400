"""The host path on real Kexec HandOver kernels: Linux 7.x built with KHO, under QEMU TCG.

Three VMs play a plan each (init.sh): every boot runs the agent (``record``, ``status``,
``decode``), copies every file of KHO's debugfs and the kernel log to the console, and
kexecs through ``kexec-lineage kexec load``. The kernels are the two newest KHO series
(older/newer: today 7.2.13 and 7.3.4, see kho_kernels.py) and Debian's prebuilt 7.x cloud
kernel, which has no KHO. What the kernels did is judged against what the agent recorded,
against the kernel model (``abi.kho_boot``, ``build_root``) and, through a real collector,
against the fleet's view of the host.

``KLTEST_CAPTURE=DIR pytest tests/vm/test_kho.py`` also writes each boot's debugfs tree
and KHO lines under DIR: that is where ``tests/data/kho-real/`` came from.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kexec_lineage.abi import kexec_metadata
from kexec_lineage.abi.kho_boot import Kernel as ModelKernel
from kexec_lineage.abi.kho_boot import KhoBoot, boot
from kexec_lineage.abi.kho_fdt import KhoChild, build_root, parse_root
from kexec_lineage.fleet.count_queries import fact_set_table
from kexec_lineage.fleet.store import open_store
from kexec_lineage.model.handover import Handover
from tests.collector import Collector, kexec_lineage
from tests.conftest import tool
from tests.vm import BUILD
from tests.vm.conftest import KhoKernels, terminal
from tests.vm.kernels import Kernel
from tests.vm.machine import Run, make_disk, run_vm

pytestmark = pytest.mark.slow

# kho=on: KHO is off by default. 1 GiB, as the kernel's own KHO selftest boots.
APPEND = "console=ttyS0 panic=1 oops=panic retain_initrd kho=on"
MEMORY_MIB = 1024
EXEC_FROM = re.compile(r"KHO: exec from: (\S+) \(count (\d+)\)$")
METADATA = f"kho/{{}}/sub_fdts/{kexec_metadata.NODE_NAME}"


@dataclass(frozen=True)
class KhoRun:
    """One VM's chain: the kernels it booted, in order, and what it reported."""

    run: Run
    kernels: list[Kernel]
    disk: Path

    @property
    def boots(self) -> range:
        return range(len(self.kernels))

    def status(self, boot: int) -> dict[str, Any]:
        """``status --json``; ``record --json`` must agree with it and report no problem."""
        record, status = (self.run.result(boot, n).json() for n in ("record", "status"))
        assert record["problems"] == [], f"boot {boot}"
        assert {k: status[k] for k in record["boot"]} == record["boot"], f"boot {boot}"
        return status  # type: ignore[no-any-return]

    def kho_lines(self, boot: int) -> list[str]:
        """The kernel's own ``KHO:`` lines, as its log has them (time stamps dropped)."""
        log = self.run.result(boot, "dmesg").stdout.splitlines()
        return [line.partition("] ")[2] for line in log if "] KHO: " in line]

    def debugfs(self, boot: int, path: str) -> bytes | None:
        """A file of ``/sys/kernel/debug/kho`` as the kernel wrote it; None where absent."""
        name = f"debugfs:{path}"
        found = [r for r in self.run.results if (r.boot, r.name) == (boot, name)]
        if not found:
            return None
        assert found[0].status == 0, f"boot {boot}: cat {path}: {found[0].stderr}"
        return found[0].raw

    def file_load(self, boot: int) -> bool:
        """Whether boot ``boot`` came from a ``kexec_file_load`` of the boot before."""
        argv = shlex.split(self.run.result(boot - 1, "kexec-dry-run").stdout)
        return "-s" in argv


@pytest.fixture(scope="module")
def play(
    request: pytest.FixtureRequest, kho_initramfs: Path
) -> Callable[[str, list[Kernel], list[str]], KhoRun]:
    """Boot the first kernel cold with a plan; the plan's kexecs must boot the others."""
    say = terminal(request, "kho vm")

    def play(name: str, chain: list[Kernel], actions: list[str]) -> KhoRun:
        disk = make_disk(BUILD / "disks" / f"{name}.img", fs="ext2")
        run = run_vm(
            name,
            kernel=chain[0].vmlinuz,
            initrd=kho_initramfs,
            disk=disk,
            append=f"{APPEND} kltest.plan={','.join(actions)}",
            memory_mib=MEMORY_MIB,
            timeout=300,
        )
        say(f"{name}: {len(run.releases)} boots in {run.seconds:.1f} s (wall)")
        run.check()
        assert run.done
        assert run.releases == [k.release for k in chain]
        played = KhoRun(run, chain, disk)
        if capture := os.environ.get("KLTEST_CAPTURE"):
            _capture(played, Path(capture) / name)
        return played

    return play


@pytest.fixture(scope="module")
def chain_run(play: Callable[..., KhoRun], kho: KhoKernels) -> KhoRun:
    """Scenario 1: cold older -> newer -> older, each through ``kexec-lineage kexec load``."""
    older, newer = kho.older.kernel, kho.newer.kernel
    return play(
        "kho_chain",
        [older, newer, older],
        [f"kexec:{newer.release}", f"kexec:{older.release}", "end"],
    )


@pytest.fixture(scope="module")
def broken_run(play: Callable[..., KhoRun], kho: KhoKernels) -> KhoRun:
    """Scenario 2: newer -> Debian's 7.x (no KHO) -> newer."""
    newer, debian = kho.newer.kernel, kho.debian
    return play(
        "kho_broken",
        [newer, debian, newer],
        [f"kexec:{debian.release}", f"kexec:{newer.release}", "end"],
    )


@pytest.fixture(scope="module")
def paths_run(play: Callable[..., KhoRun], kho: KhoKernels) -> KhoRun:
    """Scenario 3: newer -> forced kexec_load (-c) -> newer -> the wrapper's choice -> newer."""
    newer = kho.newer.kernel
    return play(
        "kho_paths",
        [newer, newer, newer],
        [f"kexec_load:{newer.release}", f"kexec:{newer.release}", "end"],
    )


def test_kho_chain_across_releases(chain_run: KhoRun) -> None:
    """Every hop carries KHO, and the kernel's record, its log line and our parameters agree."""
    releases = [k.release for k in chain_run.kernels]
    statuses = [chain_run.status(b) for b in chain_run.boots]
    assert [s["how"] for s in statuses] == ["cold", "kexec", "kexec"]
    assert [s["kexec_count"] for s in statuses] == [0, 1, 2]
    assert [s["previous_release"] for s in statuses] == [None, *releases[:2]]
    assert [s["previous_boot_id"] for s in statuses] == [
        None,
        *(s["boot_id"] for s in statuses[:2]),
    ]
    assert [chain_run.file_load(b) for b in (1, 2)] == [True, True]  # the wrapper chose -s
    for b in (1, 2):
        status = statuses[b]
        assert status["disagreements"] == [], f"boot {b}"
        line = f"KHO: exec from: {releases[b - 1]} (count {b})"
        assert line in chain_run.kho_lines(b)
        said = {
            e["source"]: (e["kexec"], e["previous_release"], e["kexec_count"])
            for e in status["evidence"]
        }
        assert said["kho"] == said["kho-log"] == said["cmdline"] == (True, releases[b - 1], b)
        blob = chain_run.debugfs(b, METADATA.format("in"))
        assert blob is not None and kexec_metadata.decode(blob) == Handover(releases[b - 1], b)
        # decode of the real kho/in says first what the kernel said.
        decoded = chain_run.run.result(b, "decode")
        assert decoded.status == 0, decoded.stderr
        assert decoded.stdout.splitlines()[0] == line
        assert chain_run.run.result(b, "decode-json").json()["kernel_line"] == line
    assert statuses[2]["chain"] == [
        {"boot_id": s["boot_id"], "release": s["release"], "how": s["how"], "kexec_count": b}
        for b, s in enumerate(statuses)
    ]
    # A cold boot has no kho/in: decode says so in one line and exits 2.
    cold = chain_run.run.result(0, "decode")
    assert (cold.status, cold.stdout, cold.stderr.count("\n")) == (2, "", 1)
    assert "was not a KHO kexec" in cold.stderr


def test_kho_chain_breaks_under_the_kernel(broken_run: KhoRun) -> None:
    """A kernel without KHO in the chain: KHO starts again at 1, our parameters go on."""
    newer, debian = broken_run.kernels[:2]
    statuses = [broken_run.status(b) for b in broken_run.boots]
    assert [s["how"] for s in statuses] == ["cold", "kexec", "kexec"]
    assert [s["kexec_count"] for s in statuses] == [0, 1, 2]
    assert [s["previous_release"] for s in statuses] == [None, newer.release, debian.release]
    # Debian's kernel has no KHO at all: no lines, no debugfs, and our parameters alone.
    assert broken_run.kho_lines(1) == []
    assert broken_run.debugfs(1, METADATA.format("out")) is None
    assert [e["source"] for e in statuses[1]["evidence"]] == ["cmdline", "ledger"]
    # The last kernel has KHO but received nothing: no KHO line, no kho/in, count 1 again.
    assert broken_run.kho_lines(2) == []
    assert broken_run.debugfs(2, METADATA.format("in")) is None
    handed_on = broken_run.debugfs(2, METADATA.format("out"))
    assert handed_on is not None and kexec_metadata.decode(handed_on) == Handover(newer.release, 1)
    said = {e["source"]: e for e in statuses[2]["evidence"]}
    assert said["kho"]["kexec"] is False
    assert (said["cmdline"]["kexec"], said["cmdline"]["kexec_count"]) == (True, 2)
    (disagreement,) = statuses[2]["disagreements"]
    assert disagreement.startswith("KHO says this boot was cold, cmdline says kexec")
    assert statuses[2]["summary"].startswith(f"booted via kexec from {debian.release} (count 2)")


def test_kho_kexec_paths(paths_run: KhoRun) -> None:
    """The wrapper picks kexec_file_load on a KHO kernel; a forced kexec_load is warned
    about, loses KHO's record, and our parameters keep the chain."""
    release = paths_run.kernels[0].release
    forced, chosen = (paths_run.run.result(b, "kexec-dry-run") for b in (0, 1))
    warning = "kexec-lineage: warning: kexec_load (-c) with KHO on"
    assert "-c" in shlex.split(forced.stdout) and "-s" not in shlex.split(forced.stdout)
    assert forced.stderr.startswith(warning) and forced.stderr.count("\n") == 1
    load = paths_run.run.result(0, "kexec-load")
    assert load.status == 0 and load.stderr.count(warning) == 1
    assert "-s" in shlex.split(chosen.stdout)
    assert chosen.stderr == (
        "kexec-lineage: kexec_file_load (-s): KHO is on (/sys/kernel/debug/kho/out exists), "
        "and only -s carries its state\n"
    )
    statuses = [paths_run.status(b) for b in paths_run.boots]
    assert [s["kexec_count"] for s in statuses] == [0, 1, 2]
    assert [s["previous_release"] for s in statuses] == [None, release, release]
    # After kexec_load: nothing from KHO, the chain from our parameters.
    assert not any(EXEC_FROM.search(line) for line in paths_run.kho_lines(1))
    assert paths_run.debugfs(1, METADATA.format("in")) is None
    assert statuses[1]["disagreements"][0].startswith("KHO says this boot was cold")
    # After kexec_file_load: KHO's line again, its count restarted where kexec_load broke it.
    assert f"KHO: exec from: {release} (count 1)" in paths_run.kho_lines(2)
    assert any("KHO count 1 restarted" in d for d in statuses[2]["disagreements"])


@pytest.mark.parametrize("name", ["chain_run", "broken_run", "paths_run"])
def test_kernel_model_matches_the_real_kernel(
    request: pytest.FixtureRequest, kho: KhoKernels, name: str
) -> None:
    """Per boot: ``abi.kho_boot`` predicts the kernel's KHO lines and the 73-byte record it
    hands on, and ``build_root`` rebuilds each real root FDT byte for byte."""
    played: KhoRun = request.getfixturevalue(name)
    compatible = {k.release: k.kho_compatible for k in (kho.older, kho.newer)}
    before: KhoBoot | None = None
    for b, kernel in enumerate(played.kernels):
        incoming = before.image if before and b and played.file_load(b) else None
        predicted = boot(ModelKernel(kernel.release, compatible.get(kernel.release)), incoming)
        assert list(predicted.lines) == played.kho_lines(b), f"boot {b}"
        handed_on = played.debugfs(b, METADATA.format("out"))
        if predicted.handed_on is None:
            assert handed_on is None
        else:
            assert handed_on == kexec_metadata.encode(predicted.handed_on), f"boot {b}"
        received = played.debugfs(b, METADATA.format("in"))
        assert received == (
            None if predicted.received is None else kexec_metadata.encode(predicted.received)
        )
        # Cold boots publish their own tree (kho/out/fdt), KHO boots the one they received.
        for tree, maker in (("out", kernel), ("in", played.kernels[b - 1])):
            if (real := played.debugfs(b, f"kho/{tree}/fdt")) is not None:
                root = parse_root(real)
                children = [KhoChild(c.name, c.address, c.size) for c in reversed(root.children)]
                rebuilt = build_root(compatible[maker.release], root.memory_map, children)
                assert rebuilt == real, f"boot {b}: kho/{tree}/fdt"
        before = predicted


def test_chain_into_the_fleet(chain_run: KhoRun, tmp_path: Path) -> None:
    """The guest's spool, shipped to a real collector, gives the chain the kernels went
    through, with each boot's evidence; its console log, ingested, gives it too."""
    statuses = [chain_run.status(b) for b in chain_run.boots]
    state = _guest_state(chain_run.disk, tmp_path / "guest")
    collector = Collector(str(tmp_path / "fleet.db"))
    token = kexec_lineage("token", "create", "--db", collector.db, "--host", "kltest")
    reader = kexec_lineage("token", "create", "--db", collector.db, "--read").splitlines()[-1]
    (tmp_path / "token").write_text(token.splitlines()[-1] + "\n")
    collector.start()
    try:
        kexec_lineage(
            "ship", "--state-dir", state, "--to", collector.url, "--token-file", tmp_path / "token"
        )
        chain = _get(f"{collector.url}/v1/hosts/kltest/chain", reader)["boots"]
    finally:
        collector.stop()
    # Each boot came with the guest's facts, as the agent read them from the guest's
    # /sys and /proc (QEMU's SeaBIOS machine, its emulated AMD CPU without LA57).
    stored = open_store(collector.db)
    facts = list(fact_set_table(stored).values())
    stored.dispose()
    assert facts, "no boot arrived with facts"
    for found in facts:
        assert {k: found.get(k) for k in WANTED_FACTS} == WANTED_FACTS, found
    keys = ("boot_id", "release", "how", "previous_release", "kexec_count", "previous_boot_id")
    assert [{k: b[k] for k in keys} for b in chain] == [{k: s[k] for k in keys} for s in statuses]
    assert [b["evidence"] for b in chain] == [s["evidence"] for s in statuses]
    # The console log alone, through `ingest`: the same releases, counts and predecessors.
    db = str(tmp_path / "ingested.db")
    kexec_lineage("ingest", "--db", db, "--host", "kltest", chain_run.run.log)
    ingested = open_store(db).chain("kltest")
    lineage = ("release", "how", "previous_release", "kexec_count")
    assert [{k: getattr(b, k) for k in lineage} for b in ingested] == [
        {k: s[k] for k in lineage} for s in statuses
    ]


#: What every KHO boot of the guest reports of the machine QEMU gives it (machine.py).
WANTED_FACTS = {
    "dmi.sys_vendor": "QEMU",
    "boot.firmware": "bios",
    "cpu.vendor": "AuthenticAMD",
    "cpu.flag.la57": "0",
    "hypervisor": "qemu",
    "kho": "on",
    "tpm.present": "0",
}


def _get(url: str, token: str) -> Any:
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _guest_state(disk: Path, into: Path) -> Path:
    """The agent's state directory from the guest's ext2 disk, read with e2fsprogs' debugfs."""
    into.mkdir(parents=True)
    subprocess.run(
        [tool("debugfs"), "-R", f"rdump /kexec-lineage {into}", str(disk)],
        check=True,
        capture_output=True,
    )
    return into / "kexec-lineage"


def _capture(played: KhoRun, into: Path) -> None:
    """Each boot's debugfs files and KHO lines, for ``tests/data/kho-real/``."""
    for b, kernel in enumerate(played.kernels):
        boot_dir = into / f"{b}-{kernel.release}"
        for result in played.run.results:
            if result.boot == b and result.name.startswith("debugfs:"):
                path = boot_dir / result.name.removeprefix("debugfs:")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(result.raw)
        boot_dir.mkdir(parents=True, exist_ok=True)
        (boot_dir / "kho-lines.txt").write_text(
            "".join(f"{line}\n" for line in played.kho_lines(b))
        )
