"""ONNX models: the graph's initializers (its weights), read with `onnx` and never run.

`onnx.load` parses the whole protobuf, weights included, so memory follows the file size; the
format itself caps that at 2 GiB (larger models keep weights in external files, which we do not
load, only check for).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from bigmodel.taxonomy.readers import TensorInfo, TensorInventory, clip, guarded, short
from bigmodel.taxonomy.readers.safetensors import MAX_TENSOR_BYTES, bounded_numel

MAX_PROTOBUF_BYTES = 2**31 - 1  # protobuf cannot parse a larger message
MAX_LISTED = 64  # graph inputs/outputs kept in metadata
MAX_SUBGRAPH_DEPTH = 16

# TensorProto.DataType name -> canonical dtype name, and bits per element where fixed.
ONNX_DTYPES = {
    "FLOAT": ("F32", 32), "DOUBLE": ("F64", 64), "FLOAT16": ("F16", 16), "BFLOAT16": ("BF16", 16),
    "INT64": ("I64", 64), "INT32": ("I32", 32), "INT16": ("I16", 16), "INT8": ("I8", 8),
    "UINT64": ("U64", 64), "UINT32": ("U32", 32), "UINT16": ("U16", 16), "UINT8": ("U8", 8),
    "BOOL": ("BOOL", 8), "COMPLEX64": ("C64", 64), "COMPLEX128": ("C128", 128),
    "FLOAT8E4M3FN": ("F8_E4M3", 8), "FLOAT8E4M3FNUZ": ("F8_E4M3FNUZ", 8),
    "FLOAT8E5M2": ("F8_E5M2", 8), "FLOAT8E5M2FNUZ": ("F8_E5M2FNUZ", 8), "FLOAT8E8M0": ("F8_E8M0", 8),
    "INT4": ("I4", 4), "UINT4": ("U4", 4), "FLOAT4E2M1": ("F4", 4),
    "STRING": ("STRING", None),
}  # fmt: skip


@guarded("onnx")
def read_onnx(path: Path) -> TensorInventory:
    """The initializers of an `.onnx` model: names, dtypes, shapes."""
    inv = TensorInventory(path, "onnx")
    try:
        import onnx
        from google.protobuf.message import DecodeError
    except ImportError:
        inv.add("warning", "the onnx package is not installed (pip install 'bigmodel[onnx]'); not read")
        return inv
    size = path.stat().st_size
    if size > MAX_PROTOBUF_BYTES:
        inv.add("error", f"file is {size} bytes; an ONNX protobuf holds at most 2 GiB")
        return inv
    try:
        model = onnx.load(path, load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as exc:
        inv.add("error", f"not a valid ONNX model ({clip(str(exc)) or type(exc).__name__})")
        return inv
    inv.metadata.update(
        {
            "ir_version": model.ir_version,
            "producer": f"{model.producer_name} {model.producer_version}".strip(),
            "opset": {op.domain or "ai.onnx": op.version for op in model.opset_import},
            "graph": model.graph.name,
            "inputs": [i.name for i in model.graph.input[:MAX_LISTED]],
            "outputs": [o.name for o in model.graph.output[:MAX_LISTED]],
            **({"metadata_props": {p.key: p.value for p in model.metadata_props}} if model.metadata_props else {}),
        }
    )
    external: set[str] = set()
    for tensor, shape in _initializers(model.graph, 0):
        _add(tensor, shape, onnx.TensorProto.DataType.Name, inv, external)
    if external:
        inv.metadata["external_data"] = sorted(external)
        for location in sorted(external):
            if Path(location).name != location or not (path.parent / location).is_file():
                inv.add("error", f"external data file {short(location)} is missing beside the model")
    return inv


def _initializers(graph: Any, depth: int) -> Iterator[tuple[Any, tuple[int, ...]]]:
    """(tensor, shape) of each initializer of a graph and of subgraphs in If/Loop/Scan nodes."""
    for tensor in graph.initializer:
        yield tensor, tuple(tensor.dims)
    for sparse in graph.sparse_initializer:
        yield sparse.values, tuple(sparse.dims)  # a sparse weight counts at its dense shape
    if depth >= MAX_SUBGRAPH_DEPTH:
        return
    for node in graph.node:
        for attribute in node.attribute:
            for sub in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                yield from _initializers(sub, depth + 1)


def _add(
    tensor: Any, shape: tuple[int, ...], type_name: Any, inv: TensorInventory, external: set[str]
) -> None:
    label = f"initializer {short(tensor.name)}"
    try:
        onnx_type = type_name(tensor.data_type)
    except ValueError:
        inv.add("error", f"{label}: unknown data type {tensor.data_type}")
        return
    dtype, bits = ONNX_DTYPES.get(onnx_type, (onnx_type, None))
    if any(d < 0 for d in shape):
        inv.add("error", f"{label}: shape {short(shape)} has a negative dimension")
        return
    numel = bounded_numel(shape, MAX_TENSOR_BYTES)
    if numel is None:
        inv.add("error", f"{label}: shape {short(shape)} overflows")
        return
    inv.tensors.append(TensorInfo(tensor.name, dtype, shape))
    if tensor.data_location == 1:  # TensorProto.EXTERNAL
        external.update(e.value for e in tensor.external_data if e.key == "location")
    elif shape == tuple(tensor.dims) and tensor.raw_data and bits is not None and len(tensor.raw_data) != -(-numel * bits // 8):
        inv.add("error", f"{label}: raw data is {len(tensor.raw_data)} bytes but {dtype} {list(shape)} needs {-(-numel * bits // 8)}")
