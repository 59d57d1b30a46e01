"""inspect on real (tiny, random) transformers models: family and exact parameter count from
headers and from the config alone must agree with `sum(p.numel() for p in model.parameters())`."""

from __future__ import annotations

import shutil

import pytest

from bigmodel.taxonomy.inspect import inspect_paths

# The tiny models built by the `tiny_models` fixture (conftest.py).
MODEL_NAMES = ["llama", "qwen2", "mistral", "mixtral", "gpt2", "bert", "vit", "clip", "llava", "whisper"]


def _one(path):
    reports = inspect_paths([path])
    assert len(reports) == 1, [r.path for r in reports]
    return reports[0]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_safetensors_directory_counts_from_headers(tiny_models, name):
    tiny = tiny_models[name]
    report = _one(tiny.safetensors_dir)
    assert report.family == tiny.family, report.family_evidence
    assert report.parameters == tiny.parameters
    assert report.parameter_source == "headers"
    assert report.safety == "safe"
    assert report.dtypes == ["F32"]
    assert report.memory == {"fp32": 4 * tiny.parameters, "bf16": 2 * tiny.parameters, "int8": tiny.parameters, "int4": -(-tiny.parameters // 2)}
    assert not report.has_problems, report.findings


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_pytorch_bin_directory_leaves_out_tied_aliases(tiny_models, name):
    # torch.save(state_dict) stores lm_head.weight beside embed_tokens.weight when they are tied
    # (qwen2, gpt2, whisper here); the count must still be the model's parameter count.
    tiny = tiny_models[name]
    report = _one(tiny.bin_dir)
    assert report.family == tiny.family
    assert report.parameters == tiny.parameters
    assert report.parameter_source == "headers"
    assert report.safety == "safe", report.findings


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_config_only_directory_counts_on_meta_device(tiny_models, name):
    tiny = tiny_models[name]
    report = _one(tiny.config_dir)
    assert report.family == tiny.family
    assert report.parameters == tiny.parameters
    assert report.parameter_source == "config (meta device)"
    assert report.safety == "no weights"
    assert report.weight_files == []


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bare_safetensors_file_is_classified_by_tensor_names(tiny_models, name):
    tiny = tiny_models[name]
    report = _one(tiny.bare_safetensors)
    assert report.kind == "safetensors"
    assert report.family == tiny.family, report.family_evidence
    assert report.parameters == tiny.parameters
    assert "tensor names" in report.family_evidence


def test_folder_of_models_lists_each_model_once(tiny_models, tmp_path):
    # Two model directories and a sharded checkpoint inside a folder of folders.
    import transformers

    shutil.copytree(tiny_models["llama"].safetensors_dir, tmp_path / "org" / "llama")
    shutil.copytree(tiny_models["vit"].bin_dir, tmp_path / "org" / "vision" / "vit")
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=64, n_positions=32, bos_token_id=0, eos_token_id=0))
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert len(list((tmp_path / "sharded").glob("*.safetensors"))) > 1
    (tmp_path / "sharded" / "config.json").unlink()  # just the shards and their index

    reports = inspect_paths([tmp_path])
    by_name = {r.name: r for r in reports}
    assert sorted(by_name) == ["llama", "sharded", "vit"]
    assert by_name["sharded"].kind == "safetensors-index"
    assert by_name["sharded"].parameters == sum(p.numel() for p in model.parameters())
    assert by_name["sharded"].family == "llm"
    assert by_name["vit"].family == "vision"


def test_sharded_model_directory_is_one_model(tmp_path):
    import transformers

    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, vocab_size=128))
    model.save_pretrained(tmp_path / "llama", max_shard_size="30KB")
    reports = inspect_paths([tmp_path])
    assert [r.name for r in reports] == ["llama"]
    assert reports[0].parameters == sum(p.numel() for p in model.parameters())
    assert len(reports[0].weight_files) == 1 and reports[0].weight_files[0].endswith("model.safetensors.index.json")


def test_chat_template_marks_chat(tiny_models, tmp_path):
    model_dir = shutil.copytree(tiny_models["qwen2"].safetensors_dir, tmp_path / "qwen2-tiny")
    assert _one(model_dir).chat is False
    (model_dir / "tokenizer_config.json").write_text('{"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"}')
    report = _one(model_dir)
    assert report.chat is True
    assert report.chat_evidence == "chat_template in tokenizer_config.json"


def test_instruct_name_marks_chat(tiny_models, tmp_path):
    model_dir = shutil.copytree(tiny_models["mistral"].safetensors_dir, tmp_path / "Mistral-tiny-Instruct-v0.2")
    report = _one(model_dir)
    assert report.chat is True and "Instruct" in report.chat_evidence


def test_gguf_file(tmp_path):
    import gguf
    import numpy as np

    path = tmp_path / "tiny-llama-chat.Q8.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    shapes = {"token_embd.weight": (64, 16), "blk.0.attn_q.weight": (16, 16), "output_norm.weight": (16,)}
    for name, shape in shapes.items():
        writer.add_tensor(name, np.zeros(shape, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    report = _one(path)
    assert report.kind == "gguf"
    assert report.family == "llm" and report.architecture == "llama"
    assert report.parameters == 64 * 16 + 16 * 16 + 16
    assert report.chat is True and report.chat_evidence == "GGUF tokenizer.chat_template"
    assert report.safety == "safe"


def test_batch_norm_statistics_are_buffers_not_parameters(tmp_path):
    # A convolutional net stores its batch-norm running statistics beside the weights.
    from transformers import ResNetConfig, ResNetForImageClassification

    model = ResNetForImageClassification(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=3))
    model.save_pretrained(tmp_path / "resnet")
    report = _one(tmp_path / "resnet")
    assert report.family == "vision"
    assert report.parameters == sum(p.numel() for p in model.parameters())
