"""safetensors headers, and the `*.index.json` files that tie shards together.

A safetensors file is an 8-byte little-endian header length, a JSON header naming every tensor's
dtype, shape and byte range, then the raw bytes. We read the length and the JSON only, and check
the byte ranges the way the safetensors library does before it would map the data.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Callable

from bigmodel.taxonomy.readers import (
    MAX_HEADER_BYTES,
    TensorInfo,
    TensorInventory,
    clip,
    guarded,
    short,
)

# Bits per element for every dtype the safetensors format names (sub-byte floats pack tightly).
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip
# A tensor claiming 2**64 bytes or more cannot exist on any machine: treat it as an overflow.
MAX_TENSOR_BYTES = 2**64


def bounded_numel(shape: tuple[int, ...], limit: int) -> int | None:
    """The product of `shape`, or None once it passes `limit` (never builds a huge integer)."""
    numel = 1
    for dim in shape:
        numel *= dim
        if numel > limit:
            return None
    return numel


class _DuplicateKey(ValueError):
    pass


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys silently; a header that says two things is corrupt.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"duplicate key {short(key)}")
        result[key] = value
    return result


def parse_json_header(raw: bytes, inv: TensorInventory, what: str) -> Any:
    """Decode a JSON header, turning every way it can be malformed into one error finding."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except UnicodeDecodeError:
        inv.add("error", f"{what} is not UTF-8 text")
    except RecursionError:
        inv.add("error", f"{what} is not valid JSON (nested too deeply)")
    except ValueError as exc:  # json.JSONDecodeError, _DuplicateKey, over-long integers
        inv.add("error", f"{what} is not valid JSON ({clip(str(exc), 160)})")
    return None


@guarded("safetensors")
def read_safetensors_header(path: Path) -> TensorInventory:
    """The tensors of one `.safetensors` file, from its header alone."""
    inv = TensorInventory(path, "safetensors")
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(8)
        if len(prefix) < 8:
            inv.add("error", f"file is {size} bytes, too short for a safetensors header")
            return inv
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > MAX_HEADER_BYTES:
            inv.add("error", f"header length {header_len} exceeds the {MAX_HEADER_BYTES}-byte limit")
            return inv
        if 8 + header_len > size:
            inv.add("error", f"header length {header_len} exceeds file size {size}")
            return inv
        raw = f.read(header_len)
    header = parse_json_header(raw, inv, "header")
    if header is None:
        return inv
    if not isinstance(header, dict):
        inv.add("error", f"header is a JSON {type(header).__name__}, expected an object")
        return inv
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        inv.add("error", "__metadata__ must map strings to strings")
    else:
        inv.metadata = metadata
    _check_tensors(header, size - 8 - header_len, inv)
    return inv


def _check_tensors(header: dict[str, Any], data_size: int, inv: TensorInventory) -> None:
    ranges: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        label = f"tensor {short(name)}"
        if not isinstance(entry, dict):
            inv.add("error", f"{label}: entry is not a JSON object")
            continue
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in DTYPE_BITS:
            inv.add("error", f"{label}: unknown dtype {short(dtype)}")
            continue
        if not isinstance(shape, list) or not all(type(d) is int for d in shape):
            inv.add("error", f"{label}: shape {short(shape)} is not a list of integers")
            continue
        if any(d < 0 for d in shape):
            inv.add("error", f"{label}: shape {short(shape)} has a negative dimension")
            continue
        bits = DTYPE_BITS[dtype]
        numel = bounded_numel(tuple(shape), MAX_TENSOR_BYTES * 8 // bits)
        if numel is None:
            inv.add("error", f"{label}: shape {short(shape)} overflows (2**64 bytes or more)")
            continue
        inv.tensors.append(TensorInfo(name, dtype, tuple(shape)))
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(o) is int for o in offsets)
        ):
            inv.add("error", f"{label}: data_offsets {short(offsets)} is not a pair of integers")
            continue
        begin, end = offsets
        if not 0 <= begin <= end:
            inv.add("error", f"{label}: data_offsets {short(offsets)} are not increasing")
        elif end > data_size:
            inv.add(
                "error",
                f"{label}: data_offsets {short(offsets)} past the end of the data ({data_size} bytes)",
            )
        elif numel * bits % 8 or end - begin != numel * bits // 8:
            inv.add(
                "error",
                f"{label}: data_offsets {short(offsets)} hold {end - begin} bytes but "
                f"{dtype} {short(shape)} needs {numel * bits / 8:g}",
            )
        else:
            ranges.append((begin, end, name))
    _check_layout(ranges, data_size, inv)


