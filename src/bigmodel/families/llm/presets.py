"""Every LLM size in one place, from `tiny` (tests, seconds on a CPU) to `7b` (a GPU cluster).

A preset fixes the architecture (a LLaMA: RoPE, RMSNorm, SwiGLU, grouped-query attention) and
the training recipe. A TOML file given with `--config` may override any field, e.g.

    hidden_size = 256
    steps = 2000
    learning_rate = 1e-3
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

from bigmodel.errors import BigModelError


@dataclasses.dataclass(frozen=True)
class LLMConfig:
    # architecture
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    seq_len: int
    tie_word_embeddings: bool = True
    rope_theta: float = 10000.0
    # training
    steps: int = 100
    batch_size: int = 16  # sequences per optimizer step, across all processes
    micro_batch_size: int = 16  # sequences per forward pass; the rest is gradient accumulation
    learning_rate: float = 3e-3
    min_lr_ratio: float = 0.1  # cosine decays to this fraction of the peak
    warmup_steps: int = 10
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_every: int = 25
    eval_batches: int = 4
    save_every: int = 50
    val_fraction: float = 0.05
    # torch.compile the model's forward for runs of 100 steps or more: fewer, fused kernels (1.15x
    # on a CPU at the small preset, more with bf16) for a one-off compilation of about 30 s.
    compile: bool = True

    def llama_config(self, *, bos_token_id: int, eos_token_id: int, pad_token_id: int | None) -> Any:
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            max_position_embeddings=self.seq_len,
            tie_word_embeddings=self.tie_word_embeddings,
            rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta},
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
        )

    def architecture(self) -> dict[str, Any]:
        """The fields that must match for a checkpoint to resume into this model."""
        names = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                 "intermediate_size", "seq_len", "tie_word_embeddings")
        return {n: getattr(self, n) for n in names}


PRESETS: dict[str, LLMConfig] = {
    # Seconds on a CPU: tests and `zoo --quick`.
    "tiny": LLMConfig(
        vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=172, seq_len=64, steps=60, batch_size=8, micro_batch_size=8, learning_rate=3e-3,
        warmup_steps=5, eval_every=20, eval_batches=2, save_every=20, compile=False,
    ),
    # The zoo's demo: ~2.4M parameters, a few minutes on 2 CPU cores.
    "small": LLMConfig(
        vocab_size=4096, hidden_size=192, num_hidden_layers=4, num_attention_heads=6, num_key_value_heads=2,
        intermediate_size=512, seq_len=128, steps=400, batch_size=32, micro_batch_size=32, learning_rate=3e-3,
        warmup_steps=30, eval_every=100, eval_batches=8, save_every=100,
    ),
    # GPT-3 Small scale; one GPU.
    "125m": LLMConfig(
        vocab_size=32000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4,
        intermediate_size=2048, seq_len=1024, tie_word_embeddings=False, steps=20000, batch_size=256,
        micro_batch_size=16, learning_rate=6e-4, warmup_steps=1000, eval_every=500, eval_batches=20, save_every=1000,
    ),
    # TinyLlama shape; several GPUs, FSDP.
    "1b": LLMConfig(
        vocab_size=32000, hidden_size=2048, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
        intermediate_size=5632, seq_len=2048, tie_word_embeddings=False, steps=100000, batch_size=512,
        micro_batch_size=8, learning_rate=4e-4, warmup_steps=2000, eval_every=1000, eval_batches=20, save_every=1000,
    ),
    # LLaMA-2 7B shape (with grouped-query attention); a cluster, FSDP.
    "7b": LLMConfig(
        vocab_size=32000, hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
        intermediate_size=11008, seq_len=4096, tie_word_embeddings=False, steps=250000, batch_size=1024,
        micro_batch_size=1, learning_rate=3e-4, warmup_steps=2000, eval_every=1000, eval_batches=20, save_every=500,
    ),
}


def _coerce(field: dataclasses.Field, value: Any, where: str) -> Any:
    expected = {"int": int, "float": float, "bool": bool}[field.type]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise BigModelError(f"{where}: '{field.name}' must be {field.type}, found {value!r}")
    return value


def validate(config: LLMConfig, where: str = "config") -> LLMConfig:
    """Refuse configurations that cannot train, naming the field."""
    positive = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "intermediate_size", "seq_len", "steps", "batch_size", "micro_batch_size", "eval_every",
                "eval_batches", "save_every")
    for name in positive:
        if getattr(config, name) <= 0:
            raise BigModelError(f"{where}: '{name}' must be positive, found {getattr(config, name)}")
    for name in ("learning_rate", "rope_theta"):
        if not (math.isfinite(getattr(config, name)) and getattr(config, name) > 0):
            raise BigModelError(f"{where}: '{name}' must be a finite positive number, found {getattr(config, name)}")
    for name in ("weight_decay", "grad_clip"):
        if not math.isfinite(getattr(config, name)):
            raise BigModelError(f"{where}: '{name}' must be a finite number, found {getattr(config, name)}")
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(config, name) < 1:
            raise BigModelError(f"{where}: '{name}' must be in [0, 1), found {getattr(config, name)}")
    if config.hidden_size % config.num_attention_heads:
        raise BigModelError(
            f"{where}: num_attention_heads ({config.num_attention_heads}) must divide hidden_size "
            f"({config.hidden_size})"
        )
    if config.num_attention_heads % config.num_key_value_heads:
        raise BigModelError(
            f"{where}: num_key_value_heads ({config.num_key_value_heads}) must divide num_attention_heads "
            f"({config.num_attention_heads})"
        )
    if (config.hidden_size // config.num_attention_heads) % 2:
        raise BigModelError(f"{where}: the head size hidden_size/num_attention_heads must be even for RoPE")
    if config.warmup_steps < 0 or config.weight_decay < 0 or config.grad_clip <= 0:
        raise BigModelError(f"{where}: warmup_steps and weight_decay must be >= 0 and grad_clip > 0")
    if not 0 <= config.min_lr_ratio <= 1 or not 0 < config.val_fraction < 1:
        raise BigModelError(f"{where}: min_lr_ratio must be in [0, 1] and val_fraction in (0, 1)")
    if config.vocab_size < 300:
        raise BigModelError(f"{where}: 'vocab_size' must be at least 300 (256 bytes + special tokens)")
    return config


def load_config(preset: str, config_file: str | Path | None = None, **overrides: Any) -> LLMConfig:
    """A preset, then the TOML file's fields, then explicit overrides (e.g. from the command line)."""
    if preset not in PRESETS:
        raise BigModelError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    fields = {f.name: f for f in dataclasses.fields(LLMConfig)}
    values: dict[str, Any] = {}
    where = f"preset {preset}"
    if config_file is not None:
        path = Path(config_file)
        where = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BigModelError(f"{path}: no such config file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise BigModelError(f"{path}: not valid TOML ({err})") from None
        for key, value in data.items():
            if key not in fields:
                raise BigModelError(f"{path}: unknown field '{key}'; known fields: {', '.join(fields)}")
            values[key] = _coerce(fields[key], value, str(path))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return validate(dataclasses.replace(PRESETS[preset], **values), where)
