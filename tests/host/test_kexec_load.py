"""The kexec-tools command line the wrapper builds."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from kexec_lineage.cli.main import main
from kexec_lineage.errors import InputError
from kexec_lineage.host.kexec_load import build_load
from kexec_lineage.host.kho_debugfs import kho_active
from kexec_lineage.model.boot import Boot
from tests.conftest import REPO, tool
from tests.host.trees import Tree

BOOT = Boot("web-1", "11111111-2222-4333-8444-555555555555", "7.1.2", "kexec", "7.1.0", 3)
OURS = (
    "kexec_lineage.prev=7.1.2 kexec_lineage.count=4 "
    "kexec_lineage.boot=11111111-2222-4333-8444-555555555555"
)
CURRENT = (
    'BOOT_IMAGE=/vmlinuz-7.1.2 root=/dev/vda1 dyndbg="file x.c +p" crashkernel=256M '
    "kexec_lineage.prev=7.1.0 kexec_lineage.count=3 "
    "kexec_lineage.boot=00000000-0000-4000-8000-000000000000"
)


def test_append_gets_our_words_and_load_flag() -> None:
    load = build_load(
        ["/boot/vmlinuz-7.2.0", "--initrd=/boot/initrd", "--append=root=/dev/vda1 quiet"],
        BOOT,
        CURRENT,
    )
    assert load.argv == (
        "kexec",
        "-l",
        "/boot/vmlinuz-7.2.0",
        "--initrd=/boot/initrd",
        f"--command-line=root=/dev/vda1 quiet {OURS}",
    )
    assert (load.image, load.file_load) == ("/boot/vmlinuz-7.2.0", False)


def test_stale_words_in_given_cmdline_replaced() -> None:
    load = build_load(
        ["-s", "--command-line", "quiet kexec_lineage.count=99", "--initrd", "/i", "/k"], BOOT, None
    )
    assert load.argv == (
        "kexec",
        "-l",
        "-s",
        "--initrd",
        "/i",
        "/k",
        f"--command-line=quiet {OURS}",
    )
    assert (load.image, load.file_load) == ("/k", True)


def test_reuse_cmdline_keeps_quotes_drops_boot_image_and_stale() -> None:
    load = build_load(["-l", "/k", "--reuse-cmdline", "--append=nokaslr"], BOOT, CURRENT)
    assert load.cmdline == (f'root=/dev/vda1 dyndbg="file x.c +p" crashkernel=256M nokaslr {OURS}')


def test_panic_load_drops_crashkernel() -> None:
    load = build_load(["-p", "/k", "--reuse-cmdline"], BOOT, CURRENT)
    assert load.argv[1] == "-p"
    assert "crashkernel=" not in load.cmdline


def test_last_append_wins_like_kexec_tools() -> None:
    load = build_load(["/k", "--append=a", "--append=b"], BOOT, None)
    assert load.cmdline == f"b {OURS}"


def test_count_wraps_and_shell_form() -> None:
    boot = Boot("h", BOOT.boot_id, "7.1.2", "kexec", kexec_count=0xFFFF_FFFF)
    load = build_load(["/k"], boot, None)
    assert "kexec_lineage.count=0 " in load.cmdline
    assert load.shell().startswith("kexec -l /k '--command-line=kexec_lineage.prev=7.1.2 ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e"], "'kexec load' only loads; run 'kexec -e' yourself"),
        (["/k", "-u"], "'kexec load' only loads; run 'kexec -u' yourself"),
        (["/k", "--append"], "--append needs a value"),
    ],
)
def test_refused(args: list[str], message: str) -> None:
    with pytest.raises(InputError) as info:
        build_load(args, BOOT, None)
    assert str(info.value) == message


def test_our_options_may_follow_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Tree(tmp_path, "7.1.0")
    state = tmp_path / "elsewhere"
    argv = ["--root", str(tmp_path), "kexec", "load", "--state-dir", str(state), "/k", "--dry-run"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("kexec -l /k '--command-line=kexec_lineage.prev=7.1.0 ")
    assert "--state-dir" not in out
    assert main(["kexec", "load", "--help"]) == 0
    assert "kexec-tools arguments" in capsys.readouterr().out


KHO_ON = (True, "/sys/kernel/debug/kho/out exists")


@pytest.mark.parametrize(
    ("args", "syscall", "file_load", "chose", "warned"),
    [
        (["/k"], ["-s"], True, True, False),  # no choice made: the one that carries KHO
        (["-s", "/k"], ["-s"], True, False, False),
        (["--kexec-syscall-auto", "/k"], ["--kexec-syscall-auto"], False, False, False),
        (["-c", "/k"], ["-c"], False, False, True),
        (["--kexec-syscall", "/k"], ["--kexec-syscall"], False, False, True),
        (["-p", "/k"], [], False, False, False),  # KHO turns itself off in a kdump kernel
    ],
    ids=["default", "file", "auto", "forced", "forced-long", "panic"],
)
def test_kho_on_picks_kexec_file_load_unless_chosen(
    args: list[str], syscall: list[str], file_load: bool, chose: bool, warned: bool
) -> None:
    load = build_load(args, BOOT, None, kho=KHO_ON)
    options = {"-s", "-c", "--kexec-syscall", "--kexec-syscall-auto"}
    assert [a for a in load.argv if a in options] == syscall
    assert load.file_load is file_load
    assert (load.chose is not None, load.warning is not None) == (chose, warned)
    if warned:
        assert load.warning == (
            "kexec_load (-c) with KHO on (/sys/kernel/debug/kho/out exists): the next kernel "
            "gets no KHO state and no kexec-metadata (our kexec_lineage.* parameters still "
            "carry the chain)"
        )


def test_kho_off_leaves_the_loader_alone() -> None:
    for kho in ((False, "no kho/out"), (False, "")):
        load = build_load(["/k"], BOOT, None, kho=kho)
        assert (load.argv[1:3], load.chose, load.warning) == (("-l", "/k"), None, None)


def kho_out(root: Path) -> None:
    (root / "sys/kernel/debug/kho/out/sub_fdts").mkdir(parents=True)


NO_OUT = "no /sys/kernel/debug/kho/out"


@pytest.mark.parametrize(
    ("debugfs", "cmdline", "active"),
    [
        ("kho", "", (True, "/sys/kernel/debug/kho/out exists")),
        # debugfs without kho/: KHO off, or KHO without CONFIG_KEXEC_HANDOVER_DEBUGFS
        ("other", "kho=on", (True, f"{NO_OUT}, kho=on on the command line")),
        ("other", "quiet", (False, f"{NO_OUT}, no kho= on the command line")),
        (None, "quiet kho=1", (True, f"{NO_OUT}, kho=on on the command line")),
        (None, "kho=on kho=off", (False, f"{NO_OUT}, kho=off on the command line")),
        (None, "kho=on kho=maybe", (True, f"{NO_OUT}, kho=on on the command line")),
        (None, "init=/bin/sh -- kho=on", (False, f"{NO_OUT}, no kho= on the command line")),
    ],
)
def test_kho_active(
    tmp_path: Path, debugfs: str | None, cmdline: str, active: tuple[bool, str]
) -> None:
    if debugfs == "kho":
        kho_out(tmp_path)
    elif debugfs == "other":
        (tmp_path / "sys/kernel/debug/tracing").mkdir(parents=True)
    else:
        (tmp_path / "sys/kernel/debug").mkdir(parents=True)
    assert kho_active(tmp_path, cmdline) == active


def test_a_user_without_debugfs_gets_the_command_lines_word(tmp_path: Path) -> None:
    """/sys/kernel/debug is 0700: a user's dry run, in a real process as nobody, asks the
    command line instead of failing."""
    root = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's own tmp_path is root's alone
    try:
        root.chmod(0o755)
        Tree(root, "7.3.4", cmdline="console=ttyS0 kho=on")
        kho_out(root)
        (root / "sys/kernel/debug").chmod(0o700)
        state = root / "state"
        state.mkdir(mode=0o777)
        proc = subprocess.run(
            [
                tool("setpriv"),
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/python3.11",
                "-m",
                "kexec_lineage",
                "--root",
                str(root),
                "kexec",
                "load",
                "--state-dir",
                str(state),
                "/k",
                "--dry-run",
            ],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(REPO / "src")},
            check=False,
        )
    finally:
        shutil.rmtree(root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("kexec -l -s /k ")
    assert proc.stderr == (
        "kexec-lineage: kexec_file_load (-s): KHO is on (/sys/kernel/debug unreadable "
        "(Permission denied), kho=on on the command line), and only -s carries its state\n"
    )


@pytest.mark.parametrize(
    ("args", "syscall", "file_load", "warned"),
    [
        (["-lc", "/k"], "-c", False, True),  # getopt reads -lc as -l -c
        (["-sc", "/k"], "-c", False, True),  # ... and the last syscall option wins
        (["-c", "-s", "/k"], "-s", True, False),
        (["-s", "-c", "/k"], "-c", False, True),
        (["-ls", "/k"], "-s", True, False),
    ],
)
def test_short_option_clusters_and_the_last_syscall(
    args: list[str], syscall: str, file_load: bool, warned: bool
) -> None:
    load = build_load(args, BOOT, None, kho=KHO_ON)
    chosen = [a for a in load.argv if a in ("-s", "-c", "-a")]
    assert chosen[-1] == syscall
    assert (load.file_load, load.warning is not None, load.chose) == (file_load, warned, None)


def test_clusters_are_refused_like_their_letters() -> None:
    with pytest.raises(InputError, match="run 'kexec -e' yourself"):
        build_load(["-le", "/k"], BOOT, None)
    assert build_load(["-tbzImage", "/k"], BOOT, None).argv[1:4] == ("-l", "-t", "bzImage")
    assert build_load(["-lt", "bzImage", "/k"], BOOT, None).image == "/k"


def test_dry_run_says_why_it_chose_kexec_file_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Tree(tmp_path, "7.3.4", cmdline="console=ttyS0 kho=on")
    kho_out(tmp_path)
    load = ["--root", str(tmp_path), "kexec", "load", "--state-dir", str(tmp_path / "state")]
    assert main([*load, "/k", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("kexec -l -s /k '--command-line=kexec_lineage.prev=7.3.4 ")
    assert err == (
        "kexec-lineage: kexec_file_load (-s): KHO is on (/sys/kernel/debug/kho/out exists), "
        "and only -s carries its state\n"
    )
    assert main([*load, "-c", "/k", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("kexec -l -c /k ")
    assert err.startswith("kexec-lineage: warning: kexec_load (-c) with KHO on (")
    assert err.count("\n") == 1
