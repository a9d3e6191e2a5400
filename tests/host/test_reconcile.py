"""How a boot came to be, from copied trees: every evidence source, every case."""

from __future__ import annotations

from pathlib import Path

import pytest

from kexec_lineage.abi import kexec_metadata
from kexec_lineage.host.ledger import Ledger
from kexec_lineage.host.probe import probe
from kexec_lineage.host.reconcile import reconcile
from kexec_lineage.host.record import State, record
from kexec_lineage.model.boot import Boot, Evidence
from kexec_lineage.model.handover import Handover
from tests.host.trees import Tree

CMD = "BOOT_IMAGE=/vmlinuz root=/dev/vda1 console=ttyS0"


def params(prev: str, count: int, boot: str) -> str:
    return f"{CMD} kexec_lineage.prev={prev} kexec_lineage.count={count} kexec_lineage.boot={boot}"


def state(root: Path) -> State:
    return State(root / "var/lib/kexec-lineage")


def now(tree: Tree) -> Boot:
    """This boot, reconciled (nothing written)."""
    return reconcile(probe(tree.root, state(tree.root).ledger))


def test_no_evidence_is_cold(tmp_path: Path) -> None:
    boot = now(Tree(tmp_path, "7.1.0"))
    assert (boot.how, boot.kexec_count, boot.previous_release, boot.previous_boot_id) == (
        "cold",
        0,
        None,
        None,
    )
    assert boot.evidence == () and boot.disagreements == ()
    assert (boot.host, boot.machine_id) == ("web-1", "0123456789abcdef0123456789abcdef")


def test_all_sources_agree(tmp_path: Path) -> None:
    first = Tree(tmp_path, "7.1.0")
    handoff = first.kho_boot(None)
    record(tmp_path, state(tmp_path))
    second = Tree(tmp_path, "7.1.2", params("7.1.0", 1, first.boot_id))
    second.kho_boot(handoff)
    boot = now(second)
    assert (boot.how, boot.kexec_count, boot.previous_release, boot.previous_boot_id) == (
        "kexec",
        1,
        "7.1.0",
        first.boot_id,
    )
    assert [e.source for e in boot.evidence] == ["kho", "kho-log", "cmdline", "ledger"]
    assert all(e.previous_release == "7.1.0" for e in boot.evidence)
    assert boot.disagreements == ()


def test_kho_count_reset_at_abi_change_takes_ours(tmp_path: Path) -> None:
    # 7.1.x speaks kho-v3, 7.2.x kho-v4: the kexec into 7.2.0 restarts KHO's count.
    a = Tree(tmp_path, "7.1.0")
    state_a = a.kho_boot(None)
    record(tmp_path, state(tmp_path))
    b = Tree(tmp_path, "7.1.2", params("7.1.0", 1, a.boot_id))
    state_b = b.kho_boot(state_a)
    record(tmp_path, state(tmp_path))
    c = Tree(tmp_path, "7.2.0", params("7.1.2", 2, b.boot_id))
    state_c = c.kho_boot(state_b, kho="kho-v4")
    boot_c = now(c)
    assert (boot_c.how, boot_c.kexec_count, boot_c.previous_release) == ("kexec", 2, "7.1.2")
    assert boot_c.evidence[0].source == "kho-log"
    assert boot_c.evidence[0].detail.startswith(
        "KHO refused the incoming state: setup: handover FDT (0x"
    )
    assert "is incompatible with 'kho-v4': 1" in boot_c.evidence[0].detail
    record(tmp_path, state(tmp_path))
    d = Tree(tmp_path, "7.2.1", params("7.2.0", 3, c.boot_id))
    d.kho_boot(state_c, kho="kho-v4")
    # The native metadata itself says count 1: the reset is in the kernel's record.
    blob = tmp_path / "sys/kernel/debug/kho/in/sub_fdts/kexec-metadata"
    assert kexec_metadata.decode(blob.read_bytes()) == Handover("7.2.0", 1)
    boot_d = now(d)
    assert (boot_d.how, boot_d.kexec_count, boot_d.previous_release) == ("kexec", 3, "7.2.0")
    assert boot_d.disagreements == (
        "KHO count 1 restarted (a KHO ABI change, or a kernel without kexec-metadata, in the "
        "chain); kexec_lineage.count=3 carries the longer chain: took ours",
    )


