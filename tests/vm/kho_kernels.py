"""Linux 7.x kernels with Kexec HandOver, built from Debian's source packages once per machine.

No Debian kernel has ``CONFIG_KEXEC_HANDOVER``, so the KHO tests build their own: the newest
``linux-source-7.*`` of each of the two newest series the private apt offers (trixie-backports,
sid and experimental; today 7.2 and 7.3), configured as ``make tinyconfig`` plus
``kho-kernel.config``. Beside them goes Debian's prebuilt 7.x cloud kernel, a real kernel of
the same era without KHO.

A build costs minutes, so it is paid once per machine: images are cached under
``$KEXEC_LINEAGE_CACHE`` (default ``/var/cache/kexec-lineage``), outside every clone, keyed
by the source package's version and a hash of the configuration, the build recipe and the
compiler. Each build runs in a scratch directory and only its finished result is renamed
into place, so a killed build leaves nothing a later run could take for an image; a lock
keeps two test runs from building the same kernel at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.vm.kernels import Kernel, KernelFetchError, PrivateApt, debian_kernel, newest

CACHE = Path(os.environ.get("KEXEC_LINEAGE_CACHE", "/var/cache/kexec-lineage"))
FRAGMENT = Path(__file__).with_name("kho-kernel.config")
# sid and experimental as this mirror serves them carry Release files past their
# Valid-Until (seen: 25 days); their signatures are still checked against the keyring.
SOURCES = (
    ("debian", "trixie-backports", ""),
    ("debian", "sid", "check-valid-until=no"),
    ("debian", "experimental", "check-valid-until=no"),
)
SERIES_WANTED = 2
# Part of the cache key: a change to how kernels are built makes new ones.
RECIPE = "tinyconfig + merge_config.sh -m + olddefconfig; make bzImage; v1"
# Fixed build identity, so the key's inputs alone decide the image.
BUILD_ENV = {
    "KBUILD_BUILD_USER": "kexec-lineage",
    "KBUILD_BUILD_HOST": "cache",
    "KBUILD_BUILD_TIMESTAMP": "2026-01-01",
}
PROGRESS_EVERY = 30.0

Say = Callable[[str], None]


class KernelBuildError(Exception):
    """Configuring or building a kernel failed: the message carries make's own words."""


@dataclass(frozen=True)
class KhoKernel:
    """A kernel built with KHO, as the cache holds it."""

    directory: Path
    release: str
    source: str
    kho_compatible: str
    build_seconds: float

    @property
    def kernel(self) -> Kernel:
        return Kernel(self.release, self.directory / "bzImage")

    @classmethod
    def load(cls, directory: Path) -> KhoKernel:
        meta = json.loads((directory / "meta.json").read_text())
        return cls(
            directory, meta["release"], meta["source"], meta["kho_compatible"], meta["seconds"]
        )


def kho_kernels(say: Say) -> tuple[list[KhoKernel], Kernel]:
    """The KHO kernels, oldest series first, and Debian's newest 7.x cloud kernel."""
    apt = PrivateApt(CACHE / "apt", SOURCES)
    apt.update()
    built = [build(apt, package, version, say) for package, version in newest_sources(apt)]
    return built, debian_7x(apt)


def newest_sources(apt: PrivateApt) -> list[tuple[str, str]]:
    """``(package, version)``: the newest version of each of the newest ``linux-source-7.*``."""
    found = []
    for package in apt.packages(r"linux-source-7\.\d+"):
        versions = [(stanza["Version"], package) for stanza in apt.show(package)]
        if versions:
            found.append((package, newest(versions)[0]))
    found.sort(key=lambda pv: tuple(int(n) for n in pv[0].rpartition("-")[2].split(".")))
    if len(found) < SERIES_WANTED:
        raise KernelFetchError(
            f"the private apt ({', '.join(s for _, s, _ in SOURCES)}) offers "
            f"{len(found)} linux-source-7.* series, {SERIES_WANTED} are needed: {found}"
        )
    return found[-SERIES_WANTED:]


def debian_7x(apt: PrivateApt) -> Kernel:
    """The image the newest ``linux-image-cloud-amd64`` of a 7.x series depends on."""
    images = [
        (stanza["Version"], match.group(0))
        for stanza in apt.show("linux-image-cloud-amd64")
        if (match := re.search(r"\blinux-image-7\.[^\s,(]+", stanza.get("Depends", "")))
    ]
    if not images:
        raise KernelFetchError("no linux-image-cloud-amd64 of a 7.x series")
    return debian_kernel(apt, newest(images)[1], CACHE / "debs", CACHE / "kernels" / "debian")


def cache_key(package: str, version: str) -> str:
    """``<package>_<version>-<hash of fragment, recipe and compiler>``."""
    digest = hashlib.sha256()
    for part in (FRAGMENT.read_bytes(), RECIPE.encode(), _compiler().encode()):
        digest.update(hashlib.sha256(part).digest())
    return f"{package}_{version.replace(':', '%3a')}-{digest.hexdigest()[:16]}"


def _compiler() -> str:
    return subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True).stdout


