"""
Kernel command line
-------------------

kexec-lineage's own parameters, which ``kexec-lineage kexec load`` puts on the
next kernel's command line so that the chain survives kernels without KHO and
KHO ABI changes::

    kexec_lineage.prev=<release>    the release that ran the kexec
    kexec_lineage.count=<n>         kexecs since the last cold boot (u32)
    kexec_lineage.boot=<boot_id>    /proc/sys/kernel/random/boot_id of that boot

The kernel passes parameters with a dot in their name to no one: it keeps them
in ``/proc/cmdline`` and does not hand them to init as arguments or
environment. Words are split as the kernel's ``next_arg()`` splits them
(``lib/cmdline.c``): on spaces, except inside double quotes, which are removed.
``shlex`` treats quotes and backslashes differently, hence the small tokenizer.
"""

from __future__ import annotations

import re

from kexec_lineage.errors import EncodeError
from kexec_lineage.model.lineage import LineageParams

__all__ = (
    "BOOT_PARAM",
    "COUNT_PARAM",
    "PREFIX",
    "PREV_PARAM",
    "format_params",
    "kho_param",
    "parse_params",
    "raw_words",
    "replace_params",
    "split_cmdline",
    "words_without",
)

PREFIX = "kexec_lineage."
PREV_PARAM = PREFIX + "prev"
COUNT_PARAM = PREFIX + "count"
BOOT_PARAM = PREFIX + "boot"

_WORD_RE = re.compile(r'(?:"[^"]*"?|[^\s"]+)+')
_BOOT_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_RELEASE_RE = re.compile(r"[!#-~]{1,64}")  # printable ASCII but space and quote
_U32_MAX = 0xFFFF_FFFF


def raw_words(cmdline: str) -> list[str]:
    """Words of ``cmdline`` as the kernel splits them, quotes kept."""
    return list(_WORD_RE.findall(cmdline))


def words_without(cmdline: str, prefixes: str | tuple[str, ...]) -> list[str]:
    """The raw words of ``cmdline`` but those that start, quotes removed, with one
    of ``prefixes``: what to keep of a command line handed on."""
    return [word for word in raw_words(cmdline) if not word.replace('"', "").startswith(prefixes)]


def split_cmdline(cmdline: str) -> list[str]:
    """Words of ``cmdline`` as the kernel splits them, quotes removed."""
    return [word.replace('"', "") for word in raw_words(cmdline)]


def parse_params(cmdline: str) -> LineageParams:
    """Our parameters on ``cmdline``; the last occurrence of each wins, as in the kernel."""
    values: dict[str, str] = {}
    for word in split_cmdline(cmdline):
        name, sep, value = word.partition("=")
        if sep and name in (PREV_PARAM, COUNT_PARAM, BOOT_PARAM):
            values[name] = value
    problems = []
    prev = values.get(PREV_PARAM)
    if prev is not None and not _RELEASE_RE.fullmatch(prev):
        problems.append(f"{PREV_PARAM}={prev!r} is not a kernel release")
        prev = None
    count = None
    if (raw := values.get(COUNT_PARAM)) is not None:
        if raw.isascii() and raw.isdecimal() and int(raw) <= _U32_MAX:
            count = int(raw)
        else:
            problems.append(f"{COUNT_PARAM}={raw!r} is not a u32")
    boot = values.get(BOOT_PARAM)
    if boot is not None and not _BOOT_ID_RE.fullmatch(boot):
        problems.append(f"{BOOT_PARAM}={boot!r} is not a boot id")
        boot = None
    return LineageParams(prev, count, boot, tuple(problems))


def kho_param(cmdline: str) -> bool | None:
    """What ``kho=`` says (``None``: absent or not a boolean), read as the
    kernel's ``kstrtobool()`` reads it. The last valid one wins: the kernel
    calls the handler for each, and one that is no boolean changes nothing.
    Words after ``--`` are init's, not the kernel's."""
    enabled = None
    for word in split_cmdline(cmdline):
        if word == "--":
            break
        name, sep, value = word.partition("=")
        if name == "kho" and sep and (parsed := _kstrtobool(value)) is not None:
            enabled = parsed
    return enabled


def _kstrtobool(value: str) -> bool | None:
    first, second = value[:1].lower(), value[1:2].lower()
    if first in ("e", "y", "t", "1") or (first, second) == ("o", "n"):
        return True
    if first in ("d", "n", "f", "0") or (first, second) == ("o", "f"):
        return False
    return None


def format_params(params: LineageParams) -> list[str]:
    """The words that carry ``params`` to the next kernel.

    :raises EncodeError: a value the parser would reject.
    """
    words = []
    if params.prev is not None:
        if not _RELEASE_RE.fullmatch(params.prev):
            raise EncodeError(f"release {params.prev!r} cannot go on a command line")
        words.append(f"{PREV_PARAM}={params.prev}")
    if params.count is not None:
        if not 0 <= params.count <= _U32_MAX:
            raise EncodeError(f"count {params.count} does not fit in a u32")
        words.append(f"{COUNT_PARAM}={params.count}")
    if params.boot is not None:
        if not _BOOT_ID_RE.fullmatch(params.boot):
            raise EncodeError(f"boot id {params.boot!r} is not a boot id")
        words.append(f"{BOOT_PARAM}={params.boot}")
    return words


def replace_params(cmdline: str, params: LineageParams) -> str:
    """``cmdline`` with every word of ours dropped and ``params`` appended.

    Other words keep their order and quoting.
    """
    return " ".join([*words_without(cmdline, PREFIX), *format_params(params)])