def test_params_behind_kho_take_kho(tmp_path: Path) -> None:
    a = Tree(tmp_path, "7.1.0")
    handoff = a.kho_boot(None)
    b = Tree(tmp_path, "7.1.2", f"{CMD} kexec_lineage.prev=7.0.0 kexec_lineage.count=0")
    b.kho_boot(handoff)
    boot = now(b)
    assert (boot.kexec_count, boot.previous_release) == (1, "7.1.0")
    assert boot.disagreements == (
        "kexec_lineage.count=0 is behind KHO's count 1: took KHO's",
        "cmdline says the previous release was 7.0.0; took kho's 7.1.0",
    )


def test_params_without_kho(tmp_path: Path) -> None:
    a = Tree(tmp_path, "6.1.0-56-cloud-amd64")
    record(tmp_path, state(tmp_path))
    b = Tree(tmp_path, "6.12.95+deb12-cloud-amd64", params("6.1.0-56-cloud-amd64", 1, a.boot_id))
    boot = now(b)
    assert (boot.how, boot.kexec_count, boot.previous_release, boot.previous_boot_id) == (
        "kexec",
        1,
        "6.1.0-56-cloud-amd64",
        a.boot_id,
    )


def test_stale_params_naming_this_boot(tmp_path: Path) -> None:
    tree = Tree(tmp_path, "7.1.0", boot_id="aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa")
    tree = Tree(tmp_path, "7.1.0", params("7.0.9", 4, tree.boot_id), boot_id=tree.boot_id)
    boot = now(tree)
    assert (boot.how, boot.kexec_count) == ("cold", 0)
    assert boot.disagreements == (
        "ignored stale command-line parameters: kexec_lineage.boot="
        "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa names this boot",
    )


def test_stale_params_with_cold_boot_in_between(tmp_path: Path) -> None:
    a = Tree(tmp_path, "7.1.0")
    record(tmp_path, state(tmp_path))
    b = Tree(tmp_path, "7.1.2", params("7.1.0", 1, a.boot_id))
    record(tmp_path, state(tmp_path))
    # A cold boot (say a boot loader entry that kept the words) after b...
    c = Tree(tmp_path, "7.1.2", params("7.1.0", 1, a.boot_id))
    boot = now(c)
    assert (boot.how, boot.kexec_count, boot.previous_boot_id) == ("cold", 0, None)
    assert boot.disagreements == (
        f"ignored stale command-line parameters: kexec_lineage.boot={a.boot_id} is followed "
        f"by boot {b.boot_id} in the ledger",
    )


def test_kdump_boot(tmp_path: Path) -> None:
    a = Tree(tmp_path, "7.1.0")
    record(tmp_path, state(tmp_path))
    b = Tree(tmp_path, "7.1.2", params("7.1.0", 1, a.boot_id))
    record(tmp_path, state(tmp_path))
    # kdump-tools reuses b's command line: our words there name a, not b.
    crash = Tree(
        tmp_path,
        "7.1.2",
        params("7.1.0", 1, a.boot_id) + " irqpoll nr_cpus=1 elfcorehdr=0x7f000000",
    )
    boot = now(crash)
    assert (boot.how, boot.kexec_count, boot.previous_release, boot.previous_boot_id) == (
        "kdump",
        2,
        "7.1.2",
        b.boot_id,
    )
    assert boot.evidence[-1].source == "kdump"


def shutdown_record(release: str, ending: str) -> bytes:
    lines = [
        f"Linux version {release} (b@h) (gcc) #1 SMP",
        f"Command line: {CMD}",
        "systemd-shutdown[1]: Syncing filesystems and block devices.",
        ending,
    ]
    return b"Shutdown#1 Part1\n" + b"".join(
        f"<6>[    {i}.000000] {line}\n".encode() for i, line in enumerate(lines)
    )


def test_pstore_shutdown_record_shows_a_kexec(tmp_path: Path) -> None:
    a = Tree(tmp_path, "6.1.0-56-cloud-amd64")
    record(tmp_path, state(tmp_path))
    b = Tree(tmp_path, "6.12.95")
    b.pstore(
        "dmesg-ramoops-0",
        shutdown_record("6.1.0-56-cloud-amd64", "kexec_core: Starting new kernel"),
    )
    boot = now(b)
    assert (boot.how, boot.kexec_count, boot.previous_release, boot.previous_boot_id) == (
        "kexec",
        1,
        "6.1.0-56-cloud-amd64",
        a.boot_id,
    )
    assert boot.evidence[0].source == "pstore"


