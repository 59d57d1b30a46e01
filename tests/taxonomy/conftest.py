"""Tiny random `transformers` models, built once per session and saved the ways people save them."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

TEXT = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, vocab_size=64, max_position_embeddings=64)
SMALL_VISION = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8)


def _builders() -> dict[str, tuple[str, Callable[[], Any]]]:
    """name -> (expected family, model factory). Token ids are set inside the tiny vocabularies."""
    import transformers as T

    return {
        "llama": ("llm", lambda: T.LlamaForCausalLM(T.LlamaConfig(**TEXT))),
        "qwen2": ("llm", lambda: T.Qwen2ForCausalLM(T.Qwen2Config(**TEXT, tie_word_embeddings=True))),
        "mistral": ("llm", lambda: T.MistralForCausalLM(T.MistralConfig(**TEXT))),
        "mixtral": ("llm", lambda: T.MixtralForCausalLM(T.MixtralConfig(**TEXT, num_local_experts=4, num_experts_per_tok=2))),
        "gpt2": ("llm", lambda: T.GPT2LMHeadModel(T.GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=64, n_positions=32, bos_token_id=0, eos_token_id=0))),
        "bert": ("encoder", lambda: T.BertModel(T.BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, vocab_size=64, max_position_embeddings=32))),
        "vit": ("vision", lambda: T.ViTForImageClassification(T.ViTConfig(**SMALL_VISION, num_labels=3))),
        "clip": (
            "multimodal",
            lambda: T.CLIPModel(
                T.CLIPConfig(
                    text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=64, max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1),
                    vision_config=SMALL_VISION,
                    projection_dim=8,
                )
            ),
        ),
        "llava": (
            "multimodal",
            lambda: T.LlavaForConditionalGeneration(
                T.LlavaConfig(vision_config=dict(model_type="clip_vision_model", **SMALL_VISION), text_config=dict(model_type="llama", **TEXT), image_token_index=63)
            ),
        ),
        "whisper": (
            "audio",
            lambda: T.WhisperForConditionalGeneration(
                T.WhisperConfig(
                    d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                    decoder_ffn_dim=32, vocab_size=64, max_source_positions=32, max_target_positions=32, num_mel_bins=8,
                    pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=3,
                )
            ),
        ),
    }


@dataclasses.dataclass
class TinyModel:
    name: str
    family: str
    parameters: int  # sum(p.numel() for p in model.parameters()): the figure inspect must report
    safetensors_dir: Path  # save_pretrained: config.json + model.safetensors
    bin_dir: Path  # config.json + pytorch_model.bin from torch.save(state_dict) (tied weights stored twice)
    config_dir: Path  # config.json only
    bare_safetensors: Path  # model.safetensors alone in a folder, no config


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, TinyModel]:
    import torch
    from transformers.utils import logging

    logging.set_verbosity_error()
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny")
    models = {}
    for name, (family, build) in _builders().items():
        model = build()
        st, pt, cfg, bare = (root / kind / name for kind in ("safetensors", "bin", "config", "bare"))
        model.save_pretrained(st)
        pt.mkdir(parents=True)
        shutil.copy(st / "config.json", pt / "config.json")
        torch.save(model.state_dict(), pt / "pytorch_model.bin")
        cfg.mkdir(parents=True)
        shutil.copy(st / "config.json", cfg / "config.json")
        bare.mkdir(parents=True)
        shutil.copy(st / "model.safetensors", bare / f"{name}.safetensors")
        models[name] = TinyModel(name, family, sum(p.numel() for p in model.parameters()), st, pt, cfg, bare / f"{name}.safetensors")
    return models


def _write_config(folder: Path, config: dict[str, Any], name: str = "config.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(config), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def write_config() -> Callable[..., Path]:
    """write_config(folder, config, name="config.json") -> folder: a config-only model directory."""
    return _write_config
