"""
Facts
-----

What kind of host a boot ran on (DMI, CPU and the flags kexec depends on,
firmware, TPM, memory class, hypervisor, KHO, crash kernel, live patches, the
operator's labels), so that the analysis can tell bugs that only some hosts have
(LA57 CPUs, EFI hosts with a TPM, one BIOS) from bugs of a release. Facts
describe a class of machine, never one machine: no serials, UUIDs or asset tags.
A source that cannot be read leaves a problem line and the others are read anyway.
"""

from __future__ import annotations

import re
from pathlib import Path

from kexec_lineage.host.files import Problems, read_bytes
from kexec_lineage.host.identity import read_text
from kexec_lineage.host.kho_debugfs import kho_active
from kexec_lineage.model.wire import FACT_KEY, MAX_FACT_VALUE, MAX_FACTS

__all__ = ("CPU_FLAGS", "DMI_FIELDS", "MAX_LABELS", "MAX_LIVEPATCHES", "read_facts")

DMI = "sys/class/dmi/id"
#: The DMI files read, each as ``dmi.<name>``.
DMI_FIELDS = (
    "sys_vendor",
    "product_name",
    "product_version",
    "board_vendor",
    "board_name",
    "bios_vendor",
    "bios_version",
    "bios_date",
)
#: What firmware leaves in a DMI field nobody filled in (compared case-folded).
_DMI_PLACEHOLDERS = frozenset(
    {
        "to be filled by o.e.m.",
        "default string",
        "not specified",
        "not applicable",
        "system product name",
        "system manufacturer",
        "system version",
        "o.e.m.",
        "n/a",
        "none",
    }
)

CPUINFO = "proc/cpuinfo"
#: ``proc/cpuinfo`` fields, as ``cpu.<fact>``: x86 ones, then arm64 ones.
_X86_FIELDS = {
    "vendor_id": "vendor",
    "cpu family": "family",
    "model": "model",
    "stepping": "stepping",
    "microcode": "microcode",
    "model name": "model_name",
}
_ARM64_FIELDS = {
    "CPU implementer": "implementer",
    "CPU part": "part",
    "CPU variant": "variant",
    "CPU revision": "revision",
}
#: The x86 flags that matter to kexec and to booting the next kernel, each a
#: ``cpu.flag.<name>`` fact of "1" or "0" (an absent flag is a fact too).
CPU_FLAGS = (
    # 5-level paging: kexec's identity map and trampoline must switch paging modes.
    "la57",
    # AMD memory encryption: memory handed to the next kernel is encrypted, and kexec
    # must map it decrypted or encrypted correctly; each mode has its own kexec code:
    "sme",  # on the host
    "sev",  # in a guest
    "sev_es",  # in a guest with encrypted register state (the GHCB, the AP jump table)
    "sev_snp",  # in a guest with the RMP: pages must be made shared or private again
    # Intel TDX guest: shared memory must be made private again before kexec.
    "tdx_guest",
    # The interrupt mode the next kernel inherits from this one.
    "x2apic",
    # The next kernel's TSC calibration, often skipped on kexec:
    "nonstop_tsc",  # the TSC runs on in deep C-states
    "constant_tsc",  # the TSC rate does not follow the CPU's frequency
)

EFI = "sys/firmware/efi"
#: The SecureBoot variable of EFI_GLOBAL_VARIABLE (UEFI spec, section 3.3).
SECURE_BOOT = f"{EFI}/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
TPM = "sys/class/tpm/tpm0"
MEMINFO = "proc/meminfo"
HYPERVISOR = "sys/hypervisor/type"
#: MemTotal above this (1 EiB, in kB) is no memory size but a broken file.
_MAX_MEMORY_KB = 1 << 50
#: How DMI names a hypervisor: (in sys_vendor, in product_name, name), first match wins.
_HYPERVISORS = (
    ("", ".metal", "none"),  # EC2 bare metal still says "Amazon EC2"
    ("QEMU", "", "qemu"),
    ("", "Standard PC", "qemu"),
    ("", "KVM", "kvm"),
    ("VMware", "", "vmware"),
    ("Microsoft Corporation", "Virtual Machine", "hyperv"),
    ("Amazon EC2", "", "nitro"),
    ("Google", "", "kvm"),
    ("Xen", "", "xen"),
)
LIVEPATCH = "sys/kernel/livepatch"
MAX_LIVEPATCHES = 8
LABELS = "etc/kexec-lineage/labels"
MAX_LABELS = 16
_NOT_KEY = re.compile(r"[^a-z0-9_.-]")


