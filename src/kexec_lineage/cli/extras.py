"""Which extra to install when a command's third-party module is missing."""

from __future__ import annotations

from kexec_lineage.errors import InputError

__all__ = ("EXTRAS", "missing_extra")

#: The extra that brings each module; anything else comes with ``server``.
EXTRAS = {"libfdt": "fdt", "numpy": "sim", "pyarrow": "spark", "pyspark": "spark"}


def missing_extra(exc: ImportError, what: str) -> InputError:
    """One error line naming the missing module and the extra that installs it."""
    module = (exc.name or "a module").split(".")[0]
    extra = EXTRAS.get(module, "server")
    return InputError(f"{what} needs {module}: pip install 'kexec-lineage[{extra}]'")