def build(apt: PrivateApt, package: str, version: str, say: Say) -> KhoKernel:
    """The cached kernel of ``package`` at ``version``, built first if it is not there."""
    kernels = CACHE / "kernels" / "kho"
    final = kernels / cache_key(package, version)
    start = time.monotonic()
    if (final / "meta.json").is_file():
        return KhoKernel.load(final)
    kernels.mkdir(parents=True, exist_ok=True)
    with _locked(kernels / ".lock"):
        if (final / "meta.json").is_file():  # built by another run while we waited
            return KhoKernel.load(final)
        deb = _download(apt, package, version, say)
        scratch = kernels / f".{final.name}.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        try:
            tree = _unpack(deb, scratch, say)
            _configure(tree)
            _make(tree, package, say)
            result = scratch / "result"
            result.mkdir()
            shutil.copy2(tree / "arch/x86/boot/bzImage", result / "bzImage")
            shutil.copy2(tree / ".config", result / "config")
            meta = {
                "release": _kernel_release(tree),
                "source": f"{package} {version}",
                "kho_compatible": kho_compatible(tree / "include/linux/kho/abi"),
                "seconds": round(time.monotonic() - start, 1),
            }
            (result / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
            result.rename(final)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return KhoKernel.load(final)


def _download(apt: PrivateApt, package: str, version: str, say: Say) -> Path:
    start = time.monotonic()
    say(f"fetching {package} {version} (about 165 MB, unless downloaded before)")
    deb = apt.cached_download(f"{package}={version}", CACHE / "debs")
    say(f"have {deb.name} ({deb.stat().st_size >> 20} MiB) after {time.monotonic() - start:.0f} s")
    return deb


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _unpack(deb: Path, scratch: Path, say: Say) -> Path:
    """The source tree of a ``linux-source-7.X`` package, unpacked under ``scratch``."""
    start = time.monotonic()
    say(f"unpacking {deb.name}")
    _checked(["dpkg-deb", "-x", str(deb), str(scratch / "deb")], "dpkg-deb -x")
    (tarball,) = (scratch / "deb/usr/src").glob("linux-source-*.tar.xz")
    _checked(["tar", "-xf", str(tarball), "-C", str(scratch)], "tar -x")
    shutil.rmtree(scratch / "deb")
    say(f"unpacked {tarball.name} in {time.monotonic() - start:.0f} s")
    return scratch / tarball.name.removesuffix(".tar.xz")


def _configure(tree: Path) -> None:
    """tinyconfig + the fragment; every option the fragment asks for must survive."""
    _make_quiet(tree, "tinyconfig")
    _checked(
        ["scripts/kconfig/merge_config.sh", "-m", ".config", str(FRAGMENT)],
        "merge_config.sh",
        cwd=tree,
    )
    _make_quiet(tree, "olddefconfig")
    final = set((tree / ".config").read_text().splitlines())
    lost = []
    for line in FRAGMENT.read_text().splitlines():
        if line.startswith("CONFIG_") and line not in final:
            lost.append(line)  # dropped for a missing dependency
        elif match := re.fullmatch(r"# (CONFIG_\w+) is not set", line):
            lost += [f"{match[1]}={v}" for v in "ym" if f"{match[1]}={v}" in final]
    if lost:
        raise KernelBuildError(
            "olddefconfig did not keep kho-kernel.config (a dependency missing, or selected "
            "by another option): " + ", ".join(lost)
        )


def _make_quiet(tree: Path, target: str) -> None:
    _checked(["make", "-s", target], f"make {target}", cwd=tree)


def _make(tree: Path, package: str, say: Say) -> None:
    """``make bzImage`` on every core, saying every half minute how far it got."""
    argv = ["make", f"-j{os.cpu_count() or 1}", "bzImage"]
    start = last = time.monotonic()
    compiled = 0
    tail: list[str] = []
    say(f"building {package}: {' '.join(argv)}")
    with subprocess.Popen(
        argv,
        cwd=tree,
        env={**os.environ, **BUILD_ENV, "LC_ALL": "C"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = [*tail[-39:], line.rstrip("\n")]
            compiled += line.startswith("  CC ")
            if (now := time.monotonic()) - last >= PROGRESS_EVERY:
                last = now
                say(f"building {package}: {compiled} files compiled, {_minutes(now - start)}")
    if proc.returncode != 0:
        raise KernelBuildError(
            f"{' '.join(argv)} in {tree} exited {proc.returncode}:\n" + "\n".join(tail)
        )
    say(f"built {package}: {compiled} files in {_minutes(time.monotonic() - start)}")


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def _kernel_release(tree: Path) -> str:
    return _checked(["make", "-s", "kernelrelease"], "make kernelrelease", cwd=tree).strip()


def _checked(argv: list[str], what: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise KernelBuildError(f"{what} exited {proc.returncode}:\n{proc.stderr or proc.stdout}")
    return proc.stdout


_DEFINE = re.compile(r"^#define\s+(\w+)\s+(.+?)\s*$", re.MULTILINE)
_TOKEN = re.compile(r'"([^"]*)"|KHO_SUB_COMPAT\((\w+)\)|(\w+)')


def kho_compatible(abi: Path) -> str:
    """``KHO_FDT_COMPATIBLE`` as the kernel's ABI headers define it.

    Plain (``"kho-v4"``) or composite: ``KHO_FDT_COMPAT_BASE KHO_SUB_COMPAT(X) ...``, where
    ``KHO_SUB_COMPAT(str)`` is ``";" str`` (the RFC's ``compat.h``). C string pasting is all
    these macros do, so a small expander does; a C preprocessor would need the whole
    kernel's include path.
    """
    defines = {
        name: value
        for header in sorted(abi.glob("*.h"))
        for name, value in _DEFINE.findall(header.read_text().replace("\\\n", " "))
    }

    def expand(name: str, depth: int = 0) -> str:
        if name not in defines or depth > 8:
            raise KernelBuildError(f"{abi}: cannot expand {name}")
        out = []
        for literal, sub, macro in _TOKEN.findall(defines[name]):
            if sub:
                out.append(";" + expand(sub, depth + 1))
            elif macro:
                out.append(expand(macro, depth + 1))
            else:
                out.append(literal)
        return "".join(out)

    return expand("KHO_FDT_COMPATIBLE")
