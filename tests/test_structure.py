"""The architecture as tests: layers point down, the host path is stdlib-only,
every module declares an honest ``__all__``."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import kexec_lineage
from tests.conftest import REPO

PACKAGE = Path(kexec_lineage.__file__).parent

# Lower number = lower layer; a module may import its own layer or below.
LAYERS = {
    "errors": 0,
    "model": 0,
    "abi": 1,
    "logs": 2,
    "host": 3,
    "fleet": 4,
    "server": 5,
    "sim": 5,
    "cli": 6,
    "__main__": 7,
}
# Pure layers do no I/O.
PURE = {"model", "abi", "logs"}
IO_MODULES = {"os", "io", "pathlib", "shutil", "subprocess", "socket", "tempfile", "glob"}

# Alembic loads the migration scripts itself; they are not modules to import.
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="kexec_lineage.")
    if not info.name.startswith("kexec_lineage.fleet.migrations.")
)


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(module: str) -> list[str]:
    path = PACKAGE.joinpath(*module.split(".")[1:])
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    names = []
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("module", MODULES)
def test_imports_point_down(module: str) -> None:
    own = layer_of(module)
    for name in imports_of(module):
        if name.startswith("kexec_lineage."):
            target = layer_of(name)
            assert LAYERS.get(target, 0) <= LAYERS.get(own, 0), f"{module} imports {name}"
        if own in PURE:
            assert name.split(".")[0] not in IO_MODULES, f"pure {module} imports {name}"


STDLIB_ONLY = [
    "kexec_lineage.cli.main",
    "kexec_lineage.abi.kexec_metadata",
    "kexec_lineage.abi.kho_state",
    *(m for m in MODULES if layer_of(m) in {"host", "model", "errors"}),
]


def test_host_import_path_is_stdlib_only() -> None:
    script = (
        "import sys, json\n"
        f"for m in {STDLIB_ONLY!r}: __import__(m)\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=60,
    ).stdout
    loaded = set(json.loads(out))
    foreign = loaded - set(sys.stdlib_module_names) - {"kexec_lineage", "__main__"}
    # `_`-prefixed names are CPython's own extension modules.
    assert not {n for n in foreign if not n.startswith("_")}


@pytest.mark.parametrize("module", [m for m in MODULES if not m.endswith("__main__")])
def test_all_is_honest(module: str) -> None:
    # ruff (RUF022) keeps each __all__ sorted; this checks it is true.
    mod = importlib.import_module(module)
    assert mod.__doc__, f"{module} has no docstring"
    exported = getattr(mod, "__all__", ())
    for name in exported:
        assert hasattr(mod, name), f"{module}.__all__ names missing {name}"
    public = {
        name
        for name, value in vars(mod).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == module
        and callable(value)
    }
    assert public <= set(exported), f"{module} defines public {public - set(exported)}"
