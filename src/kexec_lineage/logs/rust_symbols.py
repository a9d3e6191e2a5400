"""
Rust symbols
------------

Demangling of Rust "v0" symbol names (``_RNv...``), which kernels built with
Rust print in stack traces. syzkaller passes every frame through
``demangle.Filter``, so a Rust frame is titled
``<ashmem_rust::Ashmem as kernel::miscdevice::MiscDevice>::mmap`` rather than
``_RNvXs1_Csc..._11ashmem_rust...4mmap``. Only what frame names need is
covered (paths, impls, generic arguments, common types); anything else is
returned unchanged, as ``demangle.Filter`` does with names it cannot parse.
"""

from __future__ import annotations

from typing import Final

__all__ = ("demangle",)

_BASIC_TYPES: Final = {
    "a": "i8", "b": "bool", "c": "char", "d": "f64", "e": "str", "f": "f32", "h": "u8",
    "i": "isize", "j": "usize", "l": "i32", "m": "u32", "n": "i128", "o": "u128", "p": "_",
    "s": "i16", "t": "u16", "u": "()", "v": "...", "x": "i64", "y": "u64", "z": "!",
}  # fmt: skip
_BASE62: Final = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class _Malformed(Exception):
    """The name is not a v0 symbol this module can read."""


class _Reader:
    def __init__(self, text: str, pos: int = 0) -> None:
        self.text, self.pos = text, pos

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        if not char:
            raise _Malformed
        self.pos += 1
        return char

    def eat(self, char: str) -> bool:
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def base62(self) -> int:
        if self.eat("_"):
            return 0
        value = 0
        while not self.eat("_"):
            digit = _BASE62.find(self.take())
            if digit < 0:
                raise _Malformed
            value = value * 62 + digit
        return value + 1

    def decimal(self) -> int:
        start = self.pos
        while self.peek().isdigit():
            self.pos += 1
        if start == self.pos or (self.text[start] == "0" and self.pos - start > 1):
            raise _Malformed
        return int(self.text[start : self.pos])

    def disambiguator(self) -> int:
        return self.base62() + 1 if self.eat("s") else 0

    def identifier(self) -> str:
        self.disambiguator()
        return self.name()

    def name(self) -> str:
        if self.peek() == "u":  # Punycode: not found in kernel symbols.
            raise _Malformed
        length = self.decimal()
        self.eat("_")
        name = self.text[self.pos : self.pos + length]
        if len(name) != length:
            raise _Malformed
        self.pos += length
        return name

    def backref(self) -> _Reader:
        # Offsets count from the character after "_R", which is where text starts;
        # they must point before the "B" so that a chain of them ends.
        before = self.pos - 1
        target = self.base62()
        if target >= before:
            raise _Malformed
        return _Reader(self.text, target)

    def path(self) -> str:
        tag = self.take()
        if tag == "C":
            return self.identifier()
        if tag == "N":
            namespace = self.take()
            parent = self.path()
            disambiguator = self.disambiguator()
            name = self.name()
            if namespace == "C":
                return f"{parent}::{{closure#{disambiguator}}}"
            if namespace.isupper():
                return f"{parent}::{{shim:{name}#{disambiguator}}}"
            return f"{parent}::{name}"
        if tag == "M":
            self.disambiguator()
            self.path()
            return f"<{self.type()}>"
        if tag == "X":
            self.disambiguator()
            self.path()
            return f"<{self.type()} as {self.path()}>"
        if tag == "Y":
            return f"<{self.type()} as {self.path()}>"
        if tag == "I":
            return f"{self.path()}::<{self.generic_args()}>"
        if tag == "B":
            return self.backref().path()
        raise _Malformed

    def generic_args(self) -> str:
        args = []
        while not self.eat("E"):
            if self.eat("L"):
                self.base62()
                args.append("'_")
            elif self.eat("K"):
                raise _Malformed
            else:
                args.append(self.type())
        return ", ".join(args)

    def type(self) -> str:
        tag = self.peek()
        if tag in _BASIC_TYPES:
            self.pos += 1
            return _BASIC_TYPES[tag]
        if tag in "CNMXYI":
            return self.path()
        self.pos += 1
        if tag == "B":
            return self.backref().type()
        if tag in "RQ":
            if self.eat("L"):
                self.base62()
            return ("&" if tag == "R" else "&mut ") + self.type()
        if tag in "PO":
            return ("*const " if tag == "P" else "*mut ") + self.type()
        if tag == "S":
            return f"[{self.type()}]"
        if tag == "T":
            items = []
            while not self.eat("E"):
                items.append(self.type())
            return f"({', '.join(items)}{',' if len(items) == 1 else ''})"
        raise _Malformed


def demangle(name: bytes) -> bytes:
    """``name`` demangled if it is a Rust v0 symbol, else ``name`` itself."""
    if not name.startswith(b"_R"):
        return name
    reader = _Reader(name[2:].decode("ascii", "replace"))
    try:
        if reader.peek().isdigit():  # Encoding version.
            reader.decimal()
        return reader.path().encode("ascii", "replace")
    except (_Malformed, RecursionError):
        return name
