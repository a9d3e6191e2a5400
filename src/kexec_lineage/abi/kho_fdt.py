"""
KHO root FDT
------------

The flattened device tree through which one kernel hands Kexec HandOver state
to the next (``include/linux/kho/abi/kexec_handover.h``)::

    / {
        compatible = "kho-v3";              /* kho-v1 .. kho-v4, or composite */
        preserved-memory-map = <u64>;
        <name> {
            preserved-data = <u64>;         /* kho-v1: "fdt" */
            blob-size = <u64>;              /* since kho-v3 */
        };
    };

The FDT container (header, structure and strings blocks, big-endian tokens) is
read and written by libfdt, the kernel's own FDT library, through pylibfdt. The
property *values* are raw CPU-native u64s, so they carry the byte order of the
host that wrote them.

ABI versions are told apart by the root ``compatible``:

- ``kho-v1``: children carry ``fdt``, the address of a child FDT.
- ``kho-v2``: since Linux commit ("kho: adopt radix tree for preserved memory
  tracking") the child property is ``preserved-data``.
- ``kho-v3``: since Linux commit 85e41392 ("kho: persist blob size in KHO FDT")
  (in v7.1) every child also carries ``blob-size``.
- ``kho-v4``: since ("kho: add support for linked-block serialization") (in
  v7.2); same layout as ``kho-v3``.
- Composite strings such as ``kho-v4;radix-v1;vmalloc-v1`` append
  sub-component versions to the base (RFC, ``KHO_SUB_COMPAT()``).

A kernel accepts an incoming tree only when its ``compatible`` matches its own
string exactly, so every change of the string restarts the kexec chain.
"""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import libfdt

from kexec_lineage.abi.kexec_metadata import ByteOrder
from kexec_lineage.errors import (
    EncodeError,
    FdtIncompatible,
    FdtInvalid,
    FdtNodeError,
)
from kexec_lineage.model.text import from_kernel

__all__ = (
    "BLOB_SIZE_PROP",
    "COMPATIBLE_PROP",
    "MEMORY_MAP_PROP",
    "PAGE_SIZE",
    "PRESERVED_DATA_PROP",
    "SUB_FDT_PROP",
    "FdtView",
    "KhoChild",
    "KhoCompatible",
    "KhoRoot",
    "broken_subnode",
    "build_root",
    "invalid_length",
    "parse_root",
    "u64_value",
)

COMPATIBLE_PROP = "compatible"
MEMORY_MAP_PROP = "preserved-memory-map"
#: ``KHO_SUB_TREE_PROP_NAME`` since kho-v2.
PRESERVED_DATA_PROP = "preserved-data"
#: ``KHO_SUB_TREE_SIZE_PROP_NAME`` since kho-v3.
BLOB_SIZE_PROP = "blob-size"
#: ``PROP_SUB_FDT`` in kho-v1.
SUB_FDT_PROP = "fdt"
#: The root FDT lives in one preserved page (``kho_alloc_preserve(PAGE_SIZE)``).
PAGE_SIZE = 4096

# Size of a version 17 FDT header: the least libfdt may read before it knows
# the total size.
_FDT_HEADER_SIZE = 40
# Every libfdt error code: lookups report them as absence, as the kernel does.
_QUIET = tuple(range(1, libfdt.FDT_ERR_MAX + 1))
_BASE_RE = re.compile(r"kho-v([1-9][0-9]{0,8})")
_U64 = {"little": struct.Struct("<Q"), "big": struct.Struct(">Q")}


@dataclass(frozen=True, slots=True)
class KhoCompatible:
    """A root ``compatible`` string: base KHO version plus sub-components."""

    text: str
    version: int
    components: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> KhoCompatible:
        """:raises FdtIncompatible: ``text`` is not ``kho-vN[;part...]``."""
        base, *components = text.split(";")
        match = _BASE_RE.fullmatch(base)
        if match is None or not all(components):
            raise FdtIncompatible(f"compatible {text!r} is not a KHO version (kho-vN[;part...])")
        return cls(text, int(match.group(1)), tuple(components))

    @property
    def address_prop(self) -> str:
        """The child property that holds a blob's physical address."""
        return SUB_FDT_PROP if self.version == 1 else PRESERVED_DATA_PROP

    @property
    def requires_blob_size(self) -> bool:
        """Whether every child must carry ``blob-size`` (kho-v3 and later)."""
        return self.version >= 3


@dataclass(frozen=True, slots=True)
class KhoChild:
    """One ``kho_add_subtree()`` registration.

    ``size`` is the ``blob-size`` property; ``None`` where the tree has none
    (kho-v1 and kho-v2, whose child FDTs carry their own size).
    """

    name: str
    address: int
    size: int | None = None