def _check_layout(ranges: list[tuple[int, int, str]], data_size: int, inv: TensorInventory) -> None:
    """Byte ranges must tile the data exactly, as the safetensors library requires."""
    covered, last = 0, None
    for begin, end, name in sorted(ranges):
        if begin < covered:
            inv.add(
                "error", f"tensor {short(name)}: data_offsets overlap tensor {short(last)}"
            )
        elif begin > covered:
            inv.add("error", f"tensor {short(name)}: {begin - covered} unused bytes before it")
        covered, last = max(covered, end), name
    if len(ranges) == len(inv.tensors) and covered != data_size:
        inv.add("error", f"{data_size - covered} bytes after the last tensor belong to none")


@guarded("safetensors")
def read_safetensors_index(path: Path) -> TensorInventory:
    """Every shard named by a `model.safetensors.index.json`, merged into one inventory."""
    return read_weight_index(path, read_safetensors_header, "safetensors")


def read_weight_index(
    path: Path, read_shard: Callable[[Path], TensorInventory], fmt: str
) -> TensorInventory:
    """Merge the shards of an `*.index.json`, checking them against its weight_map."""
    inv = TensorInventory(path, fmt)
    size = path.stat().st_size
    if size > MAX_HEADER_BYTES:
        inv.add("error", f"index is {size} bytes, over the {MAX_HEADER_BYTES}-byte limit")
        return inv
    index = parse_json_header(path.read_bytes(), inv, "index")
    if index is None:
        return inv
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(v, str) for v in weight_map.values()
    ):
        inv.add("error", "index has no weight_map mapping tensor names to shard files")
        return inv
    if isinstance(index.get("metadata"), dict):
        inv.metadata.update(index["metadata"])
    shards = list(dict.fromkeys(weight_map.values()))
    inv.metadata["shards"] = shards
    seen: dict[str, str] = {}  # tensor name -> shard it was found in
    for shard in shards:
        # Shards live beside the index; a name with a path in it could point anywhere.
        if Path(shard).name != shard or shard in (".", ".."):
            inv.add("error", f"weight_map names shard {short(shard)} outside the index's folder")
            continue
        shard_path = path.parent / shard
        if not shard_path.is_file():
            inv.add("error", f"shard {shard} listed in weight_map is missing")
            continue
        part = read_shard(shard_path)
        inv.findings.extend(part.findings)  # already prefixed with the shard's name
        inv.unsafe_globals.extend(g for g in part.unsafe_globals if g not in inv.unsafe_globals)
        for key, value in part.metadata.items():
            if key == "shared_tensors":  # tied aliases: every shard's, or later ones count twice
                inv.metadata.setdefault(key, {}).update(value)
            else:
                inv.metadata.setdefault(key, value)
        inv.format = part.format
        for tensor in part.tensors:
            if tensor.name in seen:
                inv.add("error", f"tensor {short(tensor.name)} is in both {seen[tensor.name]} and {shard}")
                continue
            seen[tensor.name] = shard
            inv.tensors.append(tensor)
            listed = weight_map.get(tensor.name)
            if listed is None:
                inv.add("warning", f"tensor {short(tensor.name)} in {shard} is not listed in weight_map")
            elif listed != shard:
                inv.add("error", f"tensor {short(tensor.name)} is in {shard} but weight_map says {listed}")
    present = {s for s in shards if (path.parent / s).is_file() and Path(s).name == s}
    for name, shard in weight_map.items():
        if shard in present and name not in seen:
            inv.add("error", f"tensor {short(name)} listed in weight_map is absent from {shard}")
    declared = inv.metadata.get("total_size")
    if fmt == "safetensors" and type(declared) is int and present == set(shards):
        stored = sum(t.numel * DTYPE_BITS[t.dtype] // 8 for t in inv.tensors)
        if declared != stored:
            inv.add("warning", f"metadata total_size {declared} but the shards hold {stored} bytes of tensors")
    return inv
