"""inspect on config-only directories of published models, model cards, remote-code configs and bad input."""

from __future__ import annotations

import json

import pytest

from bigmodel.checkpoint import ModelCard, write_card
from bigmodel.taxonomy.classify import classify_config
from bigmodel.taxonomy.count import estimate_decoder_only
from bigmodel.taxonomy.inspect import inspect_paths
from bigmodel.taxonomy.report import markdown_table, summary_line

# Published config.json values (the fields that shape the model), written out literally.
# Expected counts: the "Model size" the Hugging Face Hub shows for the repository, which it sums
# from the safetensors headers; each one also equals transformers' meta-device count.
PUBLISHED = {
    # meta-llama/Llama-2-7b-hf. Hub: 6.74B params (6,738,415,616). Untied lm_head.
    "Llama-2-7b-hf": (
        {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "bos_token_id": 1, "eos_token_id": 2,
            "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008,
            "max_position_embeddings": 4096, "num_attention_heads": 32, "num_hidden_layers": 32,
            "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None,
            "tie_word_embeddings": False, "torch_dtype": "float16", "use_cache": True, "vocab_size": 32000,
        },
        6_738_415_616, "llm", True,
    ),
    # Qwen/Qwen2-0.5B. Hub: 494M params (494,032,768); the model card rounds to 0.49B. Tied
    # embeddings: lm_head is embed_tokens, so 151936·896 is counted once.
    "Qwen2-0.5B": (
        {
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "attention_dropout": 0.0,
            "bos_token_id": 151643, "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896,
            "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 131072,
            "max_window_layers": 24, "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
            "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": True,
            "torch_dtype": "bfloat16", "use_cache": True, "use_sliding_window": False, "vocab_size": 151936,
        },
        494_032_768, "llm", False,
    ),
    # mistralai/Mistral-7B-v0.1. Hub: 7.24B params (7,241,732,096); the paper says "7B".
    "Mistral-7B-v0.1": (
        {
            "architectures": ["MistralForCausalLM"], "model_type": "mistral", "bos_token_id": 1, "eos_token_id": 2,
            "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
            "max_position_embeddings": 32768, "num_attention_heads": 32, "num_hidden_layers": 32,
            "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
            "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True, "vocab_size": 32000,
        },
        7_241_732_096, "llm", True,
    ),
    # google/vit-base-patch16-224. Hub: 86.6M params (86,567,656) = ViT-B/16 (86M in the ViT paper)
    # plus the 1000-class head; ViTForImageClassification has no pooler. id2label holds the 1000
    # ImageNet class names; only their number matters for the count, so they are generated below.
    "vit-base-patch16-224": (
        {
            "architectures": ["ViTForImageClassification"], "model_type": "vit", "attention_probs_dropout_prob": 0.0,
            "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": 768, "image_size": 224,
            "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-12, "num_attention_heads": 12,
            "num_channels": 3, "num_hidden_layers": 12, "patch_size": 16, "qkv_bias": True,
            "id2label": {str(i): f"imagenet class {i}" for i in range(1000)},
        },
        86_567_656, "vision", False,
    ),
    # openai/clip-vit-base-patch32. Hub: 151M params (151,277,313, the 1 being logit_scale).
    "clip-vit-base-patch32": (
        {
            "architectures": ["CLIPModel"], "model_type": "clip", "initializer_factor": 1.0, "logit_scale_init_value": 2.6592,
            "projection_dim": 512,
            "text_config": {
                "hidden_size": 512, "intermediate_size": 2048, "num_attention_heads": 8, "num_hidden_layers": 12,
                "max_position_embeddings": 77, "vocab_size": 49408, "hidden_act": "quick_gelu", "projection_dim": 512,
                "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1,
            },
            "vision_config": {
                "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12,
                "image_size": 224, "patch_size": 32, "hidden_act": "quick_gelu", "projection_dim": 512,
            },
        },
        151_277_313, "multimodal", False,
    ),
    # openai/whisper-base. Hub: 72.6M params (72,593,920). The Whisper paper's table says 74M;
    # proj_out is tied to the decoder's embed_tokens (counted once) and the paper rounds.
    "whisper-base": (
        {
            "architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper", "activation_function": "gelu",
            "d_model": 512, "decoder_attention_heads": 8, "decoder_ffn_dim": 2048, "decoder_layers": 6,
            "encoder_attention_heads": 8, "encoder_ffn_dim": 2048, "encoder_layers": 6, "max_source_positions": 1500,
            "max_target_positions": 448, "num_mel_bins": 80, "vocab_size": 51865, "scale_embedding": False,
            "pad_token_id": 50257, "bos_token_id": 50257, "eos_token_id": 50257, "decoder_start_token_id": 50258,
            "tie_word_embeddings": True, "torch_dtype": "float32",
        },
        72_593_920, "audio", False,
    ),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_config_counts(tmp_path, write_config, name):
    config, expected, family, large = PUBLISHED[name]
    [report] = inspect_paths([write_config(tmp_path / name, config)])
    assert report.parameters == expected
    assert report.parameter_source == "config (meta device)"
    assert report.family == family
    assert report.large is large
    assert report.memory["bf16"] == 2 * expected


# THUDM/chatglm3-6b config.json: its model code ships beside it (auto_map), so transformers cannot
# build it without running that code, which bigmodel never does.
CHATGLM3_6B = {
    "_name_or_path": "THUDM/chatglm3-6b", "model_type": "chatglm", "architectures": ["ChatGLMModel"],
    "auto_map": {
        "AutoConfig": "configuration_chatglm.ChatGLMConfig",
        "AutoModel": "modeling_chatglm.ChatGLMForConditionalGeneration",
        "AutoModelForCausalLM": "modeling_chatglm.ChatGLMForConditionalGeneration",
    },
    "add_bias_linear": False, "add_qkv_bias": True, "apply_query_key_layer_scaling": True,
    "apply_residual_connection_post_layernorm": False, "attention_dropout": 0.0, "attention_softmax_in_fp32": True,
    "bias_dropout_fusion": True, "ffn_hidden_size": 13696, "fp32_residual_connection": False, "hidden_dropout": 0.0,
    "hidden_size": 4096, "kv_channels": 128, "layernorm_epsilon": 1e-05, "multi_query_attention": True,
    "multi_query_group_num": 2, "num_attention_heads": 32, "num_layers": 28, "original_rope": True,
    "padded_vocab_size": 65024, "post_layer_norm": True, "rmsnorm": True, "seq_length": 8192, "use_cache": True,
    "torch_dtype": "float16", "tie_word_embeddings": False, "eos_token_id": 2, "pad_token_id": 0,
}
# Hub: 6.24B params. Worked out by hand from modeling_chatglm.py: embeddings and output layer
# 2·65024·4096; per layer q 4096², k+v 2·4096·256, qkv bias 4096+512, dense 4096², SwiGLU
# 3·4096·13696, two RMSNorms 2·4096; 28 layers; final RMSNorm 4096.
CHATGLM3_6B_PARAMETERS = 6_243_584_000


def test_remote_code_config_is_estimated_and_never_run(tmp_path, write_config):
    model_dir = write_config(tmp_path / "chatglm3-6b", CHATGLM3_6B)
    marker = tmp_path / "REMOTE_CODE_RAN"
    for module in ("configuration_chatglm.py", "modeling_chatglm.py"):
        (model_dir / module).write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n")

    [report] = inspect_paths([model_dir])
    assert report.family == "llm"
    assert report.parameter_source == "estimated"
    assert report.parameters == CHATGLM3_6B_PARAMETERS
    assert report.large is True
    assert any("remote code" in f.message and f.severity == "warning" for f in report.findings)
    assert not marker.exists()


def test_estimate_formula_matches_meta_count_of_llama_and_qwen2():
    config, expected, _, _ = PUBLISHED["Llama-2-7b-hf"]
    assert estimate_decoder_only(config) == expected
    config, expected, _, _ = PUBLISHED["Qwen2-0.5B"]
    assert estimate_decoder_only(config) == expected


def test_vertical_card_shows_lineage(tmp_path, write_config):
    config, parameters, _, _ = PUBLISHED["Llama-2-7b-hf"]
    model_dir = write_config(tmp_path / "doctor-llama", config)
    write_card(
        model_dir,
        ModelCard(
            family="vertical", task="text-generation", input_modalities=["text"], output_modalities=["text"],
            parameters=parameters, architecture="LlamaForCausalLM", chat=True, base_model="meta-llama/Llama-2-7b-hf",
            domain="medical",
        ),
    )
    [report] = inspect_paths([model_dir])
    assert (report.family, report.domain, report.base_model) == ("vertical", "medical", "meta-llama/Llama-2-7b-hf")
    assert report.family_evidence == "bigmodel.json card"
    assert report.chat is True
    assert "vertical (medical) ← meta-llama/Llama-2-7b-hf" in markdown_table([report])


def test_decision_card_wins_over_a_config_without_model_type(tmp_path, write_config):
    model_dir = write_config(tmp_path / "alphazero-tictactoe", {"board": 3, "channels": 32})
    write_card(model_dir, ModelCard(family="decision", task="game-play", input_modalities=["game-state"], output_modalities=["action"], parameters=12345))
    [report] = inspect_paths([model_dir])
    assert report.family == "decision"
    assert (report.parameters, report.parameter_source) == (12345, "model card")
    assert not report.has_problems


def test_readme_front_matter_makes_a_vertical_model(tmp_path, write_config):
    config, _, _, _ = PUBLISHED["Qwen2-0.5B"]
    model_dir = write_config(tmp_path / "med-qwen", config)
    (model_dir / "README.md").write_text(
        "---\nbase_model: Qwen/Qwen2-0.5B\ntags:\n- medical\n- conversational\nlicense: apache-2.0\n---\n# Med-Qwen\n"
    )
    [report] = inspect_paths([model_dir])
    assert (report.family, report.domain, report.base_model) == ("vertical", "medical", "Qwen/Qwen2-0.5B")
    assert report.chat is True


@pytest.mark.parametrize(
    ("config", "family", "task"),
    [
        ({"model_type": "t5", "architectures": ["T5ForConditionalGeneration"]}, "llm", "text2text-generation"),
        ({"model_type": "siglip", "architectures": ["SiglipModel"]}, "multimodal", "zero-shot-image-classification"),
        ({"model_type": "qwen2_vl", "architectures": ["Qwen2VLForConditionalGeneration"]}, "multimodal", "image-text-to-text"),
        ({"model_type": "vision-encoder-decoder", "architectures": ["VisionEncoderDecoderModel"]}, "multimodal", "image-to-text"),
        ({"model_type": "wav2vec2", "architectures": ["Wav2Vec2ForCTC"]}, "audio", "automatic-speech-recognition"),
        ({"model_type": "roberta", "architectures": ["RobertaForSequenceClassification"]}, "encoder", "text-classification"),
        ({"model_type": "musicgen", "architectures": ["MusicgenForConditionalGeneration"]}, "generative", "text-to-audio"),
        ({"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.21.0"}, "generative", "text-to-image"),
        ({"model_type": "some_new_lm", "architectures": ["SomeNewLMForCausalLM"]}, "llm", "text-generation"),
        ({"model_type": "alphazero", "architectures": ["AlphaZeroNet"]}, "decision", "decision-making"),
        ({"model_type": "nothing_known"}, "unknown", "unknown"),
    ],
)
def test_classify_config_rules(config, family, task):
    result = classify_config(config)
    assert (result.family, result.task) == (family, task), result.why


def test_config_without_model_type_is_one_clear_finding(tmp_path, write_config):
    [report] = inspect_paths([write_config(tmp_path / "mystery", {"hidden_size": 16})])
    assert report.family == "unknown"
    errors = [f.message for f in report.findings if f.severity == "error"]
    assert errors == [f"{tmp_path / 'mystery' / 'config.json'}: no 'model_type' or 'architectures'; cannot tell what model this is"]


def test_invalid_json_is_one_clear_finding(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model_type": "llama",\n  "hidden_size": }\n')
    [report] = inspect_paths([tmp_path / "broken"])
    [finding] = report.findings
    assert finding.severity == "error"
    assert finding.message.startswith(f"{tmp_path / 'broken' / 'config.json'}: not valid JSON (line 2")
    assert "\n" not in finding.message


def test_empty_folder_is_a_finding(tmp_path):
    (tmp_path / "empty").mkdir()
    [report] = inspect_paths([tmp_path / "empty"])
    assert report.kind == "folder"
    assert [f.message for f in report.findings] == [f"{tmp_path / 'empty'}: empty folder, no model in it"]
    assert report.has_problems


def test_unreadable_weights_are_reported_not_raised(tmp_path, write_config):
    config, _, _, _ = PUBLISHED["Qwen2-0.5B"]
    model_dir = write_config(tmp_path / "truncated", config)
    (model_dir / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    [report] = inspect_paths([model_dir])
    assert report.safety == "unreadable"
    assert report.has_problems
    # The header could not be read, so the count falls back to the config.
    assert (report.parameters, report.parameter_source) == (494_032_768, "config (meta device)")


def test_summary_line_counts_families_and_problems(tmp_path, write_config):
    for name in ("Llama-2-7b-hf", "Mistral-7B-v0.1", "vit-base-patch16-224"):
        write_config(tmp_path / "models" / name, PUBLISHED[name][0])
    (tmp_path / "models" / "empty").mkdir()
    reports = inspect_paths([tmp_path / "models"])
    assert summary_line(reports) == "scanned 4 checkpoints: 2 llm, 1 vision, 1 unknown; 1 with errors"


def test_json_schema_keys(tmp_path, write_config):
    [report] = inspect_paths([write_config(tmp_path / "vit", PUBLISHED["vit-base-patch16-224"][0])])
    data = json.loads(json.dumps(report.to_json()))
    assert list(data) == [
        "path", "name", "kind", "family", "family_evidence", "input_modalities", "output_modalities", "architecture",
        "task", "parameters", "parameter_source", "large", "chat", "chat_evidence", "domain", "base_model", "dtypes",
        "memory_bytes", "weight_files", "safety", "findings",
    ]
    assert data["input_modalities"] == ["image"] and data["output_modalities"] == ["label"]
    assert data["memory_bytes"] == {"fp32": 346_270_624, "bf16": 173_135_312, "int8": 86_567_656, "int4": 43_283_828}


@pytest.mark.parametrize("config, field", [
    ({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": 64, "n_layer": 100_000, "n_head": 2}, "n_layer = 100,000"),
    ({"model_type": "llama", "hidden_size": 10**20, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 100},
     "hidden_size = 100,000,000,000,000,000,000"),
])
def test_a_config_no_real_model_could_have_is_not_built(tmp_path, write_config, config, field):
    """Building 100,000 layers even on the meta device took minutes and gigabytes: refused at once."""
    import time

    start = time.perf_counter()
    [report] = inspect_paths([write_config(tmp_path / "absurd", config)])
    assert time.perf_counter() - start < 5
    assert report.parameters is None
    warnings = [f.message for f in report.findings if f.severity == "warning"]
    assert any(f"config.json asks for {field}, more than any real model" in w for w in warnings), warnings
