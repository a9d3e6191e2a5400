"""
kexec load
----------

Wraps kexec-tools' ``kexec -l`` so that the next kernel's command line carries
kexec-lineage's parameters: the chain then survives kernels without KHO, KHO
ABI changes, and the plain ``kexec_load`` path that KHO does not take. Our
words replace any stale ones; everything else in the command line and every
kexec-tools option is passed on unchanged. kexec runs directly, never through
a shell.

Only ``kexec_file_load`` carries KHO state (KHO adds its FDT to the image in
``kho_fill_kimage()``): after a plain ``kexec_load`` the next kernel looks
cold-booted to KHO and receives no kexec-metadata. So where the running kernel
has KHO on and the user did not choose a system call (``-s``, ``-c``, ``-a``),
the wrapper adds ``-s``; a user who forces ``-c`` is warned.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass

from kexec_lineage.abi.cmdline import replace_params, words_without
from kexec_lineage.errors import InputError
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.lineage import LineageParams

__all__ = ("KexecLoad", "build_load", "find_kexec", "run_load")

_CMDLINE_OPTIONS = ("--append", "--command-line")
_PANIC_OPTIONS = ("-p", "--load-panic")
_LOAD_OPTIONS = ("-l", "--load", *_PANIC_OPTIONS)
_FILE_LOAD_OPTIONS = ("-s", "--kexec-file-syscall")
_PLAIN_LOAD_OPTIONS = ("-c", "--kexec-syscall")
_SYSCALL_OPTIONS = (*_FILE_LOAD_OPTIONS, *_PLAIN_LOAD_OPTIONS, "-a", "--kexec-syscall-auto")
_REFUSED = ("-e", "--exec", "-u", "--unload", "-f", "--force", "-x", "--no-ifdown")
# kexec-tools options whose value may follow as the next argument.
_WITH_VALUE = ("-t", "--type", "--initrd", "--ramdisk", "--mem-min", "--mem-max", "--dtb")
# kexec-tools' short options (getopt "h?vdfixyluet:pscaS"); -t takes a value.
_SHORT = "h?vdfixyluetpscaS"
# Words kexec-tools itself drops from a reused /proc/cmdline.
_NOT_REUSED = ("BOOT_IMAGE=", "initrd=")


@dataclass(frozen=True, slots=True)
class KexecLoad:
    """A kexec-tools command line, ready to run."""

    argv: tuple[str, ...]
    image: str | None
    cmdline: str
    params: LineageParams
    file_load: bool
    #: why the wrapper chose the system call, where it chose it
    chose: str | None = None
    #: what the user's own choice costs, where it costs something
    warning: str | None = None

    def shell(self) -> str:
        """The command as one shell-quoted line (for ``--dry-run``)."""
        return shlex.join(self.argv)


def _reused(current: str | None, panic: bool) -> list[str]:
    drop = (*_NOT_REUSED, "crashkernel=") if panic else _NOT_REUSED
    return words_without(current or "", drop)


def build_load(
    args: list[str],
    boot: Boot,
    current_cmdline: str | None,
    kexec: str = "kexec",
    kho: tuple[bool, str] = (False, ""),
) -> KexecLoad:
    """The kexec-tools command that loads the next kernel as ``args`` ask, with our
    parameters for a kexec from ``boot``.

    Like kexec-tools, the last ``--append``/``--command-line`` wins, and
    ``--reuse-cmdline`` puts the current command line before it. ``kho`` says
    whether the running kernel has KHO on, and why
    (:func:`~kexec_lineage.host.kho_debugfs.kho_active`).

    :raises InputError: an option that does more than load, or a missing value.
    """
    passed: list[str] = []
    given: str | None = None
    reuse = False
    image = None
    rest = iter(_one_option_a_word(args))
    for arg in rest:
        name, eq, value = arg.partition("=")
        if arg in _REFUSED:
            raise InputError(f"'kexec load' only loads; run 'kexec {arg}' yourself")
        if name in _CMDLINE_OPTIONS:
            given = value if eq else next(rest, None)
            if given is None:
                raise InputError(f"{arg} needs a value")
        elif arg == "--reuse-cmdline":
            reuse = True
        else:
            passed.append(arg)
            if arg in _WITH_VALUE:
                passed.append(next(rest, ""))
            elif not arg.startswith("-"):
                image = arg
    panic = any(a in _PANIC_OPTIONS for a in passed)
    words = _reused(current_cmdline, panic) if reuse else []
    cmdline = " ".join([*words, *([given] if given else [])])
    params = LineageParams(boot.release, (boot.kexec_count + 1) & 0xFFFF_FFFF, boot.boot_id)
    new_cmdline = replace_params(cmdline, params)
    chose = warning = None
    kho_on, why = kho
    # As in kexec-tools, the last of -s, -c and -a decides.
    syscall = next((a for a in reversed(passed) if a in _SYSCALL_OPTIONS), None)
    if kho_on and not panic:  # a kdump kernel turns KHO off anyway
        if syscall is None:
            passed.insert(0, syscall := "-s")
            chose = f"kexec_file_load (-s): KHO is on ({why}), and only -s carries its state"
        elif syscall in _PLAIN_LOAD_OPTIONS:
            warning = (
                f"kexec_load (-c) with KHO on ({why}): the next kernel gets no KHO state and "
                "no kexec-metadata (our kexec_lineage.* parameters still carry the chain)"
            )
    if not any(a in _LOAD_OPTIONS for a in passed):
        passed.insert(0, "-l")
    return KexecLoad(
        (kexec, *passed, f"--command-line={new_cmdline}"),
        image,
        new_cmdline,
        params,
        syscall in _FILE_LOAD_OPTIONS,
        chose,
        warning,
    )


def _one_option_a_word(args: list[str]) -> list[str]:
    """``args`` with clusters of short options split, as getopt reads them:
    ``-lc`` is ``-l -c``, ``-tbzImage`` is ``-t bzImage``. A word with a letter
    kexec-tools does not know is left for kexec-tools to refuse."""
    out = []
    for arg in args:
        letters = arg[1:]
        if arg.startswith("-") and not arg.startswith("--") and len(letters) > 1:
            head, t, value = letters.partition("t")
            if all(c in _SHORT for c in head):
                out += [f"-{c}" for c in head] + (["-t", *([value] if value else [])] if t else [])
                continue
        out.append(arg)
    return out


def find_kexec() -> str:
    """:raises InputError: kexec-tools is not installed."""
    path = shutil.which("kexec")
    if path is None:
        raise InputError("kexec-tools is not installed (no 'kexec' on PATH)")
    return path


def run_load(load: KexecLoad) -> int:
    """Run kexec; its output goes straight to ours and its exit status is returned."""
    try:
        return subprocess.run(list(load.argv), check=False).returncode
    except OSError as exc:
        raise InputError(f"cannot run {load.argv[0]}: {exc.strerror}") from None
