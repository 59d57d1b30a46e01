"""GGUF headers (llama.cpp's format): metadata key/values and tensor infos, versions 2 and 3.

Parsed by hand with bounded reads rather than with `gguf.GGUFReader`, which memory-maps the
whole file and builds numpy views of every field and tensor: fine for trusted files, but a
hostile count or length becomes a huge array or an exception deep inside numpy. Here every
count and length is checked against the bytes left in the file before anything is read, and
long metadata (a tokenizer's vocabulary) is skipped, keeping only its length. The `gguf`
package still supplies the format's constants: value types, ggml types and their block sizes.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

from bigmodel.taxonomy.readers import TensorInfo, TensorInventory, guarded, short
from bigmodel.taxonomy.readers.safetensors import MAX_TENSOR_BYTES, bounded_numel

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_DIMS = 4  # GGML_MAX_DIMS
DEFAULT_ALIGNMENT = 32
# What we keep of metadata: strings up to this many bytes, arrays up to this many items.
KEEP_STRING_BYTES = 65_536
KEEP_ARRAY_ITEMS = 64
MAX_ARRAY_DEPTH = 3  # arrays of arrays of arrays; nothing real nests deeper
# Real files hold tens of keys and at most some thousands of tensors; these limits keep what we
# build in memory small even when a file's counts fit its size.
MAX_KEYS = 65_536
MAX_TENSORS = 1_000_000

_SCALARS = {
    GGUFValueType.UINT8: "B", GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H", GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I", GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f", GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q", GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}  # fmt: skip
# Fewest bytes one item of each value type can take: bounds a count before we loop over it.
_MIN_ITEM_BYTES = {
    **{t: struct.calcsize(c) for t, c in _SCALARS.items()},
    GGUFValueType.STRING: 8,
    GGUFValueType.ARRAY: 12,
}
_MIN_KV_BYTES = 8 + 4 + 1  # key length, value type, smallest value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # name length, n_dims, type, offset


class _Corrupt(Exception):
    """The file is not what it claims; the message becomes an error finding."""


class _Cursor:
    """Reads from a file, refusing any read that would go past its end."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f, self.size, self.pos, self.endian = f, size, 0, "<"

    @property
    def left(self) -> int:
        return self.size - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n > self.left:
            raise _Corrupt(f"{what} past the end of the file")
        self.pos += n
        return self.f.read(n)

    def skip(self, n: int, what: str) -> None:
        if n > self.left:
            raise _Corrupt(f"{what} past the end of the file")
        self.pos += n
        self.f.seek(self.pos)

    def unpack(self, code: str, what: str) -> Any:
        fmt = self.endian + code
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def count(self, min_item_bytes: int, what: str) -> int:
        """A u64 count of items that must each take at least `min_item_bytes`."""
        n = self.unpack("Q", what)
        if n * min_item_bytes > self.left:
            raise _Corrupt(f"{what} {n} past the end of the file")
        return n

    def string(self, what: str, keep: int = KEEP_STRING_BYTES) -> str:
        n = self.unpack("Q", f"{what} length")
        if n > self.left:
            raise _Corrupt(f"{what} length {n} past the end of the file")
        text = self.take(min(n, keep), what).decode("utf-8", errors="replace")
        if n > keep:
            self.skip(n - keep, what)
            text += f"... ({n} bytes)"
        return text

    def value_type(self, what: str) -> GGUFValueType:
        code = self.unpack("I", what)
        try:
            return GGUFValueType(code)
        except ValueError:
            raise _Corrupt(f"{what}: unknown value type {code}") from None

    def value(self, kind: GGUFValueType, what: str, depth: int = 0) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind], what)
        if kind == GGUFValueType.STRING:
            return self.string(what)
        if depth >= MAX_ARRAY_DEPTH:
            raise _Corrupt(f"{what}: arrays nested more than {MAX_ARRAY_DEPTH} deep")
        item = self.value_type(what)
        n = self.count(_MIN_ITEM_BYTES[item], f"{what}: array length")
        if n <= KEEP_ARRAY_ITEMS:
            return [self.value(item, what, depth + 1) for _ in range(n)]
        # Too long to keep (a vocabulary, merges, scores): step over it, keep its length.
        if item in _SCALARS:
            self.skip(n * _MIN_ITEM_BYTES[item], what)
        elif item == GGUFValueType.STRING:
            for _ in range(n):
                self.skip(self.unpack("Q", f"{what} length"), what)
        else:
            for _ in range(n):
                self.value(item, what, depth + 1)
        return {"array_of": item.name, "length": n}