@dataclass(frozen=True, slots=True)
class KhoRoot:
    """A decoded KHO root FDT."""

    compatible: KhoCompatible
    memory_map: int
    children: tuple[KhoChild, ...] = ()

    def child(self, name: str) -> KhoChild | None:
        """The first child called ``name``, as ``fdt_subnode_offset()`` finds it."""
        return next((c for c in self.children if c.name == name), None)


@contextmanager
def _libfdt_errors(what: str) -> Iterator[None]:
    # The single place where libfdt's exceptions become ours.
    try:
        yield
    except libfdt.FdtException as exc:
        raise FdtInvalid(f"{what}: {libfdt.fdt_strerror(exc.err)}", exc.err) from None


class FdtView:
    """Read access to untrusted FDT bytes through libfdt, with the kernel's semantics.

    The constructor makes sure libfdt never reads outside ``data``: the
    header is present and the total size it declares fits. ``full=True`` also
    runs ``fdt_check_full()`` over the whole structure block; the kernel only
    runs ``fdt_check_header()``, which is what the kernel model uses. After
    that, lookups behave like the kernel's: any libfdt error (a broken
    structure block, say) reads as "absent", never as an exception.
    """

    def __init__(self, data: bytes, *, full: bool = False) -> None:
        if len(data) < _FDT_HEADER_SIZE:
            raise FdtInvalid(
                f"FDT truncated: {len(data)} bytes, header needs {_FDT_HEADER_SIZE}",
                -libfdt.TRUNCATED,
            )
        with _libfdt_errors("FDT header is invalid"):
            self._fdt = libfdt.Fdt(data)
        total = self._fdt.totalsize()
        if total > len(data):
            raise FdtInvalid(
                f"FDT truncated: header declares {total} bytes, only {len(data)} present",
                -libfdt.TRUNCATED,
            )
        if full:
            with _libfdt_errors("FDT structure is invalid"):
                libfdt.check_err(libfdt.fdt_check_full(self._fdt.as_bytearray(), total))

    def check_compatible(self, compatible: str) -> int:
        """``fdt_node_check_compatible(fdt, 0, compatible)``: 0 match, 1 not, <0 error."""
        return int(libfdt.fdt_node_check_compatible(self._fdt.as_bytearray(), 0, compatible))

    def children(self) -> Iterator[tuple[int, str | None]]:
        """``fdt_for_each_subnode(child, fdt, 0)``: offset and name of each child.

        The name is ``None`` where it is not UTF-8 (KHO names are ASCII).
        """
        node = self._fdt.first_subnode(0, quiet=_QUIET)
        while node >= 0:
            try:
                name = self._fdt.get_name(node)
            except (libfdt.FdtException, UnicodeDecodeError):
                name = None
            yield node, name
            node = self._fdt.next_subnode(node, quiet=_QUIET)

    def subnode(self, name: str) -> int | None:
        """``fdt_subnode_offset(fdt, 0, name)``, ``None`` where it fails."""
        node = self._fdt.subnode_offset(0, name, quiet=_QUIET)
        return node if node >= 0 else None

    def getprop(self, node: int, name: str) -> bytes | None:
        """``fdt_getprop()`` of node offset ``node`` (0: root), ``None`` where it fails."""
        value = self._fdt.getprop(node, name, quiet=_QUIET)
        return None if isinstance(value, int) else bytes(value)


def _compatible(view: FdtView) -> KhoCompatible:
    raw = view.getprop(0, COMPATIBLE_PROP)
    if raw is None:
        raise FdtIncompatible("KHO FDT root has no compatible property")
    if not raw.endswith(b"\0"):
        raise FdtIncompatible("KHO FDT root compatible is not a NUL-terminated string")
    strings = [from_kernel(s) for s in raw[:-1].split(b"\0")]
    for text in strings:
        try:
            return KhoCompatible.parse(text)
        except FdtIncompatible:
            continue
    raise FdtIncompatible(
        f"KHO FDT root compatible {', '.join(map(repr, strings))} names no KHO version (kho-vN)"
    )


def u64_value(raw: bytes | None, byteorder: ByteOrder = sys.byteorder) -> int | None:
    """A property as the kernel reads it through ``const u64 *``; ``None`` unless 8 bytes."""
    if raw is None or len(raw) != 8:
        return None
    return int(_U64[byteorder].unpack(raw)[0])


