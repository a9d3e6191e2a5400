"""Host facts from the kernel's DMI string, and each boot's facts in a log."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kexec_lineage.logs.boots import split_boots
from kexec_lineage.logs.console import ConsoleLog
from kexec_lineage.logs.hardware import facts_from_hardware_line
from kexec_lineage.model.wire import facts_problem
from tests.logs.builders import console, kernel_boot

DELL = "Dell Inc. PowerEdge R7625/0M7YXP, BIOS 1.8.3 04/15/2024"
KEYS = {"dmi.system", "dmi.board_name", "dmi.bios_version", "dmi.bios_date"}


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        (
            "QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014",
            {
                "dmi.system": "QEMU Standard PC (i440FX + PIIX, 1996)",
                "dmi.bios_version": "1.16.2-debian-1.16.2-1",
                "dmi.bios_date": "04/01/2014",
            },
        ),
        (
            DELL,
            {
                "dmi.system": "Dell Inc. PowerEdge R7625",
                "dmi.board_name": "0M7YXP",
                "dmi.bios_version": "1.8.3",
                "dmi.bios_date": "04/15/2024",
            },
        ),
        (
            "GIGABYTE R272-P30-JG/MP32-AR2-JG, BIOS F31n (SCP: 2.10.20220531) 09/29/2022",
            {
                "dmi.system": "GIGABYTE R272-P30-JG",
                "dmi.board_name": "MP32-AR2-JG",
                "dmi.bios_version": "F31n (SCP: 2.10.20220531)",
                "dmi.bios_date": "09/29/2022",
            },
        ),
        (
            "Google Google Compute Engine/Google Compute Engine, BIOS Google 01/25/2024",
            {
                "dmi.system": "Google Google Compute Engine",
                "dmi.board_name": "Google Compute Engine",
                "dmi.bios_version": "Google",
                "dmi.bios_date": "01/25/2024",
            },
        ),
    ],
)
def test_dmi_strings(text: str, facts: dict[str, str]) -> None:
    assert facts_from_hardware_line(text) == facts


def test_what_the_firmware_left_out_is_no_fact() -> None:
    # An empty board name still gets its '/'; no version, no date.
    assert facts_from_hardware_line("Amazon EC2 c5.xlarge/, BIOS 1.0 10/16/2017") == {
        "dmi.system": "Amazon EC2 c5.xlarge",
        "dmi.bios_version": "1.0",
        "dmi.bios_date": "10/16/2017",
    }
    assert facts_from_hardware_line("Xen HVM domU, BIOS  ") == {"dmi.system": "Xen HVM domU"}
    assert facts_from_hardware_line("Xen HVM domU, BIOS") == {"dmi.system": "Xen HVM domU"}


def test_a_string_the_kernel_cut_short_loses_its_last_field() -> None:
    # dmi_format_ids() writes into 128 bytes: 127 characters, and the rest is gone.
    vendor = "Vendor " + "X" * 95
    cut = f"{vendor}/Board, BIOS 1.0 04/15/2024"[:127]
    assert cut.endswith("BIOS 1.0 04/15/20")  # a date as mm/dd/yy would be, but cut
    assert facts_from_hardware_line(cut) == {
        "dmi.system": vendor,
        "dmi.board_name": "Board",
        "dmi.bios_version": "1.0",
    }
    cut = f"{vendor}{'Y' * 20}/Board, BIOS 1.0 04/15/2024"[:127]
    assert facts_from_hardware_line(cut) == {"dmi.system": vendor + "Y" * 20}


@pytest.mark.parametrize(
    "text", ["linux,dummy-virt (DT)", "Memory slots populated: 2/2", "", "IBM,8247-22L POWER8E"]
)
def test_not_a_dmi_string(text: str) -> None:
    assert facts_from_hardware_line(text) == {}


@settings(max_examples=1500)
@given(
    st.text(max_size=300)
    | st.lists(
        st.sampled_from(["/", ", BIOS ", " ", "01/02/2003", "\x00", "\udcff", "x" * 70])
    ).map("".join)
)
def test_any_text_gives_only_valid_facts(text: str) -> None:
    facts = facts_from_hardware_line(text)
    assert facts_problem(facts) is None
    assert set(facts) <= KEYS


def test_bios_update_between_boots() -> None:
    first, _ = kernel_boot(
        "7.1.0",
        body=(f"DMI: {DELL}", "DMI: Memory slots populated: 24/24"),
        ending=("reboot: Restarting system",),
    )
    updated = DELL.replace("1.8.3 04/15/2024", "1.9.1 09/02/2024")
    second, _ = kernel_boot(
        "7.1.0",
        body=("DMI: Memory slots populated: 24/24", f"DMI: {updated}", "ok: DMI: quoted"),
    )
    third, _ = kernel_boot("7.1.2")
    # A boot without a DMI line: its oops names the hardware.
    oops = ("WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2", f"Hardware name: {updated}")
    fourth, _ = kernel_boot("7.1.2", body=oops)
    log = b"".join(console(lines) for lines in (first, second, third, fourth))
    boots = split_boots(ConsoleLog(log, "console"))
    assert [(b.facts.get("dmi.bios_version"), b.facts.get("dmi.bios_date")) for b in boots] == [
        ("1.8.3", "04/15/2024"),
        ("1.9.1", "09/02/2024"),
        (None, None),
        ("1.9.1", "09/02/2024"),
    ]
    assert boots[0].facts["dmi.system"] == "Dell Inc. PowerEdge R7625"
    assert boots[2].facts == {}


def test_a_dmi_line_wins_over_an_earlier_hardware_name() -> None:
    lines = ["Hardware name: Other Box/Other, BIOS 0.1 01/01/2001", f"DMI: {DELL}"]
    (boot,) = split_boots(ConsoleLog(console(lines), "console"))
    assert boot.facts["dmi.bios_version"] == "1.8.3"


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_garbage_dmi_lines_give_only_valid_facts(junk: bytes) -> None:
    log = b"[    0.000000] DMI: " + junk + b"\n<4>[    1.0] Hardware name: " + junk[::-1] + b"\n"
    for boot in split_boots(ConsoleLog(log, "console")):
        assert facts_problem(boot.facts) is None
        assert set(boot.facts) <= KEYS