def _printable(text: str) -> str:
    """``text`` (read with ``surrogateescape``) with each byte that was no UTF-8 as
    U+FFFD, other unprintable characters as spaces, each run of white space one space."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _value(text: str | None) -> str:
    """``text`` as a fact's value ("" for none), cut to :data:`MAX_FACT_VALUE`."""
    return _printable(text or "")[:MAX_FACT_VALUE].rstrip()


def _cpuinfo(root: Path) -> dict[str, str] | None:
    """The fields of the first processor block of ``proc/cpuinfo``, if there is one.

    Read with the large limit: a host with a thousand CPUs has megabytes of it.
    """
    path = root / CPUINFO
    if not path.exists():
        return None
    fields: dict[str, str] = {}
    for line in read_bytes(path).decode("utf-8", "surrogateescape").splitlines():
        if not line.strip() and fields:
            break
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip()] = value.strip()
    return fields


def _secure_boot(root: Path) -> str | None:
    """``on`` or ``off`` from the SecureBoot variable (4 bytes of attributes, one of
    value), ``None`` where there is none."""
    path = root / SECURE_BOOT
    if not path.exists():
        return None
    data = read_bytes(path, 64)
    if len(data) < 5:
        raise ValueError(f"{len(data)} bytes, not 4 of attributes and 1 of value")
    return "on" if data[4] else "off"


def _mem_size(root: Path) -> str | None:
    """MemTotal as the smallest power of two GiB not below it: "256G", "2T"."""
    meminfo = read_text(root, MEMINFO)
    if meminfo is None:
        return None
    words = next((w for w in map(str.split, meminfo.splitlines()) if w[:1] == ["MemTotal:"]), [])
    if len(words) != 3 or words[2] != "kB":
        raise ValueError("no 'MemTotal: <n> kB' line")
    kb = int(words[1])
    if not 0 < kb <= _MAX_MEMORY_KB:
        raise ValueError("MemTotal out of range")
    gib = 1 << max(0, (kb - 1).bit_length() - 20)
    return f"{gib}G" if gib <= 1024 else f"{gib >> 10}T"


def _hypervisor(named: str, facts: dict[str, str], flags: set[str]) -> str:
    """Who runs this host: ``named`` (``sys/hypervisor/type``), else DMI, else the CPU's word."""
    if named:
        return named
    vendor, product = facts.get("dmi.sys_vendor", ""), facts.get("dmi.product_name", "")
    for in_vendor, in_product, name in _HYPERVISORS:
        if in_vendor in vendor and in_product in product:
            return name
    return "unknown" if "hypervisor" in flags else "none"


def _crashkernel(root: Path) -> str:
    if read_text(root, "sys/kernel/kexec_crash_loaded") == "1":
        return "loaded"
    size = read_text(root, "sys/kernel/kexec_crash_size")
    return "reserved" if size and int(size) > 0 else "none"


def _livepatches(root: Path) -> list[str]:
    """The names of the live patches the kernel knows, loaded or not, sorted."""
    folder = root / LIVEPATCH
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _labels(text: str, room: int, problems: list[str]) -> dict[str, str]:
    """The ``key=value`` lines of the labels file as facts, at most ``room`` of them."""
    labels: dict[str, str] = {}
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = line.partition("=")
        key, value = f"label.{name.strip()}", _printable(value)
        if not eq:
            problem = "no '='"
        elif not FACT_KEY.fullmatch(name.strip()) or not FACT_KEY.fullmatch(key):
            problem = "the key is not [a-z0-9][a-z0-9_.-]*, at most 58 characters"
        elif len(value) > MAX_FACT_VALUE:
            problem = f"the value is longer than {MAX_FACT_VALUE} characters"
        elif key not in labels and len(labels) >= room:
            problems.append(f"{LABELS}: more than {room} labels; line {number} and on left out")
            break
        else:
            labels[key] = value
            continue
        problems.append(f"{LABELS}:{number}: skipped: {problem}")
    return labels


