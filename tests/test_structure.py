"""The architecture as tests: layers point down, no import cycles, the host path is
stdlib-only, SQL libraries only in fleet (the simulator and the statistics import
without them), every module declares an honest ``__all__``."""

from __future__ import annotations

import ast
import graphlib
import importlib
import json
import os
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


def python(script: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``script`` run by a Python of its own on this tree of the package."""
    return subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)},
        timeout=120,
    )


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
    proc = python(script)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout))
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


# Every module file of the package, migration scripts included: the import graph
# and the database-library check cover them all.
ALL_MODULES = {
    ".".join(("kexec_lineage", *file.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(
        ".__init__"
    ): file
    for file in sorted(PACKAGE.rglob("*.py"))
}
DATABASE_LIBRARIES = {"sqlalchemy", "alembic"}


def package_of(module: str) -> str:
    """The package a relative import in ``module`` starts from."""
    is_package = ALL_MODULES[module].name == "__init__.py"
    return module if is_package else module.rpartition(".")[0]


def kexec_lineage_imports(module: str) -> set[str]:
    """The modules of ours that ``module`` imports anywhere: at the top, inside
    functions, under ``if TYPE_CHECKING:``. ``from package import name`` is the
    submodule where ``name`` is one, and importing a package imports its ``__init__``."""
    found = set()
    for node in ast.walk(ast.parse(ALL_MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                start = package_of(module).split(".")
                start = start[: len(start) - (node.level - 1)]
                base = ".".join([*start, *([base] if base else [])])
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in ALL_MODULES else base
                for alias in node.names
            ]
        else:
            continue
        found |= {t for t in targets if t == "kexec_lineage" or t.startswith("kexec_lineage.")}
    return found


def test_no_import_cycles() -> None:
    graph = {module: kexec_lineage_imports(module) for module in ALL_MODULES}
    assert graph["kexec_lineage.fleet.views"] >= {"kexec_lineage.fleet.store"}  # sees imports
    cycle: list[str] = []
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1][::-1]  # graphlib lists each module before the one importing it
    assert not cycle, f"import cycle: {' -> '.join(cycle)}"


@pytest.mark.parametrize("module", sorted(ALL_MODULES))
def test_only_fleet_imports_database_libraries(module: str) -> None:
    """The server reaches the database through the store, as every other caller."""
    if layer_of(module) == "fleet":
        return
    for node in ast.walk(ast.parse(ALL_MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            assert name.split(".")[0] not in DATABASE_LIBRARIES, f"{module} imports {name}"


WITHOUT_DATABASE_LIBRARIES = [
    *(m for m in MODULES if layer_of(m) == "sim"),
    "kexec_lineage.fleet.analysis",
    "kexec_lineage.fleet.count_table",
]


# Imports the modules named in argv[2:] with those of argv[1] (comma-separated) missing,
# as where an extra is not installed: a finder ahead of all others refuses them.
WITHOUT = """
import importlib, importlib.abc, sys

BLOCKED = set(sys.argv[1].split(","))


class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (the test hides it)")
        return None


assert not BLOCKED & set(sys.modules), "imported before the test could hide it"
sys.meta_path.insert(0, Missing())
for name in BLOCKED:
    try:
        importlib.import_module(name)
    except ImportError:
        continue
    raise AssertionError(f"{name} is not hidden")
for module in sys.argv[2:]:
    importlib.import_module(module)
"""


def test_simulator_and_statistics_import_without_database_libraries() -> None:
    proc = python(WITHOUT, "sqlalchemy,alembic", *WITHOUT_DATABASE_LIBRARIES)
    assert proc.returncode == 0, proc.stderr


def test_the_agent_runs_on_a_python_without_openssl() -> None:
    # As in the VM tests' guest, and on minimal hosts: no _ssl, no _hashlib. Every
    # command registers through cli.main, and ship over plain HTTP needs no TLS.
    modules = ("kexec_lineage.cli.main", "kexec_lineage.host.ship", "kexec_lineage.host.record")
    proc = python(WITHOUT, "ssl,_ssl,_hashlib", *modules)
    assert proc.returncode == 0, proc.stderr
