"""Header readers: exact inventories of real checkpoints, one clear finding for every bad file,
and pickles that would run code reported, never run."""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from bigmodel.taxonomy.readers import INTERNAL_ERROR, TensorInventory, read_weights
from bigmodel.taxonomy.readers import pickle_scan
from bigmodel.taxonomy.readers.gguf import read_gguf
from bigmodel.taxonomy.readers.onnx_reader import read_onnx
from bigmodel.taxonomy.readers.pickle_scan import read_pytorch
from bigmodel.taxonomy.readers.safetensors import read_safetensors_header, read_safetensors_index

TORCH_TO_CANONICAL = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.bool: "BOOL"}


def inventory_of(state_dict: dict[str, torch.Tensor]) -> dict[str, tuple[str, tuple[int, ...]]]:
    return {k: (TORCH_TO_CANONICAL[v.dtype], tuple(v.shape)) for k, v in state_dict.items()}


def as_dict(inv: TensorInventory) -> dict[str, tuple[str, tuple[int, ...]]]:
    names = [t.name for t in inv.tensors]
    assert len(names) == len(set(names)), "duplicate tensor names"
    return {t.name: (t.dtype, t.shape) for t in inv.tensors}


def assert_clean(inv: TensorInventory) -> None:
    assert inv.findings == [] and inv.unsafe_globals == [], inv.findings


def assert_one_error(inv: TensorInventory, *words: str) -> str:
    """The file is refused with an error finding that names the file and says why."""
    errors = [f.message for f in inv.findings if f.severity == "error"]
    assert errors, inv.findings
    message = errors[0]
    assert message.startswith(f"{inv.path.name}: ") and "\n" not in message, message
    assert INTERNAL_ERROR not in message, message
    for word in words:
        assert word in message, message
    return message


@pytest.fixture(scope="module")
def tiny_lms() -> dict[str, torch.nn.Module]:
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging

    logging.set_verbosity_error()
    torch.manual_seed(0)
    llama = LlamaForCausalLM(
        LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                    num_key_value_heads=1, max_position_embeddings=32, tie_word_embeddings=False)
    )
    gpt2 = GPT2LMHeadModel(GPT2Config(n_embd=16, n_layer=2, n_head=2, vocab_size=64, n_positions=32))
    return {"llama": llama, "gpt2": gpt2, "llama-bf16": copy.deepcopy(llama).to(torch.bfloat16)}


# ---------------------------------------------------------------- exact results on real files
@pytest.mark.parametrize("name", ["llama", "gpt2", "llama-bf16"])
def test_safetensors_header_matches_saved_tensors(tiny_lms, tmp_path, name):
    from safetensors import safe_open

    tiny_lms[name].save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    inv = read_safetensors_header(path)
    assert_clean(inv)
    with safe_open(path, "pt") as f:
        stored = {k: f.get_tensor(k) for k in f.keys()}
    assert as_dict(inv) == inventory_of(stored)
    assert inv.parameters == sum(t.numel() for t in stored.values())
    assert inv.metadata.get("format") == "pt"


def test_sharded_index_is_exact(tiny_lms, tmp_path):
    from safetensors import safe_open

    tiny_lms["llama"].save_pretrained(tmp_path, max_shard_size="20KB")
    index = tmp_path / "model.safetensors.index.json"
    inv = read_safetensors_index(index)
    assert_clean(inv)
    shards = sorted(tmp_path.glob("model-*.safetensors"))
    assert len(shards) > 1 and sorted(inv.metadata["shards"]) == [p.name for p in shards]
    stored = {}
    for shard in shards:
        with safe_open(shard, "pt") as f:
            stored.update({k: f.get_tensor(k) for k in f.keys()})
    assert as_dict(inv) == inventory_of(stored) == inventory_of(tiny_lms["llama"].state_dict())
    assert read_weights(index).tensors == inv.tensors


