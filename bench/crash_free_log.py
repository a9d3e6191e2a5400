"""A large crash-free kernel log for benchmarks, generated deterministically.

The lines are the kind a healthy fleet logs all day (device probing, network,
filesystems, audit, systemd), with time stamps, caller ids on some lines, and
a few lines that mention oops words without being crashes (suppressed or
not at a header), so a scanner cannot win by never looking.
"""

from __future__ import annotations

import random
from pathlib import Path

__all__ = ("crash_free_log",)

_TEMPLATES = (
    "pci 0000:{b:02x}:{d:02x}.{f}: [8086:{id:04x}] type 00 class 0x0{c:05x} PCI endpoint",
    "pci 0000:{b:02x}:{d:02x}.{f}: BAR {f}: assigned [mem 0x{a:08x}-0x{e:08x} 64bit]",
    "e1000e 0000:00:{d:02x}.0 eth{f}: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
    "EXT4-fs (vda{f}): mounted filesystem {u} r/w with ordered data mode. Quota mode: none.",
    'audit: type=1400 audit({t}.{ms:03d}:{n}): apparmor="STATUS" '
    'operation="profile_load" name="/usr/bin/man" pid={p} comm="apparmor_parser"',
    "systemd[1]: Started session-{n}.scope - Session {n} of User root.",
    "IPv6: ADDRCONF(NETDEV_CHANGE): eth{f}: link becomes ready",
    "TCP: request_sock_TCP: Possible SYN flooding on port {p}. Sending cookies.",
    "nvme nvme{f}: {n}/0/0 default/read/poll queues",
    "usb 1-{f}: new high-speed USB device number {n} using xhci_hcd",
    "xhci_hcd 0000:00:14.0: xHCI Host Controller",
    "kvm: {n} entries in the shared MSR list",
    "perf: interrupt took too long ({n} > {p}), lowering perf_event_max_sample_rate to {t}",
    "INFO: lockdep is turned off.",
    "random: crng init done",
    "loop{f}: detected capacity change from 0 to {n}",
    "Memory cgroup out of memory: Killed process {p} (stress) total-vm:{n}kB, anon-rss:{t}kB",
    "bpfilter: Loaded bpfilter_umh pid {p}",
    "workqueue: blk_mq_run_work_fn hogged CPU for >10000us {n} times, consider WQ_UNBOUND",
    "sd {f}:0:0:0: [sd{l}] Write cache: enabled, read cache: enabled",
)


def _line(rng: random.Random, when: float, template: str) -> str:
    values = {
        "b": rng.randrange(256),
        "d": rng.randrange(32),
        "f": rng.randrange(8),
        "id": rng.randrange(1 << 16),
        "c": rng.randrange(1 << 16),
        "a": rng.randrange(1 << 32),
        "e": rng.randrange(1 << 32),
        "u": f"{rng.getrandbits(128):032x}",
        "t": rng.randrange(1 << 31),
        "ms": rng.randrange(1000),
        "n": rng.randrange(100000),
        "p": rng.randrange(1, 1 << 22),
        "l": "abcdefgh"[rng.randrange(8)],
    }
    caller = f"[{'T' if rng.random() < 0.9 else 'C'}{rng.randrange(1, 99999):>5}]"
    return f"[{when:12.6f}]{caller} {template.format(**values)}\n"


def crash_free_log(path: Path, size: int, seed: int = 1) -> Path:
    """Write at least ``size`` bytes of crash-free log to ``path`` (kept if already there)."""
    if path.exists() and path.stat().st_size >= size:
        return path
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    written, when = 0, 0.0
    with tmp.open("w", encoding="ascii") as out:
        while written < size:
            chunk = []
            for _ in range(10000):
                when += rng.random() / 50
                chunk.append(_line(rng, when, rng.choice(_TEMPLATES)))
            text = "".join(chunk)
            out.write(text)
            written += len(text)
    tmp.replace(path)
    return path
