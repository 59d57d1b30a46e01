"""Load and save LLM directories: plain `transformers` folders plus the bigmodel card.

What is written loads with `AutoModelForCausalLM.from_pretrained` and `AutoTokenizer` with no
custom code; what is read may be a bigmodel directory or a user's own Hugging Face checkpoint of
the LLaMA family (Llama, Qwen2, Mistral, Yi), or a LoRA adapter directory over one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bigmodel import checkpoint
from bigmodel.errors import BigModelError

LLAMA_FAMILY = {"llama": "Llama/Yi", "qwen2": "Qwen2", "mistral": "Mistral"}
ADAPTER_CONFIG = "adapter_config.json"


def quiet_transformers() -> None:
    """Our progress bars and messages only: no per-file loading bars or deprecation chatter."""
    import warnings

    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


def require_llm(model_dir: str | Path) -> Path:
    """The directory, if it holds an LLM of the LLaMA family (or an adapter over one)."""
    model_dir = Path(model_dir)
    if (model_dir / ADAPTER_CONFIG).is_file() and not (model_dir / checkpoint.CONFIG_NAME).is_file():
        base = json.loads((model_dir / ADAPTER_CONFIG).read_text(encoding="utf-8")).get("base_model_name_or_path")
        if not base or not Path(base).is_dir():
            raise BigModelError(f"{model_dir}: a LoRA adapter whose base model {base!r} is not a directory here")
        require_llm(base)
        return model_dir
    checkpoint.require_family(model_dir, {"llm", "vertical"}, "an LLM")
    model_type = checkpoint.read_config(model_dir).get("model_type")
    if model_type not in LLAMA_FAMILY:
        raise BigModelError(
            f"{model_dir}: model_type {model_type!r} is not of the LLaMA family bigmodel trains "
            f"({', '.join(LLAMA_FAMILY.values())})"
        )
    return model_dir


def load_tokenizer(model_dir: str | Path) -> Any:
    from transformers import AutoTokenizer

    quiet_transformers()
    if not Path(model_dir).is_dir():  # a missing folder would otherwise be looked up on the Hub
        raise BigModelError(f"{model_dir}: no such tokenizer folder")
    try:
        return AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    except (OSError, ValueError) as err:
        raise BigModelError(f"{model_dir}: cannot load its tokenizer ({str(err).splitlines()[0]})") from None


def load_llm(model_dir: str | Path, device: Any = "cpu") -> tuple[Any, Any]:
    """(model in eval mode, tokenizer) from an LLM directory, checked to be one first."""
    from transformers import AutoModelForCausalLM

    model_dir = require_llm(model_dir)
    tokenizer = load_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype="auto").to(device)
    model.eval()
    return model, tokenizer


def save_tokenizer(tokenizer: Any, directory: Path) -> None:
    """tokenizer.json + tokenizer_config.json with the chat template inside (not a .jinja file)."""
    tokenizer.save_pretrained(str(directory), save_jinja_files=False)


def write_llm(out: Path, model: Any, tokenizer: Any, card: checkpoint.ModelCard, extra_files: dict[Path, str] | None = None) -> Path:
    """Write a complete model directory atomically: weights, config, tokenizer, card, and files
    copied in (source path -> name inside)."""
    import shutil

    quiet_transformers()
    with checkpoint.writing(out) as tmp:
        model.save_pretrained(str(tmp))
        save_tokenizer(tokenizer, tmp)
        for source, name in (extra_files or {}).items():
            shutil.copyfile(source, tmp / name)
        checkpoint.write_card(tmp, card)
    return out


def parameter_count(model: Any) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