def test_index_reports_missing_shard_and_missing_tensor(tiny_lms, tmp_path):
    tiny_lms["llama"].save_pretrained(tmp_path, max_shard_size="20KB")
    index = tmp_path / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    first_shard, second_shard = sorted(set(data["weight_map"].values()))
    data["weight_map"]["ghost.weight"] = first_shard
    data["weight_map"]["../outside.weight"] = "../evil.safetensors"
    index.write_text(json.dumps(data))
    (tmp_path / second_shard).unlink()
    messages = [f.message for f in read_safetensors_index(index).findings]
    assert any("'ghost.weight' listed in weight_map is absent from " + first_shard in m for m in messages), messages
    assert any("is missing" in m for m in messages), messages
    assert any("outside the index's folder" in m for m in messages), messages
    assert all(m.startswith("model.safetensors.index.json: ") for m in messages)


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("name", ["llama", "gpt2", "llama-bf16"])
def test_pytorch_bin_matches_state_dict(tiny_lms, tmp_path, name, zipped):
    path = tmp_path / "pytorch_model.bin"
    torch.save(tiny_lms[name].state_dict(), path, _use_new_zipfile_serialization=zipped)
    inv = read_pytorch(path)
    assert_clean(inv)
    assert inv.format == ("pytorch-zip" if zipped else "pytorch-pickle")
    loaded = torch.load(path, weights_only=True)
    assert list(as_dict(inv)) == list(loaded)  # same names, same order
    assert as_dict(inv) == inventory_of(loaded)
    assert inv.parameters == sum(t.numel() for t in loaded.values())
    assert read_weights(path).tensors == inv.tensors


def test_pytorch_tied_weights_are_marked_shared(tiny_lms, tmp_path):
    path = tmp_path / "gpt2.bin"
    torch.save(tiny_lms["gpt2"].state_dict(), path)
    assert read_pytorch(path).metadata["shared_tensors"] == {"lm_head.weight": "transformer.wte.weight"}


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_pytorch_nested_state_dict_and_parameters(tmp_path, wrapper):
    state = {"w": torch.nn.Parameter(torch.zeros(3, 2)), "b": torch.ones(2, dtype=torch.float16), "step": torch.tensor(5)}
    path = tmp_path / "ckpt.pt"
    torch.save({wrapper: state, "epoch": 3, "args": {"lr": 0.1}}, path)
    inv = read_pytorch(path)
    assert_clean(inv)
    assert as_dict(inv) == {"w": ("F32", (3, 2)), "b": ("F16", (2,)), "step": ("I64", ())}
    assert inv.metadata["state_dict_key"] == wrapper


def test_pytorch_views_and_new_dtypes(tmp_path):
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    state = {"base": base, "row": base[1], "col": base[:, 2], "f8": torch.zeros(5, dtype=torch.float8_e4m3fn)}
    for zipped in (True, False):
        path = tmp_path / f"views-{zipped}.pt"
        torch.save(state, path, _use_new_zipfile_serialization=zipped)
        inv = read_pytorch(path)
        assert_clean(inv)
        assert as_dict(inv) == {"base": ("F32", (3, 4)), "row": ("F32", (4,)), "col": ("F32", (3,)), "f8": ("F8_E4M3", (5,))}


def _write_gguf(path: Path) -> None:
    import gguf

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_block_count(2)
    writer.add_token_list([f"token{i}" for i in range(1000)])
    writer.add_string("general.name", "tiny")
    writer.add_tensor("token_embd.weight", np.zeros((64, 16), dtype=np.float32))
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(16, dtype=np.float16))
    quantised = gguf.quants.quantize(np.random.default_rng(0).random((4, 64), dtype=np.float32), gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("blk.0.ffn_up.weight", quantised, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture
def gguf_file(tmp_path) -> Path:
    path = tmp_path / "tiny.gguf"
    _write_gguf(path)
    return path


def test_gguf_is_exact(gguf_file):
    inv = read_gguf(gguf_file)
    assert_clean(inv)
    assert as_dict(inv) == {
        "token_embd.weight": ("F32", (64, 16)),
        "blk.0.attn_norm.weight": ("F16", (16,)),
        "blk.0.ffn_up.weight": ("Q8_0", (4, 64)),
    }
    assert inv.parameters == 64 * 16 + 16 + 4 * 64
    assert inv.metadata["general.architecture"] == "llama"
    assert inv.metadata["llama.block_count"] == 2
    assert inv.metadata["general.name"] == "tiny"
    assert inv.metadata["tokenizer.ggml.tokens"] == {"array_of": "STRING", "length": 1000}  # not the words
    assert inv.metadata["GGUF.version"] == 3
    assert read_weights(gguf_file).tensors == inv.tensors


def test_onnx_initializers(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros((4, 3), dtype=np.float32), "fc.weight")
    bias = numpy_helper.from_array(np.zeros(3, dtype=np.float16), "fc.bias")
    shape = numpy_helper.from_array(np.array([1, 3], dtype=np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "fc.weight"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializer=[weight, bias, shape],
    )
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph), path)
    inv = read_onnx(path)
    assert_clean(inv)
    assert as_dict(inv) == {"fc.weight": ("F32", (4, 3)), "fc.bias": ("F16", (3,)), "shape": ("I64", (2,))}
    assert inv.metadata["inputs"] == ["x"] and inv.metadata["graph"] == "tiny"
    assert read_weights(path).tensors == inv.tensors
    (tmp_path / "bad.onnx").write_bytes(b"\xff" * 40)
    assert_one_error(read_onnx(tmp_path / "bad.onnx"), "not a valid ONNX model")


# ---------------------------------------------------------------- bad safetensors
def safetensors_bytes(header: dict, data: bytes = b"", declared: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if declared is None else declared) + raw + data


GOOD = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, "b": {"dtype": "F16", "shape": [2], "data_offsets": [16, 20]}}

