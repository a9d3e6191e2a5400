"""Host facts from copied trees: each source, each way it can be missing or broken, and
the property that whatever the files hold, every fact is one the wire takes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kexec_lineage.host import facts as facts_module
from kexec_lineage.host.facts import CPU_FLAGS, DMI_FIELDS, read_facts
from kexec_lineage.model.wire import MAX_FACTS, facts_problem

GUESTS = Path(__file__).resolve().parent.parent / "data" / "host-facts"
SECURE_BOOT = "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
GIB = 1 << 20  # in kB

INTEL_FLAGS = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts "
    "acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art "
    "arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf pni "
    "pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca "
    "sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm "
    "abm 3dnowprefetch cpuid_fault epb cat_l3 invpcid_single intel_ppin ssbd mba ibrs ibpb "
    "stibp ibrs_enhanced tpr_shadow flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 "
    "avx2 smep bmi2 erms invpcid cqm rdt_a avx512f avx512dq rdseed adx smap avx512ifma "
    "clflushopt clwb intel_pt avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 "
    "xsaves wbnoinvd dtherm ida arat pln pts hwp avx512vbmi umip pku ospke avx512_vbmi2 gfni "
    "vaes vpclmulqdq avx512_vnni avx512_bitalg tme avx512_vpopcntdq la57 rdpid fsrm md_clear "
    "pconfig flush_l1d arch_capabilities"
)


def x86_cpuinfo(vendor: str, family: int, model: int, name: str, flags: str) -> str:
    block = (
        "processor\t: {n}\n"
        "vendor_id\t: {vendor}\n"
        f"cpu family\t: {family}\n"
        f"model\t\t: {model}\n"
        f"model name\t: {name}\n"
        "stepping\t: 6\n"
        "microcode\t: 0xd0003a5\n"
        "cpu MHz\t\t: 2300.000\n"
        "cache size\t: 61440 KB\n"
        "flags\t\t: {flags}\n"
        "bugs\t\t: spectre_v1 spectre_v2 spec_store_bypass swapgs\n"
        "bogomips\t: 4600.00\n"
        "\n"
    )
    # Only the first block counts: the second would show if it did not.
    return block.format(n=0, vendor=vendor, flags=flags) + block.format(
        n=1, vendor="SecondBlock", flags="la57 sme sev hypervisor"
    )


INTEL = x86_cpuinfo(
    "GenuineIntel", 6, 106, "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", INTEL_FLAGS
)
INTEL_NO_LA57 = INTEL.replace(" la57 ", " ", 1)
AMD = x86_cpuinfo(
    "AuthenticAMD",
    25,
    1,
    "AMD EPYC 7763 64-Core Processor",
    "fpu vme de pse tsc msr pae mce cx8 apic sep constant_tsc rep_good nopl nonstop_tsc "
    "cpuid x2apic sme sev sev_es sev_snp",
)
ARM64 = "".join(
    f"processor\t: {n}\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\n"
    "CPU part\t: 0xd0c\nCPU revision\t: 1\n\n"
    for n in range(2)
)

DELL = {
    "sys/class/dmi/id/sys_vendor": "Dell Inc.\n",
    "sys/class/dmi/id/product_name": "PowerEdge R750\n",
    "sys/class/dmi/id/product_version": "Not Specified\n",
    "sys/class/dmi/id/board_vendor": "Dell Inc.\n",
    "sys/class/dmi/id/board_name": "0PJ4Y4\n",
    "sys/class/dmi/id/bios_vendor": "Dell Inc.\n",
    "sys/class/dmi/id/bios_version": "1.10.2\n",
    "sys/class/dmi/id/bios_date": "02/08/2023\n",
    # One machine's identity: never a fact.
    "sys/class/dmi/id/product_serial": "7XK2LM3\n",
    "sys/class/dmi/id/product_uuid": "4c4c4544-0058-4b10-8032-b7c04f4c4d33\n",
    "sys/class/dmi/id/board_serial": ".7XK2LM3.CNFCP0024I00RL.\n",
    "sys/class/dmi/id/chassis_asset_tag": "ASSET-0042\n",
}
DELL_FACTS = {
    "dmi.sys_vendor": "Dell Inc.",
    "dmi.product_name": "PowerEdge R750",
    "dmi.system": "Dell Inc. PowerEdge R750",
    "dmi.board_vendor": "Dell Inc.",
    "dmi.board_name": "0PJ4Y4",
    "dmi.bios_vendor": "Dell Inc.",
    "dmi.bios_version": "1.10.2",
    "dmi.bios_date": "02/08/2023",
}
#: What an empty root still says: nothing present, nothing loaded, nothing running it.
NOTHING = {"tpm.present": "0", "hypervisor": "none", "kho": "off", "crashkernel": "none"}

Files = dict[str, str | bytes | None]


def tree(root: Path, files: Files) -> Path:
    """``root`` with each file written; ``None`` makes a directory."""
    for relative, content in files.items():
        path = root / relative
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def meminfo(kb: int) -> str:
    return f"MemTotal:       {kb} kB\nMemFree:         1234 kB\nMemAvailable:   5678 kB\n"


def efi(secure: int | None) -> Files:
    files: Files = {"sys/firmware/efi/efivars": None}
    if secure is not None:
        files[SECURE_BOOT] = b"\x06\x00\x00\x00" + bytes([secure])
    return files


def flags(present: str) -> dict[str, str]:
    return {f"cpu.flag.{flag}": "1" if flag in present.split() else "0" for flag in CPU_FLAGS}


def facts_of(root: Path, files: Files) -> dict[str, str]:
    """The facts of a tree that has no problem."""
    facts, problems = read_facts(tree(root, files))
    assert problems == ()
    return facts


def test_an_intel_efi_host_with_la57_and_a_tpm(tmp_path: Path) -> None:
    files: Files = {
        **DELL,
        **efi(1),
        "proc/cpuinfo": INTEL,
        "proc/meminfo": meminfo(251 * GIB + 123),
        "sys/class/tpm/tpm0/tpm_version_major": "2\n",
        "sys/kernel/kexec_crash_loaded": "0\n",
        "sys/kernel/kexec_crash_size": "536870912\n",
    }
    assert facts_of(tmp_path, files) == {
        **DELL_FACTS,
        "cpu.vendor": "GenuineIntel",
        "cpu.family": "6",
        "cpu.model": "106",
        "cpu.stepping": "6",
        "cpu.microcode": "0xd0003a5",
        "cpu.model_name": "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz",
        **flags("la57 x2apic nonstop_tsc constant_tsc"),
        "boot.firmware": "efi",
        "boot.secure_boot": "on",
        "tpm.present": "1",
        "tpm.version": "2",
        "mem.size": "256G",
        "hypervisor": "none",
        "kho": "off",
        "crashkernel": "reserved",
    }


def test_an_amd_bios_host_without_la57_or_a_tpm(tmp_path: Path) -> None:
    files: Files = {"proc/cpuinfo": AMD, "proc/meminfo": meminfo(16 * GIB)}
    assert facts_of(tmp_path, files) == {
        "cpu.vendor": "AuthenticAMD",
        "cpu.family": "25",
        "cpu.model": "1",
        "cpu.stepping": "6",
        "cpu.microcode": "0xd0003a5",
        "cpu.model_name": "AMD EPYC 7763 64-Core Processor",
        **flags("sme sev sev_es sev_snp x2apic nonstop_tsc constant_tsc"),
        "boot.firmware": "bios",
        "mem.size": "16G",
        **NOTHING,
    }


def test_la57_is_a_fact_when_absent_too(tmp_path: Path) -> None:
    with_la57 = facts_of(tmp_path / "a", {"proc/cpuinfo": INTEL})
    without = facts_of(tmp_path / "b", {"proc/cpuinfo": INTEL_NO_LA57})
    assert (with_la57["cpu.flag.la57"], without["cpu.flag.la57"]) == ("1", "0")
    assert {k: v for k, v in with_la57.items() if v != without[k]} == {"cpu.flag.la57": "1"}


def test_an_arm64_efi_host_with_secure_boot_off(tmp_path: Path) -> None:
    files: Files = {**efi(0), "proc/cpuinfo": ARM64, "proc/meminfo": meminfo(64 * GIB - 1)}
    assert facts_of(tmp_path, files) == {
        "cpu.implementer": "0x41",
        "cpu.part": "0xd0c",
        "cpu.variant": "0x3",
        "cpu.revision": "1",
        "boot.firmware": "efi",
        "boot.secure_boot": "off",
        "mem.size": "64G",
        **NOTHING,
    }


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [
        # A field the first block lacks is not taken from the next one.
        (
            "processor\t: 0\nvendor_id\t: GenuineIntel\n\n"
            "processor\t: 1\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\nflags\t\t: la57\n",
            {"cpu.vendor": "GenuineIntel", "boot.firmware": "bios"},
        ),
        # Flags are x86's: without vendor_id they are not read.
        ("processor\t: 0\nflags\t\t: la57 x2apic\n", {"boot.firmware": "other"}),
        ("", {"boot.firmware": "other"}),
    ],
)
def test_the_first_processor_block_only(
    tmp_path: Path, cpuinfo: str, expected: dict[str, str]
) -> None:
    assert facts_of(tmp_path, {"proc/cpuinfo": cpuinfo}) == {**NOTHING, **expected}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"proc/cpuinfo": ARM64}, {"boot.firmware": "other"}),
        ({"proc/cpuinfo": INTEL}, {"boot.firmware": "bios"}),
        # No SecureBoot variable: not a fact.
        ({**efi(None), "proc/cpuinfo": INTEL}, {"boot.firmware": "efi"}),
        # EFI needs no CPU to be known; BIOS does.
        (efi(1), {"boot.firmware": "efi", "boot.secure_boot": "on"}),
        ({}, {}),
    ],
)
def test_firmware(tmp_path: Path, files: Files, expected: dict[str, str]) -> None:
    facts = facts_of(tmp_path, files)
    assert {k: v for k, v in facts.items() if k.startswith("boot.")} == expected


def test_an_empty_root(tmp_path: Path) -> None:
    assert read_facts(tmp_path) == (NOTHING, ())


@pytest.mark.parametrize(
    ("kb", "size"),
    [
        (1, "1G"),
        (GIB, "1G"),
        (GIB + 1, "2G"),
        (3 * GIB + 512, "4G"),
        (251 * GIB, "256G"),
        (256 * GIB, "256G"),
        (256 * GIB + 1, "512G"),
        (1024 * GIB, "1024G"),
        (1024 * GIB + 1, "2T"),
        (2048 * GIB, "2T"),
        (6000 * GIB, "8T"),
    ],
)
def test_memory_buckets(tmp_path: Path, kb: int, size: str) -> None:
    assert facts_of(tmp_path, {"proc/meminfo": meminfo(kb)})["mem.size"] == size


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("MemFree: 12 kB\n", "ValueError: no 'MemTotal: <n> kB' line"),
        ("MemTotal: 12 MB\n", "ValueError: no 'MemTotal: <n> kB' line"),
        ("MemTotal: twelve kB\n", "ValueError: invalid literal for int() with base 10: 'twelve'"),
        ("MemTotal: 0 kB\n", "ValueError: MemTotal out of range"),
        (f"MemTotal: {1 << 51} kB\n", "ValueError: MemTotal out of range"),
    ],
)
def test_a_meminfo_without_a_total(tmp_path: Path, content: str, problem: str) -> None:
    facts, problems = read_facts(tree(tmp_path, {"proc/meminfo": content}))
    assert (facts, problems) == (NOTHING, (f"proc/meminfo: {problem}",))


HV_FLAGS = "fpu constant_tsc hypervisor x2apic"


@pytest.mark.parametrize(
    ("files", "hypervisor"),
    [
        ({"sys/hypervisor/type": "xen\n", "sys/class/dmi/id/sys_vendor": "Xen\n"}, "xen"),
        ({"sys/class/dmi/id/sys_vendor": "Xen\n"}, "xen"),
        (
            {
                "sys/class/dmi/id/sys_vendor": "QEMU\n",
                "sys/class/dmi/id/product_name": "Standard PC (Q35 + ICH9, 2009)\n",
            },
            "qemu",
        ),
        ({"sys/class/dmi/id/product_name": "Standard PC (i440FX + PIIX, 1996)\n"}, "qemu"),
        (
            {"sys/class/dmi/id/sys_vendor": "Red Hat\n", "sys/class/dmi/id/product_name": "KVM\n"},
            "kvm",
        ),
        ({"sys/class/dmi/id/sys_vendor": "VMware, Inc.\n"}, "vmware"),
        (
            {
                "sys/class/dmi/id/sys_vendor": "Microsoft Corporation\n",
                "sys/class/dmi/id/product_name": "Virtual Machine\n",
            },
            "hyperv",
        ),
        # Microsoft's own hardware is no virtual machine.
        (
            {
                "sys/class/dmi/id/sys_vendor": "Microsoft Corporation\n",
                "sys/class/dmi/id/product_name": "Surface Pro\n",
                "proc/cpuinfo": INTEL,
            },
            "none",
        ),
        (
            {
                "sys/class/dmi/id/sys_vendor": "Amazon EC2\n",
                "sys/class/dmi/id/product_name": "m6i.large\n",
            },
            "nitro",
        ),
        (
            {
                "sys/class/dmi/id/sys_vendor": "Amazon EC2\n",
                "sys/class/dmi/id/product_name": "c6g.metal\n",
                "proc/cpuinfo": ARM64,
            },
            "none",
        ),
        (
            {
                "sys/class/dmi/id/sys_vendor": "Google\n",
                "sys/class/dmi/id/product_name": "Google Compute Engine\n",
            },
            "kvm",
        ),
        ({"proc/cpuinfo": INTEL.replace("x2apic", "x2apic hypervisor", 1)}, "unknown"),
        ({"proc/cpuinfo": INTEL, **DELL}, "none"),
        ({}, "none"),
    ],
)
def test_hypervisor(tmp_path: Path, files: Files, hypervisor: str) -> None:
    assert facts_of(tmp_path, files)["hypervisor"] == hypervisor


@pytest.mark.parametrize(
    ("files", "kho"),
    [
        ({"sys/kernel/debug/kho/out/sub_fdts": None, "proc/cmdline": "quiet\n"}, "on"),
        ({"sys/kernel/debug/tracing": None, "proc/cmdline": "quiet kho=on\n"}, "on"),
        ({"proc/cmdline": "root=/dev/sda1 kho=1\n"}, "on"),
        ({"proc/cmdline": "kho=on kho=off\n"}, "off"),
        ({"sys/kernel/debug/tracing": None, "proc/cmdline": "quiet\n"}, "off"),
        ({}, "off"),
    ],
)
def test_kho(tmp_path: Path, files: Files, kho: str) -> None:
    assert facts_of(tmp_path, files)["kho"] == kho


@pytest.mark.parametrize(
    ("loaded", "size", "state"),
    [
        ("1", "268435456", "loaded"),
        ("0", "268435456", "reserved"),
        (None, "1", "reserved"),
        ("0", "0", "none"),
        (None, None, "none"),
    ],
)
def test_crashkernel(tmp_path: Path, loaded: str | None, size: str | None, state: str) -> None:
    files: Files = {}
    if loaded is not None:
        files["sys/kernel/kexec_crash_loaded"] = loaded + "\n"
    if size is not None:
        files["sys/kernel/kexec_crash_size"] = size + "\n"
    assert facts_of(tmp_path, files)["crashkernel"] == state


def test_a_crash_size_that_is_no_number(tmp_path: Path) -> None:
    files: Files = {"sys/kernel/kexec_crash_size": "lots\n"}
    assert read_facts(tree(tmp_path, files)) == (
        {k: v for k, v in NOTHING.items() if k != "crashkernel"},
        ("sys/kernel/kexec_crash_*: ValueError: invalid literal for int() with base 10: 'lots'",),
    )


def test_livepatches_enabled_ones_only_named_as_keys(tmp_path: Path) -> None:
    patches = "sys/kernel/livepatch"
    files: Files = {
        f"{patches}/livepatch_CVE_2024_1086/enabled": "1\n",
        f"{patches}/kpatch-5.14.0 fix/enabled": "1\n",
        f"{patches}/klp_off/enabled": "0\n",
        f"{patches}/klp_no_file": None,
        f"{patches}/{'x' * 80}/enabled": "1\n",
        f"{patches}/stray-file": "1\n",
    }
    facts = facts_of(tmp_path, files)
    assert {k: v for k, v in facts.items() if k.startswith("livepatch.")} == {
        "livepatch.livepatch_cve_2024_1086": "1",
        "livepatch.kpatch-5.14.0_fix": "1",
        "livepatch." + "x" * 54: "1",
    }


def test_at_most_eight_livepatches(tmp_path: Path) -> None:
    files: Files = {f"sys/kernel/livepatch/klp_{n:02}/enabled": "1\n" for n in range(10)}
    facts, problems = read_facts(tree(tmp_path, files))
    assert sorted(k for k in facts if k.startswith("livepatch.")) == [
        f"livepatch.klp_{n:02}" for n in range(8)
    ]
    assert problems == ("sys/kernel/livepatch: 10 enabled; the first 8 kept",)


LABELS = "etc/kexec-lineage/labels"


def test_labels_with_bad_lines(tmp_path: Path) -> None:
    content = (
        "# the operator's labels\n"
        "\n"
        "rack=r12\n"
        "  region = eu-west-1  \n"
        "no equals sign\n"
        "Rack=upper-case key\n"
        "=no key\n"
        f"{'k' * 59}=key too long with label.\n"
        f"{'k' * 58}=just fits\n"
        f"long={'v' * 129}\n"
        f"edge={'v' * 128}\n"
        "pool=  batch   jobs \n"
        "empty=\n"
        "rack=r13\n"
    )
    facts, problems = read_facts(tree(tmp_path, {LABELS: content}))
    assert facts == {
        **NOTHING,
        "label.rack": "r13",
        "label.region": "eu-west-1",
        f"label.{'k' * 58}": "just fits",
        "label.edge": "v" * 128,
        "label.pool": "batch jobs",
        "label.empty": "",
    }
    key = "the key is not [a-z0-9][a-z0-9_.-]*, at most 58 characters"
    assert problems == (
        f"{LABELS}:5: skipped: no '='",
        f"{LABELS}:6: skipped: {key}",
        f"{LABELS}:7: skipped: {key}",
        f"{LABELS}:8: skipped: {key}",
        f"{LABELS}:10: skipped: the value is longer than 128 characters",
    )


def test_at_most_sixteen_labels(tmp_path: Path) -> None:
    # A label set again takes no more room.
    content = "".join(f"l{n:02}=v\n" for n in range(16)) + "l00=again\n"
    content += "".join(f"l{n:02}=v\n" for n in range(16, 20))
    facts, problems = read_facts(tree(tmp_path, {LABELS: content}))
    assert {k: v for k, v in facts.items() if k.startswith("label.")} == {
        **{f"label.l{n:02}": "v" for n in range(16)},
        "label.l00": "again",
    }
    assert problems == (f"{LABELS}: more than 16 labels; line 18 and on left out",)


def test_labels_fill_only_what_room_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(facts_module, "MAX_FACTS", len(NOTHING) + 2)
    facts, problems = read_facts(tree(tmp_path, {LABELS: "a=1\nb=2\nc=3\n"}))
    assert facts == {**NOTHING, "label.a": "1", "label.b": "2"}
    assert problems == (f"{LABELS}: more than 2 labels; line 3 and on left out",)


def test_dmi_placeholders_are_no_facts(tmp_path: Path) -> None:
    dmi = "sys/class/dmi/id"
    files: Files = {
        f"{dmi}/sys_vendor": "System manufacturer\n",
        f"{dmi}/product_name": "System Product Name\n",
        f"{dmi}/product_version": "To Be Filled By O.E.M.\n",
        f"{dmi}/board_vendor": "ASUSTeK COMPUTER INC.\n",
        f"{dmi}/board_name": "default STRING\n",
        f"{dmi}/bios_vendor": "   \n",
        f"{dmi}/bios_version": "  2103 \t beta\n",
        f"{dmi}/bios_date": "Not Specified",
    }
    assert facts_of(tmp_path, files) == {
        **NOTHING,
        "dmi.board_vendor": "ASUSTeK COMPUTER INC.",
        "dmi.bios_version": "2103 beta",
    }


@pytest.mark.parametrize(
    "placeholder",
    ["O.E.M.", "n/a", "None", "Not Applicable", "SYSTEM VERSION", "To be filled by O.E.M."],
)
def test_every_placeholder(tmp_path: Path, placeholder: str) -> None:
    files: Files = {**DELL, "sys/class/dmi/id/product_name": placeholder + "\n"}
    facts = facts_of(tmp_path, files)
    assert {k: v for k, v in facts.items() if k.startswith("dmi.")} == {
        k: v for k, v in DELL_FACTS.items() if k != "dmi.product_name"
    } | {"dmi.system": "Dell Inc."}


def test_values_are_cleaned_and_cut(tmp_path: Path) -> None:
    dmi = "sys/class/dmi/id"
    files: Files = {
        f"{dmi}/sys_vendor": b"Caf\xe9\x00Corp\x1b[1m\n",
        f"{dmi}/product_name": "x" * 127 + " tail",
        f"{dmi}/board_name": "\u2028é\ud7ff",
    }
    facts = facts_of(tmp_path, files)
    assert facts["dmi.sys_vendor"] == "Caf\ufffd Corp [1m"
    assert facts["dmi.product_name"] == "x" * 127
    assert facts["dmi.board_name"] == "é"


def test_broken_sources_leave_problems_and_the_rest_is_read(tmp_path: Path) -> None:
    """A directory where a file should be cannot be read, even by root."""
    files: Files = {
        **DELL,
        "sys/class/dmi/id/bios_version": None,
        "proc/cpuinfo": None,
        "proc/meminfo": None,
        **efi(None),
        SECURE_BOOT: None,
        "sys/class/tpm/tpm0/tpm_version_major": None,
        "sys/kernel/kexec_crash_loaded": None,
        "sys/kernel/livepatch/klp_a/enabled": None,
        "sys/kernel/livepatch/klp_b/enabled": "1\n",
        LABELS: None,
    }
    root = tree(tmp_path, files)
    facts, problems = read_facts(root)
    assert facts == {
        **{k: v for k, v in DELL_FACTS.items() if k != "dmi.bios_version"},
        "boot.firmware": "efi",
        "tpm.present": "1",
        "hypervisor": "none",
        "kho": "off",
        "livepatch.klp_b": "1",
    }

    def unreadable(relative: str) -> str:
        return f"{relative}: InputError: cannot read {root / relative}: Is a directory"

    assert problems == (
        unreadable("sys/class/dmi/id/bios_version"),
        unreadable("proc/cpuinfo"),
        unreadable(SECURE_BOOT),
        unreadable("sys/class/tpm/tpm0/tpm_version_major"),
        unreadable("proc/meminfo"),
        "sys/kernel/kexec_crash_*: InputError: cannot read "
        f"{root}/sys/kernel/kexec_crash_loaded: Is a directory",
        unreadable("sys/kernel/livepatch/klp_a/enabled"),
        unreadable(LABELS),
    )


def test_a_short_secure_boot_variable(tmp_path: Path) -> None:
    files: Files = {**efi(None), SECURE_BOOT: b"\x06\x00\x00\x00"}
    assert read_facts(tree(tmp_path, files)) == (
        {**NOTHING, "boot.firmware": "efi"},
        (f"{SECURE_BOOT}: ValueError: 4 bytes, not 4 of attributes and 1 of value",),
    )


def test_the_facts_fit_however_many_sources(tmp_path: Path) -> None:
    """Every source at its largest still leaves room for the labels."""
    files: Files = {
        **{f"sys/class/dmi/id/{name}": "v\n" for name in DMI_FIELDS},
        **efi(1),
        # One block with every CPU field there is, x86 and arm64.
        "proc/cpuinfo": ARM64.split("\n\n")[0] + "\n" + INTEL,
        "proc/meminfo": meminfo(GIB),
        "sys/class/tpm/tpm0/tpm_version_major": "2\n",
        **{f"sys/kernel/livepatch/klp_{n}/enabled": "1\n" for n in range(8)},
        LABELS: "".join(f"l{n:02}=v\n" for n in range(16)),
    }
    facts = facts_of(tmp_path, files)
    assert sum(k.startswith("label.") for k in facts) == 16
    # dmi, cpu fields and flags, boot, tpm, mem, hypervisor, kho, crashkernel, patches, labels
    # DMI: 8 fields and dmi.system; cpu: 10 fields and the flags; firmware 2, TPM 2,
    # memory, hypervisor, KHO, crashkernel; livepatches; labels.
    assert len(facts) == 9 + 10 + len(CPU_FLAGS) + 2 + 2 + 1 + 1 + 1 + 1 + 8 + 16 <= MAX_FACTS


# Any text at all, short or longer than a value may be, as a file's bytes.
TEXT = st.one_of(st.text(max_size=20), st.text(min_size=120, max_size=300))
CONTENT = st.one_of(
    st.binary(max_size=20),
    st.binary(min_size=120, max_size=300),
    TEXT.map(lambda s: s.encode("utf-8", "surrogatepass")),
)
NAME = st.text(
    st.characters(blacklist_characters="/\x00", blacklist_categories=["Cs"]),
    min_size=1,
    max_size=70,
).filter(lambda s: s not in {".", ".."})


def cpuinfo_like(fields: list[tuple[str, str]]) -> bytes:
    return "".join(f"{name}\t: {value}\n" for name, value in fields).encode(
        "utf-8", "surrogatepass"
    )


CPUINFO = st.one_of(
    CONTENT,
    st.lists(
        st.tuples(
            st.sampled_from(["vendor_id", "flags", "model name", "CPU part", "microcode", ""]),
            TEXT,
        ),
        max_size=8,
    ).map(cpuinfo_like),
)
LABEL_KEY = st.one_of(
    st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,8}", fullmatch=True),
    st.from_regex(r"[a-z0-9_.-]{55,62}", fullmatch=True),
    st.text(max_size=20),
)
LABEL_LINES = st.lists(st.one_of(TEXT, st.tuples(LABEL_KEY, TEXT).map("=".join)), max_size=30).map(
    lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")
)
SOURCES = [
    *(f"sys/class/dmi/id/{name}" for name in DMI_FIELDS),
    "proc/meminfo",
    "proc/cmdline",
    SECURE_BOOT,
    "sys/class/tpm/tpm0/tpm_version_major",
    "sys/hypervisor/type",
    "sys/kernel/kexec_crash_loaded",
    "sys/kernel/kexec_crash_size",
]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    contents=st.dictionaries(st.sampled_from(SOURCES), st.one_of(st.none(), CONTENT)),
    cpuinfo=st.one_of(st.none(), CPUINFO),
    patches=st.dictionaries(NAME, st.sampled_from([b"1", b"0", b"1\n", b"x"]), max_size=12),
    labels=st.one_of(st.none(), LABEL_LINES),
    efi=st.booleans(),
)
def test_whatever_the_files_hold_every_fact_is_valid(
    contents: dict[str, bytes | None],
    cpuinfo: bytes | None,
    patches: dict[str, bytes],
    labels: bytes | None,
    efi: bool,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files: Files = {**contents, **({"sys/firmware/efi": None} if efi else {})}
        files |= {f"sys/kernel/livepatch/{name}/enabled": value for name, value in patches.items()}
        if cpuinfo is not None:
            files["proc/cpuinfo"] = cpuinfo
        if labels is not None:
            files[LABELS] = labels
        facts, problems = read_facts(tree(root, files))
    assert facts_problem(facts) is None
    assert all(p and p.isprintable() for p in problems)
    assert {"tpm.present", "kho"} <= facts.keys()


def test_a_broken_hypervisor_type_leaves_dmi_to_name_it(tmp_path: Path) -> None:
    files: Files = {"sys/hypervisor/type": None, "sys/class/dmi/id/sys_vendor": "VMware, Inc.\n"}
    root = tree(tmp_path, files)
    assert read_facts(root) == (
        {
            **NOTHING,
            "dmi.sys_vendor": "VMware, Inc.",
            "dmi.system": "VMware, Inc.",
            "hypervisor": "vmware",
        },
        (
            f"sys/hypervisor/type: InputError: cannot read {root}/sys/hypervisor/type: "
            "Is a directory",
        ),
    )


QEMU_DMI = {"dmi.sys_vendor": "QEMU", "dmi.bios_version": "0.0.0", "dmi.bios_date": "02/06/2015"}
SEABIOS = {
    "dmi.sys_vendor": "QEMU",
    "dmi.product_name": "Standard PC (i440FX + PIIX, 1996)",
    "dmi.system": "QEMU Standard PC (i440FX + PIIX, 1996)",
    "dmi.product_version": "pc-i440fx-7.2",
    "dmi.bios_vendor": "SeaBIOS",
    "dmi.bios_version": "1.16.2-debian-1.16.2-1",
    "dmi.bios_date": "04/01/2014",
    "boot.firmware": "bios",
}
OVMF = {**QEMU_DMI, "dmi.bios_vendor": "EFI Development Kit II / OVMF", "boot.firmware": "efi"}
QEMU_CPU = {
    "cpu.vendor": "AuthenticAMD",
    "cpu.family": "15",
    "cpu.model": "107",
    "cpu.stepping": "1",
    "cpu.microcode": "0x1000065",
    **flags(""),
    "hypervisor": "qemu",
    "kho": "off",
}
TCG = "QEMU TCG CPU version 2.5+"
QEMU64 = "QEMU Virtual CPU version 2.5+"


@pytest.mark.parametrize(
    ("guest", "expected"),
    [
        (
            "qemu-la57-bios",
            {
                **SEABIOS,
                **QEMU_CPU,
                "cpu.model_name": TCG,
                "cpu.flag.la57": "1",
                "tpm.present": "0",
                "mem.size": "4G",
                "crashkernel": "loaded",
            },
        ),
        (
            "qemu-nola57-bios",
            {
                **SEABIOS,
                **QEMU_CPU,
                "cpu.model_name": QEMU64,
                "tpm.present": "0",
                "mem.size": "2G",
                "crashkernel": "none",
            },
        ),
        (
            "qemu-efi",
            {
                **OVMF,
                **QEMU_CPU,
                "dmi.product_name": "Standard PC (i440FX + PIIX, 1996)",
                "dmi.system": "QEMU Standard PC (i440FX + PIIX, 1996)",
                "dmi.product_version": "pc-i440fx-7.2",
                "cpu.model_name": QEMU64,
                "boot.secure_boot": "off",
                "tpm.present": "1",
                "tpm.version": "2",
                "mem.size": "2G",
                "crashkernel": "reserved",
            },
        ),
        (
            "qemu-efi-secureboot",
            {
                **OVMF,
                **QEMU_CPU,
                "dmi.product_name": "Standard PC (Q35 + ICH9, 2009)",
                "dmi.system": "QEMU Standard PC (Q35 + ICH9, 2009)",
                "dmi.product_version": "pc-q35-7.2",
                "cpu.model_name": TCG,
                "boot.secure_boot": "on",
                "tpm.present": "0",
                "mem.size": "4G",
                "crashkernel": "none",
            },
        ),
    ],
)
def test_real_qemu_guests(guest: str, expected: dict[str, str]) -> None:
    """The trees booted guests left (tests/data/host-facts/README.md)."""
    assert read_facts(GUESTS / guest) == (expected, ())