@guarded("gguf")
def read_gguf(path: Path) -> TensorInventory:
    """The metadata and tensors of a `.gguf` file, shapes in PyTorch order."""
    inv = TensorInventory(path, "gguf")
    with path.open("rb") as f:
        cursor = _Cursor(f, os.fstat(f.fileno()).st_size)
        try:
            _read(cursor, inv)
        except _Corrupt as exc:
            inv.add("error", str(exc))
    return inv


def _read(cur: _Cursor, inv: TensorInventory) -> None:
    magic = cur.f.read(4)
    cur.pos = len(magic)
    if magic != MAGIC:
        raise _Corrupt(f"not a GGUF file (starts {short(magic)}, expected {MAGIC!r})")
    version = cur.unpack("I", "version")
    if version not in SUPPORTED_VERSIONS:
        swapped = struct.unpack(">I", struct.pack("<I", version))[0]
        if swapped not in SUPPORTED_VERSIONS:
            raise _Corrupt(f"GGUF version {version} is not supported (only 2 and 3)")
        cur.endian, version = ">", swapped  # written big-endian (s390x builds)
        inv.metadata["GGUF.endian"] = "big"
    tensor_count = cur.count(_MIN_TENSOR_INFO_BYTES, "tensor count")
    if tensor_count > MAX_TENSORS:
        raise _Corrupt(f"tensor count {tensor_count} is over the limit of {MAX_TENSORS}")
    kv_count = cur.count(_MIN_KV_BYTES, "metadata count")
    if kv_count > MAX_KEYS:
        raise _Corrupt(f"metadata count {kv_count} is over the limit of {MAX_KEYS}")
    inv.metadata.update({"GGUF.version": version, "GGUF.tensor_count": tensor_count, "GGUF.kv_count": kv_count})
    for _ in range(kv_count):
        key = cur.string("metadata key")
        value = cur.value(cur.value_type(f"metadata {short(key)}"), f"metadata {short(key)}")
        if key in inv.metadata:
            raise _Corrupt(f"metadata key {short(key)} appears twice")
        inv.metadata[key] = value
    alignment = inv.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
        raise _Corrupt(f"general.alignment {short(alignment)} is not a power of two")
    extents = _read_tensor_infos(cur, tensor_count, inv)
    data_start = -(-cur.pos // alignment) * alignment
    _check_extents(extents, data_start, cur.size, alignment, inv)


def _read_tensor_infos(cur: _Cursor, count: int, inv: TensorInventory) -> list[tuple[int, int, str]]:
    """Tensor infos, as (offset, nbytes, name) for the data checks."""
    extents: list[tuple[int, int, str]] = []
    names: set[str] = set()
    for _ in range(count):
        name = cur.string("tensor name")
        label = f"tensor {short(name)}"
        n_dims = cur.unpack("I", f"{label} dimension count")
        if n_dims > MAX_DIMS:
            raise _Corrupt(f"{label}: {n_dims} dimensions, at most {MAX_DIMS} allowed")
        ne = [cur.unpack("Q", f"{label} dimensions") for _ in range(n_dims)]
        code = cur.unpack("I", f"{label} type")
        offset = cur.unpack("Q", f"{label} offset")
        try:
            ggml_type = GGMLQuantizationType(code)
        except ValueError:
            inv.add("error", f"{label}: unknown ggml type {code}")
            continue
        if name in names:
            inv.add("error", f"{label} appears twice")
            continue
        names.add(name)
        block, block_bytes = GGML_QUANT_SIZES[ggml_type]
        numel = bounded_numel(tuple(ne), MAX_TENSOR_BYTES // block_bytes * block)
        if numel is None:
            inv.add("error", f"{label}: shape {ne} overflows (2**64 bytes or more)")
            continue
        # GGUF lists ne innermost-first; PyTorch lists the outermost dimension first.
        inv.tensors.append(TensorInfo(name, ggml_type.name, tuple(reversed(ne))))
        if ne and ne[0] % block:
            inv.add("error", f"{label}: row of {ne[0]} is not a whole number of {ggml_type.name} blocks ({block})")
            continue
        extents.append((offset, numel // block * block_bytes, name))
    return extents


def _check_extents(
    extents: list[tuple[int, int, str]], data_start: int, size: int, alignment: int, inv: TensorInventory
) -> None:
    end_of_previous, previous = 0, ""
    for offset, nbytes, name in sorted(extents):
        label = f"tensor {short(name)}"
        if offset % alignment:
            inv.add("error", f"{label}: data offset {offset} is not aligned to {alignment}")
        if data_start + offset + nbytes > size:
            inv.add("error", f"{label}: data ({nbytes} bytes at offset {offset}) past the end of the file")
        if offset < end_of_previous:
            inv.add("error", f"{label}: data overlaps tensor {short(previous)}")
        end_of_previous, previous = max(end_of_previous, offset + nbytes), name
