"""Fixtures shared by every test: real tools, real files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

# No per-example deadline: a busy CI machine must not fail a property test on
# time (speed is what `make bench` measures, never the tests).
settings.register_profile("kexec-lineage", deadline=None)
settings.load_profile("kexec-lineage")


def tool(name: str) -> str:
    """Path of a system tool that `make test` installs; a missing one fails the test."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; `make test` installs it (scripts/system-packages)")
    return path


def run(*argv: str | Path, input: bytes | None = None) -> str:
    """Run a real program, fail the test on a non-zero exit, return its stdout."""
    proc = subprocess.run(
        [str(a) for a in argv], input=input, capture_output=True, check=False, timeout=60
    )
    if proc.returncode != 0:
        pytest.fail(f"{argv[0]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode("utf-8", "replace")


@pytest.fixture
def shared() -> Path:
    """../shared beside the checkout; tests that read it skip cleanly where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (a fresh clone has no ../shared)")
    return SHARED