def invalid_length(name: str, prop: str, length: int) -> str:
    """The kernel's words for a u64 property of another length (shared with the boot model)."""
    return f"node {name} prop {prop} has invalid length: {length}"


def broken_subnode(name: str) -> str:
    """The kernel's words for a child without a usable ``blob-size`` (kho-v3 and later)."""
    return f"broken KHO subnode '{name}': missing or invalid {BLOB_SIZE_PROP} property"


def _u64(view: FdtView, node: int, name: str, prop: str, byteorder: ByteOrder) -> int | None:
    raw = view.getprop(node, prop)
    if raw is not None and len(raw) != 8:
        raise FdtNodeError(invalid_length(name, prop, len(raw)), name)
    return u64_value(raw, byteorder)


def parse_root(data: bytes, byteorder: ByteOrder = sys.byteorder) -> KhoRoot:
    """Decode a KHO root FDT of any ABI version, strictly.

    :param data: the FDT, e.g. ``/sys/kernel/debug/kho/in/fdt``.
    :param byteorder: byte order of the host that wrote the property values.
    :raises FdtInvalid: libfdt rejects the container.
    :raises FdtIncompatible: no KHO ``compatible``.
    :raises FdtNodeError: a property missing or of the wrong length; the
        message names the node, in the kernel's wording where it has one.
    """
    view = FdtView(data, full=True)
    compatible = _compatible(view)
    memory_map = _u64(view, 0, "/", MEMORY_MAP_PROP, byteorder)
    if memory_map is None:
        raise FdtNodeError(
            f"failed to get preserved memory map: node / has no {MEMORY_MAP_PROP}", "/"
        )
    children = []
    for node, name in view.children():
        if name is None:
            raise FdtNodeError("a child of / has a name that is not UTF-8", "/")
        address = _u64(view, node, name, compatible.address_prop, byteorder)
        if address is None:
            raise FdtNodeError(f"node {name} has no {compatible.address_prop} property", name)
        # kho-v1 children have no size; some pre-merge kho-v2 trees already had one.
        size = (
            None if compatible.version == 1 else _u64(view, node, name, BLOB_SIZE_PROP, byteorder)
        )
        if size is None and compatible.requires_blob_size:
            raise FdtNodeError(broken_subnode(name), name)
        children.append(KhoChild(name, address, size))
    return KhoRoot(compatible, memory_map, tuple(children))


def build_root(
    compatible: str,
    memory_map: int,
    children: Iterable[KhoChild] = (),
    byteorder: ByteOrder = sys.byteorder,
    page_size: int = PAGE_SIZE,
) -> bytes:
    """The root FDT a kernel of ``compatible`` builds, packed.

    The libfdt calls are the kernel's: ``fdt_create()`` with the root
    properties (``kho_out_fdt_setup()``), then per child, in registration
    order, ``fdt_open_into()``, ``fdt_add_subnode()``, ``fdt_setprop()`` of the
    address and size, ``fdt_pack()`` (``kho_add_subtree()``). libfdt puts each
    new node and property first, so the bytes match a kernel's.

    :raises EncodeError: a bad compatible, a value outside u64, a kho-v3+
        child without size, a duplicate name, or a tree larger than a page.
    """
    try:
        kho = KhoCompatible.parse(compatible)
    except FdtIncompatible as exc:
        raise EncodeError(str(exc)) from None
    u64 = _U64[byteorder]

    def pack_u64(what: str, value: int) -> bytes:
        if not 0 <= value < 1 << 64:
            raise EncodeError(f"{what} {value:#x} does not fit in a u64")
        return u64.pack(value)

    try:
        sw = libfdt.FdtSw(page_size)
        sw.finish_reservemap()
        sw.begin_node("")
        sw.property_string(COMPATIBLE_PROP, compatible)
        sw.property(MEMORY_MAP_PROP, pack_u64(MEMORY_MAP_PROP, memory_map))
        sw.end_node()
        fdt = sw.as_fdt()
        for child in children:
            props = [(kho.address_prop, pack_u64(child.name, child.address))]
            if child.size is not None and kho.version >= 2:
                props.append((BLOB_SIZE_PROP, pack_u64(f"{child.name} size", child.size)))
            elif kho.requires_blob_size:
                raise EncodeError(f"child {child.name} needs a size in {compatible}")
            fdt.resize(page_size)
            node = fdt.add_subnode(0, child.name)
            for name, value in props:
                fdt.setprop(node, name, value)
            fdt.pack()
        return bytes(fdt.as_bytearray())
    except libfdt.FdtException as exc:
        raise EncodeError(f"cannot build KHO FDT: {libfdt.fdt_strerror(exc.err)}") from None
