"""Debian kernels for the VM tests, fetched without touching the host's apt setup.

The chain test needs two real releases (6.1 from bookworm, 6.12 from bookworm-backports) so
that "previous release" really differs from "this release"; the KHO tests add Debian's
prebuilt 7.x cloud kernel, a real kernel without KHO (see kho_kernels.py). Packages are
downloaded with a private apt configuration (its own sources, lists and cache) and only
unpacked, never installed, so the host's boot loader and initramfs hooks never run. The 6.x
choice is written to ``build/vm/kernels/selected.json``; once both are unpacked a later run
touches neither apt nor the network, the way drgn's vmtest treats its kernels as immutable
assets.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cmp_to_key
from pathlib import Path

from tests.vm import BUILD

# The two kernel series the 6.x chain hops between: bookworm's own and the backported one.
SERIES = ("6.1", "6.12")
METAPACKAGE = "linux-image-cloud-amd64"
MIRROR = "http://deb.debian.org"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# (archive, suite, extra source options) of the 6.x kernels.
BOOKWORM = (
    ("debian", "bookworm", ""),
    ("debian-security", "bookworm-security", ""),
    ("debian", "bookworm-backports", ""),
)
# Backoff before each retry of a network step; the last failure is reported as it is.
RETRY_DELAYS = (2.0, 5.0, 15.0)


class KernelFetchError(Exception):
    """apt could not supply the kernels: the message carries apt's own error."""


@dataclass(frozen=True)
class Kernel:
    """One kernel the guest can boot: its image and, if it has any, its modules.

    Debian's 6.x packages keep the image at ``boot/vmlinuz-<release>``, its 7.x packages
    at ``usr/lib/modules/<release>/vmlinuz``; a kernel built without modules has none.
    """

    release: str
    vmlinuz: Path
    modules: Path | None = None

    @classmethod
    def unpacked(cls, release: str, root: Path) -> Kernel:
        """The kernel of Debian packages unpacked at ``root``."""
        for image, modules in (
            (root / "boot" / f"vmlinuz-{release}", root / "lib" / "modules" / release),
            (root / "usr/lib/modules" / release / "vmlinuz", root / "usr/lib/modules" / release),
        ):
            if image.is_file():
                return cls(release, image, modules if modules.is_dir() else None)
        return cls(release, root / "boot" / f"vmlinuz-{release}")


def fetch_kernels() -> tuple[Kernel, ...]:
    """The newest cloud kernel of each of ``SERIES``, downloading only what is not cached."""
    kernels_dir = BUILD / "kernels"
    selected = kernels_dir / "selected.json"
    if selected.exists():
        cached = tuple(
            Kernel.unpacked(r, kernels_dir / r) for r in json.loads(selected.read_text())
        )
        if all(k.vmlinuz.is_file() for k in cached):
            return cached
    apt = PrivateApt(BUILD / "apt", BOOKWORM)
    apt.update()
    kernels = [
        debian_kernel(apt, package, BUILD / "debs", kernels_dir)
        for package in newest_images(apt.show(METAPACKAGE), SERIES)
    ]
    selected.write_text(json.dumps([k.release for k in kernels]))
    return tuple(kernels)


def debian_kernel(apt: PrivateApt, image: str, debs: Path, kernels_dir: Path) -> Kernel:
    """``linux-image-<release>`` unpacked under ``kernels_dir/<release>``.

    Since 7.x the image package is empty and depends on ``linux-binary-<release>`` (the
    image), ``linux-modules-<release>`` and ``linux-base-<release>`` (config,
    ``modules.builtin``): those are unpacked with it.
    """
    release = image.removeprefix("linux-image-")
    kernel = Kernel.unpacked(release, kernels_dir / release)
    if kernel.vmlinuz.is_file():
        return kernel
    (stanza,) = apt.show(image)[:1] or [{}]
    parts = re.findall(
        rf"\blinux-(?:binary|modules|base)-{re.escape(release)}\b", stanza.get("Depends", "")
    )
    packages = [image, *dict.fromkeys(parts)]
    files = [apt.cached_download(package, debs) for package in packages]
    return _unpack(files, release, kernels_dir)


def newest_images(stanzas: list[dict[str, str]], series: Iterable[str]) -> list[str]:
    """For each series, the image package the newest metapackage version depends on."""
    by_series: dict[str, list[tuple[str, str]]] = {}
    for stanza in stanzas:
        match = re.search(r"\blinux-image-((\d+\.\d+)[^\s,(]*)", stanza.get("Depends", ""))
        if match:
            by_series.setdefault(match.group(2), []).append((stanza["Version"], match.group(0)))
    images = []
    for wanted in series:
        if wanted not in by_series:
            raise KernelFetchError(f"no {METAPACKAGE} version depends on a {wanted} image")
        images.append(newest(by_series[wanted])[1])
    return images


