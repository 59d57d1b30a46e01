"""Exact parameter counts, best source first.

1. "headers": the shapes stored in the weight files, summed. safetensors and GGUF never store a
   tied tensor twice; a PyTorch state dict does (`lm_head.weight` is `embed_tokens.weight`), and
   those aliases, found by the pickle reader, are left out, as are buffers old checkpoints saved.
2. "config (meta device)": the `transformers` class named by the config, built on the meta
   device (shapes, no memory) and its `parameters()` summed — exactly what
   `sum(p.numel() for p in model.parameters())` gives for the real model. Only classes that ship
   with `transformers`; `trust_remote_code` is never used.
3. "estimated": a formula for decoder-only transformers whose code is not in `transformers`
   (ChatGLM, Baichuan … with `auto_map`); see `estimate_decoder_only`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Iterator

from bigmodel.taxonomy.readers import TensorInfo, TensorInventory

HEADERS = "headers"
META = "config (meta device)"
ESTIMATED = "estimated"
CARD = "model card"


@dataclasses.dataclass
class Count:
    parameters: int | None
    source: str | None  # HEADERS, META, ESTIMATED, CARD; None when nothing could be counted
    problem: str | None = None  # why a better source was not usable, for a finding


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers warns about odd token ids etc. while building configs; inspect is not the place."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


# Beyond any real model (the largest have under 200 layers and widths under 10^6): a config asking
# for more is not built, since building even on the meta device takes time and memory per layer.
LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
WIDTH_KEYS = ("hidden_size", "n_embd", "d_model", "dim", "intermediate_size", "n_inner", "ffn_dim", "vocab_size",
              "num_attention_heads", "n_head")
MAX_LAYERS, MAX_WIDTH = 1_000, 100_000_000


def implausible(config: dict[str, Any]) -> str | None:
    """Why a config describes no model that could exist, or None."""
    for keys, limit in ((LAYER_KEYS, MAX_LAYERS), (WIDTH_KEYS, MAX_WIDTH)):
        for key in keys:
            value = config.get(key)
            if isinstance(value, int) and value > limit:
                return f"config.json asks for {key} = {value:,}, more than any real model ({limit:,}); not built"
    return None


def meta_model(config: dict[str, Any]) -> tuple[Any | None, str | None]:
    """The model a config describes, built on the meta device; (None, why) when it cannot be.

    The class is the first of `architectures` when transformers ships it, else the causal-LM or
    base class for the `model_type`. Remote code is never loaded: unknown classes are refused.
    """
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        return None, "config.json has no model_type" if model_type is None else f"config.json's model_type is not a name: {model_type!r}"
    too_large = implausible(config)
    if too_large:
        return None, too_large
    import torch
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if model_type not in CONFIG_MAPPING:
        return None, f"transformers does not know model_type {model_type!r}"
    architectures = config.get("architectures") or []
    name = architectures[0] if isinstance(architectures, list) and architectures else None
    try:
        with _quiet_transformers():
            hf_config = CONFIG_MAPPING[model_type].from_dict({k: v for k, v in config.items() if k != "auto_map"})
            if name is not None:
                model_class = getattr(transformers, str(name), None)
                if model_class is None:
                    return None, f"transformers has no class {name!r} (remote code is never run)"
                with torch.device("meta"):
                    return model_class(hf_config), None
            for auto_class in (transformers.AutoModelForCausalLM, transformers.AutoModel):
                with contextlib.suppress(ValueError):  # the model type has no class of this kind
                    with torch.device("meta"):
                        return auto_class.from_config(hf_config), None
            return None, f"transformers has no model class for {model_type!r}"
    except Exception as err:  # a config transformers rejects: bad values, missing fields
        return None, f"transformers cannot build {name or model_type} from config.json ({type(err).__name__}: {err})"


def count_meta(config: dict[str, Any]) -> Count:
    model, problem = meta_model(config)
    if model is None:
        return Count(None, None, problem)
    return Count(sum(p.numel() for p in model.parameters()), META)


# Buffers saved beside the weights (GPT-2's causal mask, Llama's rotary frequencies, BERT's
# position ids, batch-norm statistics of convolutional nets): stored tensors, never parameters.
BUFFER_SUFFIXES = (
    ".inv_freq", ".attn.masked_bias", ".position_ids", ".running_mean", ".running_var", ".num_batches_tracked"
)
GPT2_MASK_SUFFIX = ".attn.bias"  # GPT-2's mask is 4-D; a real bias parameter is 1-D


def is_buffer(tensor: TensorInfo) -> bool:
    name = tensor.name
    return name.endswith(BUFFER_SUFFIXES) or name == "position_ids" or (name.endswith(GPT2_MASK_SUFFIX) and len(tensor.shape) == 4)


def count_stored(inventories: list[TensorInventory]) -> int:
    """Parameters held by weight files: every stored tensor once, tied aliases and buffers left out.

    A pickled state dict stores tied weights under two names (`lm_head.weight` is
    `embed_tokens.weight`); the pickle reader lists such aliases in `metadata["shared_tensors"]`.
    """
    total = 0
    for inventory in inventories:
        aliases = inventory.metadata.get("shared_tensors") or {}
        total += sum(t.numel for t in inventory.tensors if t.name not in aliases and not is_buffer(t))
    return total


def estimate_decoder_only(config: dict[str, Any]) -> int | None:
    """Parameters of a decoder-only transformer from its config fields; None when fields are missing.

    embeddings  V·h, plus V·h again for an untied output layer
    per layer   attention  h·h (q) + 2·h·(kv_heads·head_dim) (k, v) + h·h (out), + biases if any
                MLP        3·h·f when gated (SwiGLU: SiLU activation or a GLU flag), else 2·h·f
                norms      2·h (RMSNorm), 4·h (LayerNorm, with bias)
    final norm  h (2·h for LayerNorm)

    Field names of Llama, GPT-2, Falcon and ChatGLM configs are understood. Exact for those
    architectures; for others it is an estimate, and reported as one.
    """

    if implausible(config):
        return None

    def first(*keys: str) -> Any:
        return next((config[k] for k in keys if isinstance(config.get(k), int) and config[k] > 0), None)

    hidden = first("hidden_size", "n_embd", "d_model", "dim")
    layers = first(*LAYER_KEYS)
    heads = first("num_attention_heads", "n_head", "num_heads", "n_heads")
    vocab = first("padded_vocab_size", "vocab_size")
    if not (hidden and layers and heads and vocab):
        return None
    head_dim = first("head_dim", "kv_channels") or hidden // heads
    kv_heads = heads
    if config.get("multi_query_attention") and config.get("multi_query_group_num"):
        kv_heads = config["multi_query_group_num"]  # ChatGLM's grouped-query attention
    else:
        kv_heads = first("num_key_value_heads", "n_head_kv", "num_kv_heads") or heads
    ffn = first("intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim") or 4 * hidden
    activation = str(config.get("hidden_act") or config.get("activation_function") or "")
    gated = "silu" in activation or "swiglu" in activation or bool(config.get("swiglu") or config.get("gated_mlp"))
    if config.get("model_type") == "chatglm":
        gated = True  # ChatGLM's dense_h_to_4h projects to 2·f and applies SwiGLU
    layer_norm = not config.get("rmsnorm", "rms_norm_eps" in config)

    q_dim, kv_dim = heads * head_dim, kv_heads * head_dim
    attention = hidden * q_dim + 2 * hidden * kv_dim + q_dim * hidden
    # Llama's attention_bias covers q, k, v and o; Qwen2 and ChatGLM have q, k, v biases only.
    qkv_bias = config.get("model_type") in ("qwen2", "qwen2_moe") or config.get("add_qkv_bias") or config.get("qkv_bias")
    if qkv_bias or config.get("attention_bias"):
        attention += q_dim + 2 * kv_dim
    if config.get("attention_bias") or config.get("add_bias_linear"):
        attention += hidden
    mlp = (3 if gated else 2) * hidden * ffn
    if config.get("mlp_bias") or config.get("add_bias_linear"):
        mlp += (2 if gated else 1) * ffn + hidden
    norm = 2 * hidden if layer_norm else hidden
    tied = bool(config.get("tie_word_embeddings", False))
    embeddings = vocab * hidden * (1 if tied else 2)
    return embeddings + layers * (attention + mlp + 2 * norm) + norm
