"""Debian cloud kernels for the VM tests, fetched without touching the host's apt setup.

The chain test needs two real releases (6.1 from bookworm, 6.12 from bookworm-backports) so
that "previous release" really differs from "this release". The packages are downloaded with a
private apt configuration under ``build/vm/apt/`` (its own sources, lists and cache) and only
unpacked, never installed, so the host's boot loader and initramfs hooks never run. The
chosen releases are written to ``build/vm/kernels/selected.json``; once both are unpacked a
later run touches neither apt nor the network, the way drgn's vmtest treats its kernels as
immutable assets.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cmp_to_key
from pathlib import Path

from tests.vm import BUILD

# The two kernel series the chain hops between: bookworm's own and the backported one.
SERIES = ("6.1", "6.12")
METAPACKAGE = "linux-image-cloud-amd64"
MIRROR = "http://deb.debian.org"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# Backoff before each retry of a network step; the last failure is reported as it is.
RETRY_DELAYS = (2.0, 5.0, 15.0)


class KernelFetchError(Exception):
    """apt could not supply the kernels: the message carries apt's own error."""


@dataclass(frozen=True)
class Kernel:
    """One unpacked ``linux-image-<release>`` package."""

    release: str
    root: Path

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.release}"

    @property
    def modules(self) -> Path:
        return self.root / "lib" / "modules" / self.release


def fetch_kernels() -> tuple[Kernel, ...]:
    """The newest cloud kernel of each of ``SERIES``, downloading only what is not cached."""
    kernels_dir = BUILD / "kernels"
    selected = kernels_dir / "selected.json"
    if selected.exists():
        cached = tuple(Kernel(r, kernels_dir / r) for r in json.loads(selected.read_text()))
        if all(k.vmlinuz.is_file() for k in cached):
            return cached
    apt = PrivateApt(BUILD / "apt")
    apt.update()
    debs = BUILD / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    kernels = []
    for package in _newest_images(apt.show(METAPACKAGE)):
        release = package.removeprefix("linux-image-")
        deb = next(debs.glob(f"{package}_*.deb"), None) or apt.download(package, debs)
        kernels.append(_unpack(deb, release, kernels_dir))
    selected.write_text(json.dumps([k.release for k in kernels]))
    return tuple(kernels)


def _newest_images(stanzas: list[dict[str, str]]) -> Iterator[str]:
    """For each series, the image package the newest metapackage version depends on."""
    by_series: dict[str, list[tuple[str, str]]] = {}
    for stanza in stanzas:
        match = re.search(r"\blinux-image-((\d+\.\d+)[^\s,(]*)", stanza.get("Depends", ""))
        if match:
            by_series.setdefault(match.group(2), []).append((stanza["Version"], match.group(0)))
    for series in SERIES:
        if series not in by_series:
            raise KernelFetchError(f"no {METAPACKAGE} version depends on a {series} image")
        newest = max(by_series[series], key=cmp_to_key(_compare_debian_versions))
        yield newest[1]


def _compare_debian_versions(a: tuple[str, str], b: tuple[str, str]) -> int:
    """dpkg's own ordering, since Debian versions (``~bpo12``, epochs) defeat string order."""
    if a[0] == b[0]:
        return 0
    later = subprocess.run(["dpkg", "--compare-versions", a[0], "gt", b[0]], check=False)
    return 1 if later.returncode == 0 else -1


def _unpack(deb: Path, release: str, kernels_dir: Path) -> Kernel:
    """``dpkg-deb -x`` into a scratch dir renamed into place, so a crash leaves no half kernel."""
    kernel = Kernel(release, kernels_dir / release)
    if kernel.vmlinuz.is_file():
        return kernel
    scratch = kernels_dir / f".{release}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(scratch)], check=True)
    shutil.rmtree(kernel.root, ignore_errors=True)
    scratch.rename(kernel.root)
    if not kernel.vmlinuz.is_file():
        raise KernelFetchError(f"{deb.name} has no boot/vmlinuz-{release}")
    return kernel


class PrivateApt:
    """apt-get/apt-cache driven by ``APT_CONFIG`` pointing at a configuration of our own.

    ``Dir::Etc``, ``Dir::State`` and ``Dir::Cache`` all point under ``root``, so the host's
    sources, pins, lists and package cache are neither read nor written.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        etc = root / "etc"
        for d in (etc / "apt.conf.d", etc / "preferences.d", etc / "sources.list.d"):
            d.mkdir(parents=True, exist_ok=True)
        (root / "state" / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        (root / "state" / "status").touch()
        (etc / "sources.list").write_text(
            f"deb [signed-by={KEYRING}] {MIRROR}/debian bookworm main\n"
            f"deb [signed-by={KEYRING}] {MIRROR}/debian-security bookworm-security main\n"
            f"deb [signed-by={KEYRING}] {MIRROR}/debian bookworm-backports main\n"
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

    def download(self, package: str, into: Path) -> Path:
        _with_retries(lambda: self._run("apt-get", "download", "-q", package, cwd=into))
        deb = next(into.glob(f"{package}_*.deb"), None)
        if deb is None:
            raise KernelFetchError(f"apt-get download {package} left no .deb in {into}")
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