def newest(versioned: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """The ``(version, name)`` with the highest Debian version."""
    return max(versioned, key=cmp_to_key(_compare_debian_versions))


def _compare_debian_versions(a: tuple[str, str], b: tuple[str, str]) -> int:
    """dpkg's own ordering, since Debian versions (``~bpo12``, epochs) defeat string order."""
    if a[0] == b[0]:
        return 0
    later = subprocess.run(["dpkg", "--compare-versions", a[0], "gt", b[0]], check=False)
    return 1 if later.returncode == 0 else -1


def _unpack(debs: list[Path], release: str, kernels_dir: Path) -> Kernel:
    """``dpkg-deb -x`` into a scratch dir renamed into place, so a crash leaves no half kernel."""
    root = kernels_dir / release
    scratch = kernels_dir / f".{release}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(scratch)], check=True)
    shutil.rmtree(root, ignore_errors=True)
    scratch.rename(root)
    kernel = Kernel.unpacked(release, root)
    if not kernel.vmlinuz.is_file():
        raise KernelFetchError(f"{', '.join(d.name for d in debs)}: no vmlinuz of {release}")
    return kernel


class PrivateApt:
    """apt-get/apt-cache driven by ``APT_CONFIG`` pointing at a configuration of our own.

    ``Dir::Etc``, ``Dir::State`` and ``Dir::Cache`` all point under ``root``, so the host's
    sources, pins, lists and package cache are neither read nor written. ``sources`` are
    ``(archive, suite, options)``; bookworm's keyring verifies every suite.
    """

    def __init__(self, root: Path, sources: Iterable[tuple[str, str, str]]) -> None:
        self.root = root
        etc = root / "etc"
        for d in (etc / "apt.conf.d", etc / "preferences.d", etc / "sources.list.d"):
            d.mkdir(parents=True, exist_ok=True)
        (root / "state" / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        (root / "state" / "status").touch()
        (etc / "sources.list").write_text(
            "".join(
                f"deb [signed-by={KEYRING}{' ' + options if options else ''}] "
                f"{MIRROR}/{archive} {suite} main\n"
                for archive, suite, options in sources
            )
        )
        self.config = root / "apt.conf"
        self.config.write_text(
            f'Dir::Etc "{etc}";\n'
            f'Dir::State "{root / "state"}";\n'
            f'Dir::State::status "{root / "state" / "status"}";\n'
            f'Dir::Cache "{root / "cache"}";\n'
            'APT::Architecture "amd64";\n'
            'Acquire::Languages "none";\n'
            # Files under the checkout may not be readable by apt's _apt sandbox user.
            'APT::Sandbox::User "root";\n'
        )

    def _run(self, *argv: str, cwd: Path | None = None) -> str:
        env = {**os.environ, "APT_CONFIG": str(self.config), "LC_ALL": "C"}
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise KernelFetchError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr}")
        return proc.stdout

    def update(self) -> None:
        _with_retries(lambda: self._run("apt-get", "update", "-q", "--error-on=any"))

    def show(self, package: str) -> list[dict[str, str]]:
        """Every version apt knows of ``package``, one dict of fields per stanza."""
        out = self._run("apt-cache", "show", package)
        return [
            dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.MULTILINE))
            for stanza in out.split("\n\n")
            if stanza.strip()
        ]

    def packages(self, pattern: str) -> list[str]:
        """Names of the packages apt knows that match the regular expression ``pattern``."""
        names = self._run("apt-cache", "pkgnames").split()
        return sorted(name for name in names if re.fullmatch(pattern, name))

    def download(self, package: str, into: Path) -> Path:
        """``apt-get download package`` (``name=version`` allowed) into ``into``."""
        name = package.partition("=")[0]
        _with_retries(lambda: self._run("apt-get", "download", "-q", package, cwd=into))
        deb = next(into.glob(f"{name}_*.deb"), None)
        if deb is None:
            raise KernelFetchError(f"apt-get download {package} left no .deb in {into}")
        return deb

    def cached_download(self, package: str, debs: Path) -> Path:
        """The ``.deb`` of ``package`` from ``debs``, downloaded first if it is not there.

        A download goes to a scratch directory and is renamed into ``debs`` whole, so an
        interrupted one is never taken for a package.
        """
        name, _, version = package.partition("=")
        pattern = f"{name}_{version.replace(':', '%3a') or '*'}_*.deb"
        if (deb := next(debs.glob(pattern), None)) is not None:
            return deb
        debs.mkdir(parents=True, exist_ok=True)
        scratch = debs / f".{name}.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        fetched = self.download(package, scratch)
        deb = debs / fetched.name
        fetched.rename(deb)
        scratch.rmdir()
        return deb


def _with_retries(step: Callable[[], object]) -> None:
    """Run a network step, retrying with backoff; the final failure propagates unchanged."""
    for delay in RETRY_DELAYS:
        try:
            step()
            return
        except KernelFetchError:
            time.sleep(delay)
    step()
