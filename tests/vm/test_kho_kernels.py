"""The KHO kernel builder's own failure paths and parsers, without building a kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vm.kho_kernels import KernelBuildError, _make, kho_compatible


def test_a_failed_make_fails_with_makes_own_words(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text(
        "bzImage:\n\t@echo '  CC      init/main.o'\n\t@echo 'init/main.c:1: error: boom' >&2\n"
        "\t@false\n"
    )
    said: list[str] = []
    with pytest.raises(KernelBuildError) as info:
        _make(tmp_path, "linux-source-7.9", said.append)
    message = str(info.value)
    assert message.startswith("make -j") and "bzImage in " in message
    assert "init/main.c:1: error: boom" in message
    assert "Error 1" in message  # make's own line
    assert said == [f"building linux-source-7.9: {message.split(' in ', maxsplit=1)[0]}"]


@pytest.mark.parametrize(
    ("headers", "compatible"),
    [
        ({"kexec_handover.h": '#define KHO_FDT_COMPATIBLE "kho-v4"\n'}, "kho-v4"),
        (
            {
                "kexec_handover.h": (
                    '#define KHO_FDT_COMPAT_BASE "kho-v4"\n'
                    "#define KHO_FDT_COMPATIBLE KHO_FDT_COMPAT_BASE \\\n"
                    "\tKHO_SUB_COMPAT(KHO_RADIX_COMPATIBLE)"
                    " KHO_SUB_COMPAT(KHO_VMALLOC_COMPATIBLE)\n"
                ),
                "radix.h": '#define KHO_RADIX_COMPATIBLE "radix-v1"\n',
                "vmalloc.h": '#define KHO_VMALLOC_COMPATIBLE "vmalloc-v1"\n',
            },
            "kho-v4;radix-v1;vmalloc-v1",
        ),
        (
            {"kexec_handover.h": "#define KHO_FDT_COMPATIBLE KHO_FDT_COMPAT_BASE\n"},
            None,
        ),
    ],
    ids=["plain", "composite", "undefined"],
)
def test_kho_compatible_from_the_abi_headers(
    tmp_path: Path, headers: dict[str, str], compatible: str | None
) -> None:
    for name, text in headers.items():
        (tmp_path / name).write_text(text)
    if compatible is None:  # refused, not guessed
        with pytest.raises(KernelBuildError, match="cannot expand"):
            kho_compatible(tmp_path)
    else:
        assert kho_compatible(tmp_path) == compatible
