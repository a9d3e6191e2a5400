"""struct kho_kexec_metadata: against C, the kernel's checks, and properties."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kexec_lineage.abi import kexec_metadata
from kexec_lineage.errors import (
    EncodeError,
    LineageError,
    MetadataError,
    MetadataTooSmall,
    MetadataTruncated,
    MetadataVersionError,
)
from kexec_lineage.model.handover import Handover
from kexec_lineage.model.text import printable, to_kernel
from tests.conftest import run, tool

# The struct as the ABI facts give it (include/linux/kho/abi/kexec_metadata.h),
# with a reader and a writer around it.
C_SOURCE = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define __NEW_UTS_LEN 64
struct kho_kexec_metadata {
    uint32_t version;
    char previous_release[__NEW_UTS_LEN + 1];
    uint32_t kexec_count;
} __attribute__((packed));

int main(int argc, char **argv)
{
    struct kho_kexec_metadata m;
    if (argc == 2 && !strcmp(argv[1], "layout")) {
        printf("%zu %zu %zu %zu\n", sizeof(m),
               offsetof(struct kho_kexec_metadata, version),
               offsetof(struct kho_kexec_metadata, previous_release),
               offsetof(struct kho_kexec_metadata, kexec_count));
        return 0;
    }
    if (argc == 6 && !strcmp(argv[1], "write")) {
        FILE *f = fopen(argv[2], "wb");
        memset(&m, 0, sizeof(m));
        m.version = strtoul(argv[3], NULL, 0);
        /* what strscpy() keeps: at most 64 bytes, always terminated */
        strncpy(m.previous_release, argv[4], __NEW_UTS_LEN);
        m.kexec_count = strtoul(argv[5], NULL, 0);
        fwrite(&m, sizeof(m), 1, f);
        return fclose(f) != 0;
    }
    if (argc == 3 && !strcmp(argv[1], "read")) {
        FILE *f = fopen(argv[2], "rb");
        if (fread(&m, sizeof(m), 1, f) != 1)
            return 1;
        m.previous_release[__NEW_UTS_LEN] = 0;
        printf("%u|%s|%u\n", m.version, m.previous_release, m.kexec_count);
        return 0;
    }
    return 2;
}
"""

RELEASES = [
    "6.19.0-rc4-next-20260107",
    "7.1.0",
    "",
    "6.12.95+deb12-cloud-amd64",
    "x" * 64,
]


@pytest.fixture(scope="module")
def c_struct(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("c")
    (d / "meta.c").write_text(C_SOURCE)
    run(tool("gcc"), "-Wall", "-Werror", "-O2", "-o", d / "meta", d / "meta.c")
    return d / "meta"


def test_c_layout(c_struct: Path) -> None:
    assert run(c_struct, "layout").split() == ["73", "0", "4", "69"]
    assert kexec_metadata.METADATA_SIZE == 73


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("count", [0, 1, 3, 0xFFFF_FFFF])
def test_c_writes_we_decode(c_struct: Path, tmp_path: Path, release: str, count: int) -> None:
    blob_path = tmp_path / "blob"
    run(c_struct, "write", blob_path, "1", release, str(count))
    blob = blob_path.read_bytes()
    assert kexec_metadata.decode(blob) == Handover(release, count)
    assert kexec_metadata.encode(Handover(release, count)) == blob


@pytest.mark.parametrize("release", RELEASES)
def test_we_write_c_reads(c_struct: Path, tmp_path: Path, release: str) -> None:
    blob_path = tmp_path / "blob"
    blob_path.write_bytes(kexec_metadata.encode(Handover(release, 42)))
    assert run(c_struct, "read", blob_path) == f"1|{release}|42\n"


def test_kernel_line() -> None:
    handover = Handover("6.19.0-rc4-next-20260107", 1)
    assert handover.kernel_line == "KHO: exec from: 6.19.0-rc4-next-20260107 (count 1)"


def blob(version: int = 1, release: bytes = b"7.1.0", count: int = 5, order: str = "<") -> bytes:
    return struct.pack(f"{order}I65sI", version, release, count)


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", MetadataTooSmall, "kexec-metadata blob too small (0 bytes)"),
        (b"\x01\x00\x00", MetadataTooSmall, "kexec-metadata blob too small (3 bytes)"),
        (
            blob(version=2),
            MetadataVersionError,
            "kexec-metadata version 2 not supported (expected 1)",
        ),
        (
            blob(version=0)[:4],
            MetadataVersionError,
            "kexec-metadata version 0 not supported (expected 1)",
        ),
        (blob()[:4], MetadataTruncated, "kexec-metadata blob too small for v1 (4 < 73)"),
        (blob()[:72], MetadataTruncated, "kexec-metadata blob too small for v1 (72 < 73)"),
    ],
)
def test_kernel_checks_in_order(data: bytes, error: type[MetadataError], message: str) -> None:
    with pytest.raises(error) as info:
        kexec_metadata.decode(data)
    assert str(info.value) == message
    assert type(info.value) is error


