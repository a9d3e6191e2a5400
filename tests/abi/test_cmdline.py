"""kexec-lineage's command-line parameters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kexec_lineage.abi.cmdline import (
    format_params,
    kho_param,
    parse_params,
    replace_params,
    split_cmdline,
)
from kexec_lineage.errors import EncodeError
from kexec_lineage.model.lineage import LineageParams

BOOT = "0f5b6c1e-3a9d-4c1b-9e58-6f2d0b7a1c44"


def test_split_like_next_arg() -> None:
    assert split_cmdline('root=/dev/vda1 dyndbg="file x.c +p" quiet  ') == [
        "root=/dev/vda1",
        "dyndbg=file x.c +p",
        "quiet",
    ]


def test_parse_with_kdump_words_after() -> None:
    line = (
        f"BOOT_IMAGE=/vmlinuz root=/dev/sda1 kexec_lineage.prev=6.18.3 kexec_lineage.count=3 "
        f"kexec_lineage.boot={BOOT} irqpoll nr_cpus=1 elfcorehdr=0x7f000000"
    )
    assert parse_params(line) == LineageParams("6.18.3", 3, BOOT)


def test_last_occurrence_wins_and_absent() -> None:
    assert parse_params("kexec_lineage.count=1 kexec_lineage.count=2").count == 2
    assert not parse_params("quiet lineage.prev=6.1 lineage.count=1").present


@pytest.mark.parametrize(
    ("word", "problem"),
    [
        ("kexec_lineage.count=-1", "kexec_lineage.count='-1' is not a u32"),
        ("kexec_lineage.count=4294967296", "kexec_lineage.count='4294967296' is not a u32"),
        ("kexec_lineage.count=\u0661", "kexec_lineage.count='\u0661' is not a u32"),
        ("kexec_lineage.boot=nope", "kexec_lineage.boot='nope' is not a boot id"),
        ("kexec_lineage.prev=", "kexec_lineage.prev='' is not a kernel release"),
    ],
)
def test_bad_values_are_dropped_with_a_reason(word: str, problem: str) -> None:
    params = parse_params(f"quiet {word}")
    assert not params.present
    assert params.problems == (problem,)


def test_replace_drops_stale_and_keeps_the_rest() -> None:
    old = f'console=ttyS0 kexec_lineage.prev=6.1 dyndbg="a b" kexec_lineage.boot={BOOT} quiet'
    new = replace_params(old, LineageParams("6.18.3", 4, BOOT))
    assert new == (
        f'console=ttyS0 dyndbg="a b" quiet kexec_lineage.prev=6.18.3 kexec_lineage.count=4 '
        f"kexec_lineage.boot={BOOT}"
    )


@pytest.mark.parametrize(
    "params",
    [LineageParams("has space", 1), LineageParams(None, 1 << 32), LineageParams(None, 1, "x")],
)
def test_format_rejects(params: LineageParams) -> None:
    with pytest.raises(EncodeError):
        format_params(params)


releases = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"'),
    min_size=1,
    max_size=64,
)


@given(
    prev=releases,
    count=st.integers(0, 0xFFFF_FFFF),
    boot=st.uuids().map(str),
    other=st.lists(
        st.text(
            st.characters(min_codepoint=33, max_codepoint=126).filter(lambda c: c != '"'),
            min_size=1,
        ),
        max_size=5,
    ),
)
def test_round_trip(prev: str, count: int, boot: str, other: list[str]) -> None:
    params = LineageParams(prev, count, boot)
    cmdline = replace_params(" ".join(other), params)
    assert parse_params(cmdline) == params


@given(st.text())
def test_any_text_parses(text: str) -> None:
    params = parse_params(text)
    if params.present:
        assert format_params(params)


@pytest.mark.parametrize(
    ("cmdline", "enabled"),
    [
        ("quiet", None),
        ("kho", None),  # no value: the kernel's handler gets NULL and changes nothing
        ("kho=on", True),
        ("kho=ON kho_scratch=30%", True),
        ("kho=1", True),
        ("kho=yes", True),
        ("kho=Enable", True),
        ("kho=true", True),
        ("kho=off", False),
        ("kho=0", False),
        ("kho=no", False),
        ("kho=disable", False),
        ("kho=false", False),
        ("kho=on kho=off", False),  # the last one wins
        ("kho=off kho=maybe", False),  # ... of those that are booleans
        ("kho=o", None),
        ('"kho=on"', True),
        ("kho_bootmem=64M", None),
    ],
)
def test_kho_param_reads_like_kstrtobool(cmdline: str, enabled: bool | None) -> None:
    assert kho_param(cmdline) is enabled


@given(st.text())
def test_kho_param_of_any_text(cmdline: str) -> None:
    assert kho_param(cmdline) in (None, True, False)
