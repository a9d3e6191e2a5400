"""``kexec-lineage decode``: show what KHO hands from one kernel to the next."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kexec_lineage.abi import kexec_metadata
from kexec_lineage.abi.kexec_metadata import ByteOrder
from kexec_lineage.abi.kho_state import KhoState, decode_state, looks_like_fdt
from kexec_lineage.cli.extras import missing_extra
from kexec_lineage.cli.output import print_json, table
from kexec_lineage.errors import FdtError, InputError, MetadataError, MetadataVersionError
from kexec_lineage.host.files import read_bytes
from kexec_lineage.host.kho_debugfs import DEBUGFS_KHO, KhoMemory, read_kho_dir

__all__ = ("register", "run")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "decode",
        parents=[common],
        help="decode a kexec-metadata blob, a KHO root FDT or a KHO debugfs directory",
        description="Decode a kexec-metadata blob, a KHO root FDT, or a KHO debugfs "
        "directory (kho/in or kho/out). Without PATH: ROOT/sys/kernel/debug/kho/in.",
    )
    parser.add_argument("path", nargs="?", type=Path, metavar="PATH")
    parser.add_argument(
        "--byte-order",
        choices=("native", "little", "big"),
        default="native",
        help="byte order of the host that wrote the data (default: this host's)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path: Path = args.path or args.root / DEBUGFS_KHO / "in"
    byteorder: ByteOrder = sys.byteorder if args.byte_order == "native" else args.byte_order
    if args.path is None and not path.exists():
        raise InputError(
            f"{path} does not exist: this boot was not a KHO kexec, or the kernel lacks "
            "CONFIG_KEXEC_HANDOVER_DEBUGFS, or debugfs is not mounted; give a PATH"
        )
    memory = None
    if path.is_dir():
        kho = read_kho_dir(path)
        source, state = "debugfs", _decode(kho.fdt, kho.blobs, byteorder, path / "fdt", path)
        memory = kho.memory
        for problem in kho.problems:
            print(f"kexec-lineage: warning: {problem}", file=sys.stderr)
    else:
        data = read_bytes(path)
        if looks_like_fdt(data):
            source, state = "fdt", _decode(data, {}, byteorder, path, path)
        else:
            source, state = "kexec-metadata", _decode_blob(data, byteorder, path)
    if args.json:
        out = {"source": source, "path": str(path), **state.as_dict()}
        if memory is not None:
            out[memory.name] = [{"address": a, "size": n} for a, n in memory.regions]
        print_json(out)
    else:
        print("\n".join(filter(None, (_render(state), _render_memory(memory)))))
    return 0


def _decode(
    fdt: bytes | None, blobs: dict[str, bytes], byteorder: ByteOrder, fdt_path: Path, path: Path
) -> KhoState:
    try:
        return decode_state(fdt, blobs, byteorder)
    except FdtError as exc:
        raise InputError(f"{fdt_path}: {exc}") from None
    except MetadataError as exc:
        raise InputError(f"{path / 'sub_fdts' / kexec_metadata.NODE_NAME}: {exc}") from None
    except ImportError as exc:
        raise missing_extra(exc, "decoding a KHO FDT") from None


def _decode_blob(data: bytes, byteorder: ByteOrder, path: Path) -> KhoState:
    try:
        handover = kexec_metadata.decode(data, byteorder)
    except MetadataError as exc:
        other: ByteOrder = "big" if byteorder == "little" else "little"
        if isinstance(exc, MetadataVersionError) and _decodes(data, other):
            raise InputError(
                f"{path}: {exc}; written by a {other}-endian host? try --byte-order {other}"
            ) from None
        raise InputError(f"{path}: not a KHO FDT, and as kexec-metadata: {exc}") from None
    return KhoState(None, handover, {kexec_metadata.NODE_NAME: len(data)}, byteorder)


def _decodes(data: bytes, byteorder: ByteOrder) -> bool:
    try:
        kexec_metadata.decode(data, byteorder)
    except MetadataError:
        return False
    return True


def _render_memory(memory: KhoMemory | None) -> str:
    """The regions kept for the next kernel (``scratch``, ``bootmem`` since 7.4)."""
    if memory is None or not memory.regions:
        return ""
    rows = [(f"{a:#x}", f"{n:#x}") for a, n in memory.regions]
    return table(rows, (f"{memory.name.upper()} ADDRESS", "LENGTH"))


def _render(state: KhoState) -> str:
    lines = []
    if state.handover is not None:
        lines.append(state.handover.kernel_line)
    root = state.root
    if root is None:
        return "\n".join(lines)
    meta = root.child(kexec_metadata.NODE_NAME)
    if state.handover is None:
        lines.append(
            "kexec-metadata: none in this tree"
            if meta is None
            else f"kexec-metadata: at {meta.address:#x}, {meta.size} bytes; contents not given"
        )
    components = f" + {', '.join(root.compatible.components)}" if root.compatible.components else ""
    lines.append(
        table(
            [
                (
                    "compatible",
                    f"{root.compatible.text} (KHO ABI v{root.compatible.version}{components})",
                ),
                ("preserved-memory-map", f"{root.memory_map:#x}"),
                ("children", len(root.children)),
            ]
        )
    )
    if root.children:
        rows = [
            (
                f"  {child.name}",
                f"{child.address:#x}",
                "-" if child.size is None else child.size,
                "-" if (size := state.blob_sizes.get(child.name)) is None else size,
            )
            for child in root.children
        ]
        lines.append(
            table(rows, ("  NAME", root.compatible.address_prop.upper(), "BLOB-SIZE", "FILE"))
        )
    return "\n".join(lines)
