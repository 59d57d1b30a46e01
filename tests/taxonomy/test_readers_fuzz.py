"""Fuzzing the header readers: mutated and truncated real files, and plain random bytes, must give
an inventory (with findings), never an exception, never a large allocation."""

from __future__ import annotations

import io
import pickle
import struct
import tempfile
import tracemalloc
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bigmodel.taxonomy.readers import INTERNAL_ERROR, TensorInventory, read_weights
from bigmodel.taxonomy.readers.gguf import read_gguf
from bigmodel.taxonomy.readers.onnx_reader import read_onnx
from bigmodel.taxonomy.readers.pickle_scan import read_pytorch
from bigmodel.taxonomy.readers.safetensors import read_safetensors_header

# Far above what any of these small files needs, far below what a runaway length would take.
MAX_PEAK_BYTES = 32 * 2**20
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _safetensors_seed() -> bytes:
    from safetensors.torch import save

    return save({"a": torch.zeros(3, 4), "b": torch.ones(5, dtype=torch.bfloat16), "c": torch.arange(2)}, {"format": "pt"})


def _gguf_seed() -> bytes:
    import gguf

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "seed.gguf"
        writer = gguf.GGUFWriter(path, "llama")
        writer.add_uint32("llama.block_count", 1)
        writer.add_token_list(["a", "bb", "ccc"] * 30)
        writer.add_array("small", [1, 2, 3])
        writer.add_tensor("w", np.zeros((4, 8), dtype=np.float32))
        writer.add_tensor("h", np.zeros(8, dtype=np.float16))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path.read_bytes()


def _torch_seed(zipped: bool) -> bytes:
    buf = io.BytesIO()
    state = {"w": torch.nn.Parameter(torch.zeros(2, 3)), "b": torch.ones(3, dtype=torch.float16)}
    torch.save({"state_dict": state, "step": 1}, buf, _use_new_zipfile_serialization=zipped)
    return buf.getvalue()


SEEDS: dict[str, tuple[bytes, str, Callable[[Path], TensorInventory]]] = {
    "safetensors": (_safetensors_seed(), "model.safetensors", read_safetensors_header),
    "gguf": (_gguf_seed(), "model.gguf", read_gguf),
    "torch-zip": (_torch_seed(True), "model.bin", read_pytorch),
    "torch-legacy": (_torch_seed(False), "model.bin", read_pytorch),
    "pickle": (pickle.dumps({"a": [1, 2.5, "x", b"y", (None, True)], "b": {"c": 3}}, protocol=4), "model.pkl", read_pytorch),
}


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A seed file with a few edits of the kinds that break parsers: cuts, flipped bytes,
    inserted bytes, and 8-byte windows overwritten with extreme integers (length fields)."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cut", "flip", "insert", "u64", "u32"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "cut":
            del data[at:]
        elif kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "u64":
            value = draw(st.sampled_from([0, 1, 2**31, 2**32 - 1, 2**63 - 1, 2**64 - 1]) | st.integers(0, 2**64 - 1))
            data[at : at + 8] = struct.pack("<Q", value)
        elif kind == "u32":
            data[at : at + 4] = struct.pack("<I", draw(st.integers(0, 2**32 - 1)))
    return bytes(data)


def check_reader(read: Callable[[Path], TensorInventory], content: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        tracemalloc.start()
        try:
            inv = read(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert isinstance(inv, TensorInventory)
    assert peak < MAX_PEAK_BYTES, f"{name}: peak allocation {peak} bytes"
    for finding in inv.findings:
        assert INTERNAL_ERROR not in finding.message, finding.message
        assert finding.message.startswith(f"{name}: ") and "\n" not in finding.message, finding.message
    for tensor in inv.tensors:
        assert all(type(d) is int and d >= 0 for d in tensor.shape), tensor


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_seeds_are_clean(kind):
    content, name, read = SEEDS[kind]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        inv = read(path)
    if kind == "pickle":  # a bare pickle is refused, but for a plain reason
        assert inv.unsafe_globals == [] and inv.findings[0].message.endswith("magic number")
    else:
        assert inv.findings == [] and inv.tensors, inv.findings


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_mutated_files_never_crash(kind):
    content, name, read = SEEDS[kind]

    @FUZZ
    @given(mutated(content))
    def run(data: bytes) -> None:
        check_reader(read, data, name)

    run()


@FUZZ
@given(st.binary(max_size=512), st.sampled_from(["x.safetensors", "x.gguf", "x.bin", "x.onnx", "x.pt"]))
def test_random_bytes_never_crash(data, name):
    check_reader(read_weights, data, name)


@FUZZ
@given(st.binary(max_size=256))
def test_random_bytes_after_each_magic_never_crash(data):
    # Random bodies behind valid-looking starts reach deeper than pure noise does.
    check_reader(read_gguf, b"GGUF\x03\x00\x00\x00" + data, "x.gguf")
    check_reader(read_pytorch, b"\x80\x02" + data, "x.bin")
    check_reader(read_pytorch, b"PK\x03\x04" + data, "x.bin")
    check_reader(read_safetensors_header, struct.pack("<Q", len(data)) + data, "x.safetensors")
    check_reader(read_onnx, data, "x.onnx")