BAD_SAFETENSORS = {
    "truncated": (safetensors_bytes(GOOD, bytes(20))[:30], ["exceeds file size"]),
    "too_short": (b"\x05\x00", ["too short"]),
    "length_past_file": (safetensors_bytes(GOOD, bytes(20), declared=9_999_999), ["header length 9999999 exceeds file size"]),
    "header_over_100MB": (struct.pack("<Q", 100_000_001) + b"{}", ["header length 100000001 exceeds the 100000000-byte limit"]),
    "invalid_json": (struct.pack("<Q", 5) + b"{nope", ["not valid JSON"]),
    "not_utf8": (struct.pack("<Q", 2) + b"\xff\xfe", ["not UTF-8"]),
    "not_object": (safetensors_bytes([1, 2]), ["expected an object"]),
    "duplicate_key": (struct.pack("<Q", 17) + b'{"a": 1, "a": 2} ', ["duplicate key 'a'"]),
    "unknown_dtype": (safetensors_bytes({"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}, bytes(4)), ["unknown dtype 'F33'"]),
    "negative_shape": (safetensors_bytes({"a": {"dtype": "F32", "shape": [-1, 4], "data_offsets": [0, 4]}}, bytes(4)), ["negative dimension"]),
    "overflowing_shape": (safetensors_bytes({"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 4]}}, bytes(4)), ["overflows"]),
    "offsets_past_end": (safetensors_bytes(GOOD, bytes(10)), ["past the end of the data (10 bytes)"]),
    "offsets_overlap": (safetensors_bytes({**GOOD, "b": {"dtype": "F16", "shape": [2], "data_offsets": [12, 16]}}, bytes(16)), ["overlap"]),
    "offsets_wrong_size": (safetensors_bytes({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}, bytes(12)), ["hold 12 bytes but F32 [2, 2] needs 16"]),
    "bad_metadata": (safetensors_bytes({"__metadata__": {"n": 1}}), ["__metadata__"]),
    "garbage": (os.urandom(3) + b"\x00" * 5 + os.urandom(64), []),
}


@pytest.mark.parametrize("case", sorted(BAD_SAFETENSORS))
def test_bad_safetensors_is_one_clear_error(tmp_path, case):
    content, words = BAD_SAFETENSORS[case]
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    assert_one_error(read_safetensors_header(path), *words)
    assert not read_weights(path).ok


def test_good_safetensors_bytes_are_clean(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors_bytes(GOOD, bytes(20)))
    inv = read_safetensors_header(path)
    assert_clean(inv)
    assert inv.parameters == 6


# ---------------------------------------------------------------- bad GGUF
def gguf_header(version: int = 3, tensors: int = 0, kvs: int = 0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


def gguf_string(text: str | bytes, declared: int | None = None) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw) if declared is None else declared) + raw


BAD_GGUF = {
    "wrong_magic": (b"GGML" + bytes(40), ["not a GGUF file"]),
    "empty": (b"", ["not a GGUF file"]),
    "version_1": (gguf_header(version=1), ["GGUF version 1 is not supported"]),
    "version_99": (gguf_header(version=99), ["GGUF version 99 is not supported"]),
    "tensor_count_past_end": (gguf_header(tensors=10**12), ["tensor count 1000000000000 past the end of the file"]),
    "kv_count_past_end": (gguf_header(kvs=2**63), ["metadata count", "past the end of the file"]),
    "string_length_past_end": (gguf_header(kvs=1) + gguf_string("k", declared=2**40) + bytes(16), ["metadata key length 1099511627776 past the end"]),
    "array_length_past_end": (
        gguf_header(kvs=1) + gguf_string("k") + struct.pack("<IIQ", 9, 8, 2**50) + bytes(16),
        ["array length 1125899906842624 past the end"],
    ),
    "unknown_value_type": (gguf_header(kvs=1) + gguf_string("k") + struct.pack("<I", 77), ["unknown value type 77"]),
    "unknown_ggml_type": (
        gguf_header(tensors=1) + gguf_string("t") + struct.pack("<IQIQ", 1, 32, 999, 0) + bytes(128),
        ["tensor 't': unknown ggml type 999"],
    ),
    "too_many_dims": (gguf_header(tensors=1) + gguf_string("t") + struct.pack("<I", 9) + bytes(128), ["9 dimensions"]),
    "data_past_end": (
        gguf_header(tensors=1) + gguf_string("t") + struct.pack("<IQIQ", 1, 1000, 0, 0) + bytes(64),
        ["tensor 't': data (4000 bytes at offset 0) past the end of the file"],
    ),
    "truncated_tensor_info": (gguf_header(tensors=1) + gguf_string("t") + struct.pack("<IQ", 2, 7) + bytes(12), ["past the end of the file"]),
}


@pytest.mark.parametrize("case", sorted(BAD_GGUF))
def test_bad_gguf_is_one_clear_error(tmp_path, case):
    content, words = BAD_GGUF[case]
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    assert_one_error(read_gguf(path), *words)


def test_truncated_real_gguf(gguf_file):
    content = gguf_file.read_bytes()
    for cut in (10, 30, len(content) // 2, len(content) - 40):  # the last 31 bytes may be padding
        gguf_file.write_bytes(content[:cut])
        assert_one_error(read_gguf(gguf_file), "past the end of the file")


# ---------------------------------------------------------------- bad torch files
def test_zip_that_is_not_a_torch_archive(tmp_path):
    path = tmp_path / "model.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert_one_error(read_pytorch(path), "zip is not a torch archive")
    assert_one_error(read_weights(path), "zip is not a torch archive")


def test_broken_zip_and_garbage(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04" + os.urandom(100))
    assert_one_error(read_pytorch(path), "not a readable zip archive")
    path.write_bytes(b"\x80\x02" + b"\xfe" * 50)
    assert_one_error(read_pytorch(path), "not a valid pickle")
    path.write_bytes(b"")
    assert_one_error(read_pytorch(path))


def test_torch_zip_missing_storage_and_truncated_legacy(tmp_path):
    path = tmp_path / "model.bin"
    torch.save({"w": torch.zeros(4, 4)}, path)
    with zipfile.ZipFile(path) as src:
        records = {i.filename: src.read(i) for i in src.infolist()}
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in records.items():
            if "/data/" not in name:
                dst.writestr(name, data)
    assert_one_error(read_pytorch(path), "storage record", "is missing")
    torch.save({"w": torch.zeros(4, 4)}, path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:-10])
    assert_one_error(read_pytorch(path), "past the end of the file")


def test_pickle_bounds_refuse_rather_than_run_away(tmp_path, monkeypatch):
    path = tmp_path / "big.bin"
    torch.save({f"t{i}": torch.zeros(1) for i in range(200)}, path)
    monkeypatch.setattr(pickle_scan, "MAX_WORK", 500)
    assert_one_error(read_pytorch(path), "more than 500 steps")
    monkeypatch.setattr(pickle_scan, "MAX_WORK", 5_000_000)
    monkeypatch.setattr(pickle_scan, "MAX_MEMO", 100)
    assert_one_error(read_pytorch(path), "memo grows past 100")


# ---------------------------------------------------------------- malicious pickles are reported, not run
class _Evil:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _assert_flags_system(inv: TensorInventory, target: Path) -> None:
    assert not target.exists(), "the payload ran"
    assert not inv.ok
    assert "posix.system" in inv.unsafe_globals or "os.system" in inv.unsafe_globals
    unsafe = [f.message for f in inv.findings if f.severity == "unsafe"]
    assert any("os.system" in m for m in unsafe), unsafe
    assert all(m.startswith(f"{inv.path.name}: ") for m in unsafe)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_plain_pickle_with_os_system_is_unsafe_and_not_run(tmp_path, protocol):
    target = tmp_path / "pwned"
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(pickle.dumps({"weight": _Evil(target)}, protocol=protocol))
    inv = read_pytorch(path)
    _assert_flags_system(inv, target)
    assert any("posix.system (os.system)" in f.message for f in inv.findings)  # Linux spelling, and ours
    _assert_flags_system(read_weights(path), target)


def test_torch_zip_with_malicious_data_pkl(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, path)
    with zipfile.ZipFile(path) as src:
        records = {i.filename: src.read(i) for i in src.infolist()}
    payload = pickle.dumps({"w": _Evil(target)}, protocol=2)
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in records.items():
            dst.writestr(name, payload if name.endswith("/data.pkl") else data)
    inv = read_pytorch(path)
    assert inv.format == "pytorch-zip"
    _assert_flags_system(inv, target)


def test_legacy_torch_file_with_malicious_object(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "model.pth"
    buf = io.BytesIO()
    for part in (pickle_scan.LEGACY_MAGIC, pickle_scan.LEGACY_PROTOCOL, {"little_endian": True}, {"w": _Evil(target)}, []):
        pickle.dump(part, buf, protocol=2)
    path.write_bytes(buf.getvalue())
    _assert_flags_system(read_pytorch(path), target)


@pytest.mark.parametrize(
    "module,name",
    [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"), ("__builtin__", "eval"), ("subprocess", "Popen")],
)
def test_dangerous_globals_are_flagged_under_every_spelling(tmp_path, module, name):
    # Hand-written pickles: GLOBAL (protocol 0) and STACK_GLOBAL (protocol 4), each then REDUCEd.
    cmd = b"Vtouch " + str(tmp_path / "pwned").encode() + b"\n"
    proto0 = b"c" + module.encode() + b"\n" + name.encode() + b"\n(" + cmd + b"tR."
    proto4 = (
        b"\x80\x04\x8c" + bytes([len(module)]) + module.encode() + b"\x8c" + bytes([len(name)]) + name.encode()
        + b"\x93(" + cmd + b"tR."
    )
    for content in (proto0, proto4):
        path = tmp_path / "model.bin"
        path.write_bytes(content)
        inv = read_pytorch(path)
        assert f"{module}.{name}" in inv.unsafe_globals
        assert any(f.severity == "unsafe" and f"{module}.{name}" in f.message for f in inv.findings)
        assert not (tmp_path / "pwned").exists()


def test_stack_global_with_computed_name_is_unsafe(tmp_path):
    # The module name comes out of a call: we cannot know what it imports.
    content = b"\x80\x04cbuiltins\nstr\n)R\x8c\x06system\x93."
    path = tmp_path / "model.bin"
    path.write_bytes(content)
    inv = read_pytorch(path)
    assert "builtins.str" in inv.unsafe_globals and "<computed>" in inv.unsafe_globals


# ---------------------------------------------------------------- the dispatcher
def test_read_weights_picks_the_reader_by_content_then_suffix(tmp_path, gguf_file):
    disguised = tmp_path / "weights.bin"
    disguised.write_bytes(gguf_file.read_bytes())
    assert read_weights(disguised).format == "gguf"
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello")
    assert_one_error(read_weights(unknown), "not a weight file we can read")
    assert_one_error(read_weights(tmp_path / "absent.safetensors"), "cannot read the file")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    assert_one_error(read_weights(empty), "too short")


@pytest.mark.parametrize(
    "content,words",
    [
        (b"\x80\x02" + b"(" * 50_000 + b")" + b"t" * 50_000 + b"Q.", ["unexpected persistent id"]),  # deep pid
        (b"\x80\x02]" + b"]" * 50_000 + b"a" * 50_000 + b".", ["nested deeper than 64 levels"]),
        (b"\x80\x02]q\x00h\x00a.", ["plain pickle"]),  # a list that holds itself
        (b"\x80\x04\x8d" + struct.pack("<Q", 2**62) + b"abc", ["not a valid pickle"]),  # huge BINUNICODE8
        (b"\x80\x02h\x05.", ["memo entry 5 read before written"]),
        (b"\x80\x02e.", ["no MARK"]),
    ],
    ids=["deep-persistent-id", "deep-lists", "cycle", "huge-string-length", "bad-memo", "no-mark"],
)
def test_hostile_pickle_structures(tmp_path, content, words):
    path = tmp_path / "model.bin"
    path.write_bytes(content)
    assert_one_error(read_pytorch(path), *words)