def test_longer_blob_accepted_extra_ignored() -> None:
    # A whole preserved page, as kho_alloc_preserve() leaves it.
    page = blob() + b"\xff" * (4096 - 73)
    assert kexec_metadata.decode(page) == Handover("7.1.0", 5)


def test_release_without_nul_is_cut_like_strscpy() -> None:
    handover = kexec_metadata.decode(blob(release=b"a" * 65))
    assert handover.previous_release == "a" * 64


def test_bytes_after_nul_ignored() -> None:
    assert kexec_metadata.decode(blob(release=b"7.1.0\0garbage")).previous_release == "7.1.0"


def test_invalid_utf8_kept_and_escaped() -> None:
    handover = kexec_metadata.decode(blob(release=b"7.1.0-\xff\xfe"))
    assert to_kernel(handover.previous_release) == b"7.1.0-\xff\xfe"
    assert printable(handover.previous_release) == "7.1.0-\\xff\\xfe"
    assert handover.kernel_line == "KHO: exec from: 7.1.0-\\xff\\xfe (count 5)"
    assert kexec_metadata.encode(handover) == blob(release=b"7.1.0-\xff\xfe")


def test_explicit_byte_order() -> None:
    big = blob(order=">")
    assert kexec_metadata.decode(big, "big") == Handover("7.1.0", 5)
    with pytest.raises(MetadataVersionError, match="version 16777216"):
        kexec_metadata.decode(big, "little")
    assert kexec_metadata.encode(Handover("7.1.0", 5), "big") == big


@pytest.mark.parametrize(
    ("handover", "message"),
    [
        (Handover("x" * 65, 1), "release is 65 bytes; the ABI holds at most 64"),
        (Handover("a\0b", 1), "release must not contain a NUL byte"),
        (Handover("7.1.0", -1), "kexec_count -1 does not fit in a u32"),
        (Handover("7.1.0", 1 << 32), "kexec_count 4294967296 does not fit in a u32"),
        (Handover("7.1.0", 1, version=1 << 32), "version 4294967296 does not fit in a u32"),
    ],
)
def test_encode_rejects_what_no_kernel_writes(handover: Handover, message: str) -> None:
    with pytest.raises(EncodeError) as info:
        kexec_metadata.encode(handover)
    assert str(info.value) == message


releases = st.binary(max_size=64).filter(lambda b: b"\0" not in b)
counts = st.integers(0, 0xFFFF_FFFF)
orders = st.sampled_from(["little", "big"])


@given(release=releases, count=counts, order=orders)
@example(release=b"", count=0, order="little")
@example(release=b"\xff" * 64, count=0xFFFF_FFFF, order="big")
def test_round_trip_every_field(release: bytes, count: int, order: str) -> None:
    handover = Handover(release.decode("utf-8", "surrogateescape"), count)
    data = kexec_metadata.encode(handover, order)  # type: ignore[arg-type]
    assert len(data) == 73
    assert kexec_metadata.decode(data, order) == handover  # type: ignore[arg-type]
    assert kexec_metadata.encode(kexec_metadata.decode(data, order), order) == data  # type: ignore[arg-type]


@given(version=st.integers(0, 0xFFFF_FFFF), order=orders)
def test_version_field_whole_range(version: int, order: str) -> None:
    data = kexec_metadata.encode(Handover("7.1.0", 1, version), order)  # type: ignore[arg-type]
    if version == 1:
        assert kexec_metadata.decode(data, order).version == 1  # type: ignore[arg-type]
    else:
        with pytest.raises(MetadataVersionError):
            kexec_metadata.decode(data, order)  # type: ignore[arg-type]


@settings(max_examples=3000)
@given(data=st.binary(max_size=200), order=orders)
def test_random_blobs_give_only_typed_errors(data: bytes, order: str) -> None:
    try:
        handover = kexec_metadata.decode(data, order)  # type: ignore[arg-type]
    except MetadataError:
        return
    assert len(data) >= 73
    assert len(to_kernel(handover.previous_release)) <= 64


@settings(max_examples=3000)
@given(
    base=st.builds(blob, release=releases.map(lambda b: b + b"\0"), count=counts),
    flips=st.lists(st.tuples(st.integers(0, 72), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 80),
)
def test_mutated_blobs_give_only_typed_errors(
    base: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(base)
    for offset, value in flips:
        data[offset] = value
    with contextlib.suppress(LineageError):
        kexec_metadata.decode(bytes(data[:cut]))