def read_facts(root: Path) -> tuple[dict[str, str], tuple[str, ...]]:
    """The facts of the host booted under ``root``, each valid for
    :func:`~kexec_lineage.model.wire.facts_problem`, and a line for each source
    that could not be read."""
    facts: dict[str, str] = {}
    problems = Problems()
    attempt = problems.attempt

    def text(relative: str) -> str | None:
        return attempt(relative, lambda: read_text(root, relative), None)

    for name in DMI_FIELDS:
        value = _value(text(f"{DMI}/{name}"))
        if value and value.casefold() not in _DMI_PLACEHOLDERS:
            facts[f"dmi.{name}"] = value
    # The machine as the kernel names it in its DMI: and Hardware name: lines, which
    # is all that console logs tell (kexec_lineage.logs.hardware): one key for both.
    named = [facts[k] for k in ("dmi.sys_vendor", "dmi.product_name") if k in facts]
    if named:
        facts["dmi.system"] = _value(" ".join(named)) or ""

    found = attempt(CPUINFO, lambda: _cpuinfo(root), None)
    cpu = found or {}
    x86 = "vendor_id" in cpu
    flags = set(cpu.get("flags", "").split())
    for field, fact in {**_X86_FIELDS, **_ARM64_FIELDS}.items():
        if value := _value(cpu.get(field)):
            facts[f"cpu.{fact}"] = value
    if x86 and "flags" in cpu:
        facts |= {f"cpu.flag.{flag}": "1" if flag in flags else "0" for flag in CPU_FLAGS}

    efi = attempt(EFI, (root / EFI).is_dir, None)
    if efi:
        facts["boot.firmware"] = "efi"
        if secure := attempt(SECURE_BOOT, lambda: _secure_boot(root), None):
            facts["boot.secure_boot"] = secure
    elif efi is not None and found is not None:
        facts["boot.firmware"] = "bios" if x86 else "other"

    tpm = attempt(TPM, (root / TPM).exists, None)
    if tpm is not None:
        facts["tpm.present"] = "1" if tpm else "0"
    if tpm and (version := _value(text(f"{TPM}/tpm_version_major"))):
        facts["tpm.version"] = version

    if mem := attempt(MEMINFO, lambda: _mem_size(root), None):
        facts["mem.size"] = mem
    facts["hypervisor"] = _hypervisor(_value(text(HYPERVISOR)), facts, flags)
    facts["kho"] = "on" if kho_active(root, text("proc/cmdline"))[0] else "off"
    if crash := attempt("sys/kernel/kexec_crash_*", lambda: _crashkernel(root), None):
        facts["crashkernel"] = crash

    patches: list[str] = attempt(LIVEPATCH, lambda: _livepatches(root), [])
    enabled = [name for name in patches if text(f"{LIVEPATCH}/{name}/enabled") == "1"]
    if len(enabled) > MAX_LIVEPATCHES:
        problems.lines.append(
            f"{LIVEPATCH}: {len(enabled)} enabled; the first {MAX_LIVEPATCHES} kept"
        )
    for name in enabled[:MAX_LIVEPATCHES]:
        facts["livepatch." + _NOT_KEY.sub("_", name.lower())[: 64 - len("livepatch.")]] = "1"

    labels = text(LABELS)
    if labels is not None:
        facts |= _labels(labels, min(MAX_LABELS, MAX_FACTS - len(facts)), problems.lines)
    # A broken file's error may quote its bytes: each line printable, as facts are.
    return facts, tuple(_printable(line) for line in problems.lines)
