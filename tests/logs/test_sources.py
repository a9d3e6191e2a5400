"""Every log source brought to console text: journal, pstore, kmsg, netconsole, syslog."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kexec_lineage.errors import LogError
from kexec_lineage.logs import kmsg
from kexec_lineage.logs.boots import split_boots
from kexec_lineage.logs.crash_report import parse_crashes
from kexec_lineage.logs.sources import detect_format, read_logs
from tests.logs.builders import kernel_boot

BOOT_A = "6b1e5c0e0d2a4a8f9d7c3b2a1f0e9d8c"
BOOT_B = "7c2f6d1f1e3b5b909e8d4c3b2a1f0e9d"


def journal_entries() -> list[dict[str, object]]:
    """Two boots of kernel messages as `journalctl -k -o json` prints them."""
    entries: list[dict[str, object]] = []
    first, state = kernel_boot("7.1.0")
    second, _ = kernel_boot("7.1.2", incoming=state, ending=("reboot: Power down",))
    for boot_id, lines in ((BOOT_A, first), (BOOT_B, second)):
        for i, line in enumerate(lines):
            entries.append(
                {
                    "_BOOT_ID": boot_id,
                    "_TRANSPORT": "kernel",
                    "_HOSTNAME": "web-17",
                    "PRIORITY": "6",
                    "_SOURCE_MONOTONIC_TIMESTAMP": str(1000 * i),
                    "MESSAGE": line,
                }
            )
    entries.insert(3, {"_TRANSPORT": "journal", "MESSAGE": "Journal started", "_BOOT_ID": BOOT_A})
    # A message that is not UTF-8 comes as an array of bytes.
    entries.insert(
        4,
        {
            "_BOOT_ID": BOOT_A,
            "_TRANSPORT": "kernel",
            "_HOSTNAME": "web-17",
            "MESSAGE": list(b"ok \xff"),
        },
    )
    return entries


def test_journal_json_boots_by_boot_id() -> None:
    data = b"\n".join(json.dumps(e).encode() for e in journal_entries()) + b"\n{torn"
    assert detect_format(data) == "journal-json"
    (log,) = read_logs([("journal.json", data)])
    assert (log.host, log.source, log.origin) == ("web-17", "journal-json", "journal.json")
    assert b"Journal started" not in log.text
    assert b"ok \xff\n" in log.text
    assert log.text.startswith(b"<6>[    0.000000] Linux version 7.1.0 ")
    boots = split_boots(log)
    assert [(b.boot_id, b.release, b.started, b.ended) for b in boots] == [
        (BOOT_A, "7.1.0", "cold", "kexec"),
        (BOOT_B, "7.1.2", "kexec", "poweroff"),
    ]
    assert boots[1].kho_line == "KHO: exec from: 7.1.0 (count 1)"


def export(entries: list[dict[str, object]]) -> bytes:
    """`journalctl -o export`: MESSAGE as a binary field where it is not text."""
    out = []
    for entry in entries:
        for name, value in entry.items():
            if isinstance(value, list):
                raw = bytes(value)
                out.append(name.encode() + b"\n" + struct.pack("<Q", len(raw)) + raw + b"\n")
            else:
                out.append(f"{name}={value}\n".encode())
        out.append(b"\n")
    return b"".join(out)


def test_journal_export() -> None:
    data = export(journal_entries())
    assert detect_format(data) == "journal-export"
    (log,) = read_logs([("export", data)])
    assert b"ok \xff\n" in log.text
    assert [b.release for b in split_boots(log)] == ["7.1.0", "7.1.2"]


def test_journal_export_truncated_binary_field() -> None:
    data = export(journal_entries())
    cut = data[: data.index(b"ok \xff") - 3]
    (log,) = read_logs([("export", cut)])
    assert [b.release for b in split_boots(log)] == ["7.1.0"]


def pstore_parts() -> list[tuple[str, bytes]]:
    lines = [f"<6>[    {i}.000000] line {i}\n".encode() for i in range(10)]
    lines[6] = b"<0>[    6.000000] Kernel panic - not syncing: Fatal exception\n"
    # Part1 holds the newest lines; Part2 the ones before.
    return [
        ("dmesg-ramoops-1", b"Panic#1 Part2\n" + b"".join(lines[:5])),
        ("dmesg-ramoops-0", b"Panic#1 Part1\n" + b"".join(lines[5:])),
    ]


def test_pstore_parts_joined_oldest_first() -> None:
    files = pstore_parts()
    assert detect_format(files[0][1], files[0][0]) == "pstore"
    (log,) = read_logs(files)
    assert log.source == "pstore:panic"
    assert log.origin == "dmesg-ramoops-1+dmesg-ramoops-0"
    assert [
        int(line.split(b"]")[0].split(b"[")[1].split(b".")[0]) for line in log.text.splitlines()
    ] == list(range(10))
    assert split_boots(log)[0].ended == "panic"


def test_crash_uptime_in_pstore_and_kdump_dumps() -> None:
    (dump,) = read_logs(pstore_parts())
    (panic,) = parse_crashes(dump.text)
    assert (panic.title, panic.uptime) == ("kernel panic: Fatal exception", 6.0)
    vmcore = (
        b"[ 5021.117302] sysrq: Trigger a crash\n[ 5021.117350] Kernel panic - not syncing: sysrq\n"
    )
    (log,) = read_logs([("/var/crash/1/vmcore-dmesg.txt", vmcore)])
    assert [c.uptime for c in parse_crashes(log.text)] == [5021.11735]


@pytest.mark.parametrize("wbits", [-15, 15, 31])
def test_pstore_compressed_record(wbits: int) -> None:
    name, data = pstore_parts()[1]
    packer = zlib.compressobj(wbits=wbits)
    packed = packer.compress(data) + packer.flush()
    (log,) = read_logs([(name + ".enc.z", packed)])
    assert b"Kernel panic" in log.text


def test_pstore_errors() -> None:
    with pytest.raises(LogError, match=r"dmesg-efi-1\.enc\.z: compressed pstore record"):
        read_logs([("dmesg-efi-1.enc.z", b"not deflate")])
    with pytest.raises(LogError, match="not a pstore dmesg record"):
        read_logs([("dmesg-ramoops-0", b"hello")], "pstore")


def test_shutdown_record_names_previous_kernel() -> None:
    lines, _ = kernel_boot("7.1.0")
    body = b"".join(f"<6>[    0.{i:06d}] {line}\n".encode() for i, line in enumerate(lines))
    (log,) = read_logs([("dmesg-ramoops-0", b"Shutdown#1 Part1\n" + body)])
    (prev,) = split_boots(log)
    assert (prev.release, prev.cmdline, prev.ended) == (
        "7.1.0",
        "console=ttyS0 root=/dev/vda",
        "kexec",
    )


KMSG = (
    b"5,0,0,-;Linux version 7.1.0 (b@h) (gcc 12) #1 SMP\n"
    b"6,1,1000,-,caller=T0;Command line: console=ttyS0 kexec_lineage.count=3\n"
    b"6,2,2000,-;pci 0000:00:01.0: \\x1b[31mred\\x1b[0m\n"
    b" SUBSYSTEM=pci\n"
    b" DEVICE=+pci:0000:00:01.0\n"
    b"6,3,3000,-;kexec_core: Starting new kernel\n"
    b"5,0,0,-;Linux version 7.1.2 (b@h) (gcc 12) #1 SMP\n"
)


def test_kmsg_records() -> None:
    assert detect_format(KMSG) == "kmsg"
    (log,) = read_logs([("kmsg", KMSG)])
    lines = log.text.splitlines()
    assert (
        lines[1] == b"<6>[    0.001000][    T0] Command line: console=ttyS0 kexec_lineage.count=3"
    )
    assert lines[2] == b"<6>[    0.002000] pci 0000:00:01.0: \x1b[31mred\x1b[0m"
    boots = split_boots(log)
    assert [(b.release, b.started) for b in boots] == [("7.1.0", "kexec"), ("7.1.2", "kexec")]
    assert boots[0].start_evidence == ("kexec_lineage parameters",)
    assert boots[0].params.count == 3


NETCONSOLE = (
    b"web-1 6,10,5000000,-;netconsole: network logging started\n"
    b" release=7.1.0\n"
    b"web-2 6,7,4000000,-;eth0: link up\n"
    b" release=7.0.9\n"
    b"web-1 4,11,6000000,-,ncfrag=0/32;WARNING: CPU: 1 PID:\n"
    b" release=7.1.0\n"
    b"web-1 4,11,6000000,-,ncfrag=20/32; 7 at kernel\n"
    b" release=7.1.0\n"
    b"web-1 6,2,1000,-;after kexec\n"
    b" release=7.1.2\n"
)


def test_netconsole_hosts_fragments_and_releases() -> None:
    assert detect_format(NETCONSOLE) == "netconsole"
    logs = {log.host: log for log in read_logs([("nc.log", NETCONSOLE)])}
    assert set(logs) == {"web-1", "web-2"}
    web1 = logs["web-1"]
    assert b"<4>[    6.000000] WARNING: CPU: 1 PID: 7 at kernel\n" in web1.text
    boots = split_boots(web1)
    assert [b.release for b in boots] == ["7.1.0", "7.1.2"]
    assert [b.release for b in split_boots(logs["web-2"])] == ["7.0.9"]


WARNING = (
    "------------[ cut here ]------------",
    "WARNING: CPU: 1 PID: 7 at net/core/dev.c:1234 dev_close+0x10/0x20",
    "Modules linked in:",
    "CPU: 1 PID: 7 Comm: kworker/1:0 Not tainted 7.1.2 #1",
    "RIP: 0010:dev_close+0x10/0x20",
    "Call Trace:",
    " <TASK>",
    " net_shutdown+0x1/0x2",
    " __x64_sys_ioctl+0x1/0x2",
    " </TASK>",
    "---[ end trace 0000000000000000 ]---",
)


def netconsole_release(host: str, release: str, lines: list[str], fragment: str = "") -> bytes:
    """One boot as a receiver logs ``netconsole=+r...`` records (``host: record``),
    10 ms apart; the line ``fragment`` comes in two datagrams."""
    out = []
    for seq, line in enumerate(lines):
        head = f"{host}: {release},{4 if 'WARNING' in line else 6},{seq},{seq * 10_000 + 1},-"
        if line != fragment:
            out.append(f"{head};{line}\n")
            continue
        size, cut = len(line), len(line) // 2
        out.append(f"{head},ncfrag=0/{size};{line[:cut]}\n")
        out.append(f"{head},ncfrag={cut}/{size};{line[cut:]}\n")
    return "".join(out).encode()


def test_netconsole_release_prefix() -> None:
    web1_first, state = kernel_boot("7.1.0")
    web1_second, _ = kernel_boot("7.1.2", incoming=state, body=WARNING, ending=())
    web2, _ = kernel_boot("7.0.9", ending=("reboot: Restarting system",))
    data = b"".join(
        [
            netconsole_release("web-1", "7.1.0", web1_first),
            netconsole_release("web-2", "7.0.9", web2),
            netconsole_release("web-1", "7.1.2", web1_second, fragment=WARNING[1]),
            # The same kernel again, its banner lost: the sequence number marks the
            # boot and the release names it.
            netconsole_release("web-2", "7.0.9", web2[1:3]),
        ]
    )
    assert detect_format(data) == "netconsole"
    assert detect_format(data.replace(b"web-1: ", b"").replace(b"web-2: ", b"")) == "netconsole"
    logs = {log.host: log for log in read_logs([("nc.log", data)])}
    assert set(logs) == {"web-1", "web-2"}
    web1 = logs["web-1"]
    boots = split_boots(web1)
    assert [(b.release, b.started, b.ended) for b in boots] == [
        ("7.1.0", "cold", "kexec"),
        ("7.1.2", "kexec", None),
    ]
    assert boots[1].kho_line == "KHO: exec from: 7.1.0 (count 1)"
    (crash,) = parse_crashes(web1.text)
    assert crash.title == "WARNING in dev_close"
    assert boots[1].start <= crash.offset < boots[1].end
    seq = web1_second.index(WARNING[1])
    assert web1.text[crash.offset :].startswith(
        b"<4>[    0.%06d] WARNING: CPU: 1" % (seq * 10_000 + 1)
    )
    assert crash.uptime == pytest.approx(seq / 100 + 1e-6)
    assert [(b.release, b.ended) for b in split_boots(logs["web-2"])] == [
        ("7.0.9", "reboot"),
        ("7.0.9", None),
    ]


def test_release_prefix_is_told_from_priority() -> None:
    plain = kmsg.RECORD_RE.match(b"6,444,501151268,-;netconsole: network logging started")
    prefixed = kmsg.RECORD_RE.match(b"7.1.0,6,444,501151268,-;netconsole: network logging started")
    assert plain is not None and prefixed is not None
    assert (plain["release"], plain["prio"], plain["seq"]) == (None, b"6", b"444")
    assert (prefixed["release"], prefixed["prio"], prefixed["seq"]) == (b"7.1.0", b"6", b"444")
    assert (prefixed["msg"], prefixed["usec"]) == (plain["msg"], plain["usec"])


def test_syslog_file_keeps_kernel_lines_per_host() -> None:
    data = (
        b"Nov 25 01:02:03 db-1 kernel: [    0.000000] Linux version 7.1.0 (b@h) (gcc) #1\n"
        b"Nov 25 01:02:03 db-1 systemd[1]: Started Journal Service.\n"
        b"2026-11-25T01:02:04.123456+00:00 db-2 kernel: [    5.000000] BUG: oops\n"
        b"Nov 25 01:02:05 db-1 kernel: [    1.000000] reboot: Restarting system\n"
    )
    logs = {log.host: log for log in read_logs([("syslog", data)])}
    assert logs["db-1"].text == (
        b"[    0.000000] Linux version 7.1.0 (b@h) (gcc) #1\n"
        b"[    1.000000] reboot: Restarting system\n"
    )
    assert logs["db-2"].text == b"[    5.000000] BUG: oops\n"


def test_vmcore_dmesg_is_kdump() -> None:
    (log,) = read_logs([("/var/crash/202611250102/vmcore-dmesg.txt", b"[ 0.0] x\n")])
    assert log.source == "kdump"


def test_unknown_format_flag() -> None:
    with pytest.raises(LogError, match="unknown log format 'xml'"):
        read_logs([("a", b"")], "xml")


formats = st.sampled_from([None, "console", "journal-json", "journal-export", "kmsg", "netconsole"])
seeds = [KMSG, NETCONSOLE, export(journal_entries()), pstore_parts()[0][1]]


@settings(max_examples=1500)
@given(data=st.binary(max_size=600), fmt=formats)
def test_arbitrary_bytes_never_raise(data: bytes, fmt: str | None) -> None:
    for log in read_logs([("f", data)], fmt):
        for boot in split_boots(log):
            assert 0 <= boot.start <= boot.end <= len(log.text)


@settings(max_examples=1500)
@given(st.data())
def test_mutated_sources_never_raise(data: st.DataObject) -> None:
    buf = bytearray(data.draw(st.sampled_from(seeds)))
    for _ in range(data.draw(st.integers(1, 10))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    try:
        logs = read_logs([("f", bytes(buf[: data.draw(st.integers(0, len(buf)))]))])
    except LogError:
        return  # a pstore header left intact over a broken record
    for log in logs:
        split_boots(log)