def test_pstore_shutdown_record_of_a_reboot_makes_params_stale(tmp_path: Path) -> None:
    b = Tree(tmp_path, "7.1.2", params("7.1.0", 1, "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"))
    b.pstore("dmesg-ramoops-0", shutdown_record("7.1.2", "reboot: Restarting system"))
    boot = now(b)
    assert boot.how == "cold"
    assert boot.disagreements == (
        "ignored stale command-line parameters: the previous kernel's log (pstore) ends in reboot",
    )


@pytest.mark.parametrize("damage", ["torn ledger", "bad blob", "unreadable kmsg"])
def test_broken_sources_leave_notes_not_failures(tmp_path: Path, damage: str) -> None:
    a = Tree(tmp_path, "7.1.0")
    handoff = a.kho_boot(None)
    record(tmp_path, state(tmp_path))
    b = Tree(tmp_path, "7.1.2", params("7.1.0", 1, a.boot_id))
    b.kho_boot(handoff)
    if damage == "torn ledger":
        with (tmp_path / "var/lib/kexec-lineage/ledger.jsonl").open("ab") as f:
            f.write(b'{"type":"boot","boo')
    elif damage == "bad blob":
        (tmp_path / "sys/kernel/debug/kho/in/sub_fdts/kexec-metadata").write_bytes(b"\2\0\0\0")
    else:
        (tmp_path / "dev/kmsg").unlink()
        (tmp_path / "dev/kmsg").mkdir()
    found = probe(tmp_path, state(tmp_path).ledger)
    boot = reconcile(found)
    assert (boot.how, boot.kexec_count, boot.previous_release) == ("kexec", 1, "7.1.0")
    if damage == "bad blob":
        assert boot.evidence[0].detail == (
            "kexec-metadata rejected: kexec-metadata version 2 not supported (expected 1)"
        )
    if damage == "unreadable kmsg":
        assert found.problems == (
            f"kernel log: IsADirectoryError: [Errno 21] Is a directory: '{tmp_path}/dev/kmsg'",
        ) or found.problems[0].startswith("kernel log:")


def test_ledger_history_excludes_this_boot(tmp_path: Path) -> None:
    tree = Tree(tmp_path, "7.1.0")
    record(tmp_path, state(tmp_path))
    found = probe(tmp_path, Ledger(tmp_path / "var/lib/kexec-lineage"))
    assert found.history == ()
    assert found.recorded is not None and found.recorded.boot_id == tree.boot_id


def test_kho_on_without_handover_is_cold_to_kho_and_recorded_against_ours(
    tmp_path: Path,
) -> None:
    # 7.3.4 (KHO) -> a kernel without KHO -> 7.3.4: KHO received nothing, ours say kexec.
    a = Tree(tmp_path, "7.3.4")
    a.kho_boot(None, kho="kho-v4")
    assert now(a).evidence == (
        Evidence("kho", False, detail="KHO is on and received no handover: cold"),
    )
    assert (now(a).how, now(a).disagreements) == ("cold", ())
    record(tmp_path, state(tmp_path))
    b = Tree(tmp_path, "7.3.4+deb13-cloud-amd64", params("7.3.4", 1, a.boot_id))
    record(tmp_path, state(tmp_path))
    c = Tree(tmp_path, "7.3.4", params("7.3.4+deb13-cloud-amd64", 2, b.boot_id))
    c.kho_boot(None, kho="kho-v4")  # what the kernel without KHO handed on: nothing
    boot = now(c)
    assert (boot.how, boot.kexec_count, boot.previous_release) == (
        "kexec",
        2,
        "7.3.4+deb13-cloud-amd64",
    )
    assert [(e.source, e.kexec) for e in boot.evidence] == [
        ("kho", False),
        ("cmdline", True),
        ("ledger", None),
    ]
    assert boot.disagreements == (
        "KHO says this boot was cold, cmdline says kexec: the kexec before it did not carry "
        "KHO (a kernel without KHO, kexec_load, or a KHO ABI change); took kexec",
    )


def test_a_handover_found_without_metadata_is_a_kexec_not_cold(tmp_path: Path) -> None:
    # A kernel before kexec-metadata handed over (or a later KHO step failed): the kernel
    # found the handover and then showed nothing of it; KHO is not saying "cold".
    tree = Tree(tmp_path, "7.3.4")
    (tmp_path / "sys/kernel/debug/kho/out/sub_fdts").mkdir(parents=True)
    tree.kmsg(["Linux version 7.3.4 (b@h) (gcc) #1", "KHO: found kexec handover data."])
    boot = now(tree)
    assert (boot.how, boot.disagreements) == ("kexec", ())
    assert boot.evidence == (
        Evidence("kho-log", True, detail="KHO found kexec handover data, no metadata"),
    )
