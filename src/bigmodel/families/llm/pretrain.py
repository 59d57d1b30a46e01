"""`bigmodel llm pretrain`: a tokenizer and a LLaMA trained from scratch on a corpus, or an
existing causal LM trained further on one (`init_from`: continued pretraining, as a vertical
model's first stage does; the base's architecture and tokenizer are kept, the preset gives only
the recipe and the sequence length).

Alone or under `torchrun` (DDP, or FSDP2 with `fsdp=True`). Resumable state lives beside the
output in `OUT.training/` while the run goes on; the finished model directory appears at `OUT`
in one rename, with metrics.jsonl and loss.png inside, and the state folder is removed.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import torch

from bigmodel import checkpoint
from bigmodel.data.general import load_corpus
from bigmodel.errors import BigModelError
from bigmodel.families.llm import model_io
from bigmodel.families.llm.packing import PackedCorpus, pack
from bigmodel.families.llm.presets import LLMConfig
from bigmodel.families.llm.tokenizer import prepare_chat_tokenizer, train_tokenizer
from bigmodel.families.llm.training import Recipe, TrainingRun, mean_loss, run, uses_bf16
from bigmodel.train import distributed
from bigmodel.train.metrics import plot_metrics
from bigmodel.ui import console


# Compiling costs about 30 s once (15 s at the tiny preset); shorter runs would not win it back.
COMPILE_MIN_STEPS = 100


def _has_compiler(device: torch.device) -> bool:
    """On a CPU, torch.compile builds C++ kernels; a machine without a compiler trains uncompiled."""
    if device.type != "cpu":
        return True
    from torch._inductor.cpp_builder import get_cpp_compiler
    from torch._inductor.exc import InvalidCxxCompiler

    try:
        get_cpp_compiler()
    except InvalidCxxCompiler:
        return False
    return True


def work_dir_for(out: Path) -> Path:
    return out.with_name(out.name + ".training")


def recipe_of(config: LLMConfig) -> Recipe:
    return Recipe(**{f.name: getattr(config, f.name) for f in dataclasses.fields(Recipe)})


def _tokenizer(corpus_documents: list[str], config: LLMConfig, given: Path | None, work: Path, resume: bool,
               env: distributed.Distributed) -> Any:
    """The run's tokenizer: the one given, the one a resumed run used, or one trained now."""
    saved = work / "tokenizer"
    if given is not None:
        tokenizer = model_io.load_tokenizer(given)
        if tokenizer.eos_token is None:
            raise BigModelError(f"{given}: the tokenizer has no end-of-sequence token to separate documents with")
        prepare_chat_tokenizer(tokenizer)  # the model it trains can be chat-tuned with the same template
        return tokenizer
    if resume and saved.is_dir():
        return model_io.load_tokenizer(saved)
    if env.is_main:
        tokenizer = train_tokenizer(corpus_documents, config.vocab_size)
        model_io.save_tokenizer(tokenizer, saved)
    distributed.barrier()
    return model_io.load_tokenizer(saved)


def _val_batches(packed: PackedCorpus, config: LLMConfig) -> list[dict[str, torch.Tensor]]:
    count = min(len(packed.val), config.eval_batches * config.micro_batch_size)
    rows = packed.val[:count]
    return [{"input_ids": rows[i : i + config.micro_batch_size], "labels": rows[i : i + config.micro_batch_size]}
            for i in range(0, count, config.micro_batch_size)]


def pretrain(
    config: LLMConfig,
    corpus: str,
    out: Path,
    *,
    tokenizer_dir: Path | None = None,
    resume: bool = False,
    seed: int = 0,
    fsdp: bool = False,
    name: str = "",
    init_from: Path | None = None,
) -> Path | None:
    """Train and write the model directory `out`; returns it (None in processes other than rank 0)."""
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    if init_from is not None:
        model_io.require_llm(init_from)
        if (Path(init_from) / model_io.ADAPTER_CONFIG).is_file():
            raise BigModelError(f"{init_from}: continued pretraining needs a full model, not a LoRA adapter (merge it first)")
        tokenizer_dir = Path(init_from)

    env = distributed.setup()
    try:
        per_step = config.micro_batch_size * env.world_size
        if config.batch_size % per_step:
            raise BigModelError(
                f"batch_size ({config.batch_size}) must be a multiple of micro_batch_size × processes "
                f"({config.micro_batch_size} × {env.world_size})"
            )
        text = load_corpus(corpus)
        if text.replaced_bytes and env.is_main:
            console.print(f"note: {text.replaced_bytes:,} bytes of {text.name} were not UTF-8 and were replaced by U+FFFD")
        work = work_dir_for(out)
        training_run = TrainingRun(
            work_dir=work,
            env=env,
            identity={"architecture": {"init_from": str(Path(init_from).resolve())} if init_from else config.architecture(),
                      "corpus": text.name, "seed": seed, "batch_size": config.batch_size, "steps": config.steps},
        )
        if resume:
            training_run.check_resume()
        elif env.is_main and work.exists():
            shutil.rmtree(work)  # a fresh run replaces stale state; --resume continues it instead
        distributed.barrier()
        try:
            tokenizer = _tokenizer(text.documents, config, tokenizer_dir, work, resume, env)
            if init_from is not None:
                base_context = checkpoint.read_config(init_from).get("max_position_embeddings")
                if base_context and config.seq_len > base_context:
                    config = dataclasses.replace(config, seq_len=base_context)
            elif len(tokenizer) > config.vocab_size:
                config = dataclasses.replace(config, vocab_size=len(tokenizer))
            packed = pack(text, tokenizer, config.seq_len, config.val_fraction)
        except BaseException:
            if not resume and env.is_main:
                shutil.rmtree(work, ignore_errors=True)  # nothing half-written: no run had started
            raise
        if env.is_main:
            console.print(f"{text.summary()}; {packed.tokens:,} tokens, {len(packed.train):,} train and "
                          f"{len(packed.val):,} validation sequences of {config.seq_len}")

        torch.manual_seed(seed)
        if init_from is not None:
            model = AutoModelForCausalLM.from_pretrained(str(init_from), dtype=torch.float32).to(env.device)
            model_config = model.config
        else:
            model_config = config.llama_config(
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
            )
            model = LlamaForCausalLM(model_config).to(env.device)
        parameters = model_io.parameter_count(model)
        precision = "bf16" if uses_bf16(env.device, model) else "fp32"
        if config.compile and config.steps >= COMPILE_MIN_STEPS:
            if _has_compiler(env.device):
                model.compile()  # in place: the module, its parameters and state-dict keys stay as they are
            elif env.is_main:
                console.print("note: no C++ compiler found (g++ or clang++, or $CXX), which torch.compile needs on a "
                              "CPU: training uncompiled")
        wrapped = distributed.wrap(model, env, fsdp)

        accumulation = config.batch_size // per_step

        def micro_batches(step: int) -> list[dict[str, torch.Tensor]]:
            indices = packed.batch_indices(seed, step, config.batch_size)
            mine = indices.view(env.world_size, -1)[env.rank]
            rows = packed.train[mine].view(accumulation, config.micro_batch_size, config.seq_len)
            return [{"input_ids": r, "labels": r} for r in rows]

        val = _val_batches(packed, config)
        rows = run(
            wrapped, recipe_of(config), micro_batches, lambda: mean_loss(wrapped, val, env.device), training_run,
            resume=resume, tokens_per_step=config.batch_size * config.seq_len, description=f"pretrain {out.name}",
        )
        state = distributed.full_model_state(wrapped)
        if env.is_main:
            _write(out, state, model_config, tokenizer, config, text, packed, parameters, precision, rows, training_run, seed,
                   name, init_from)
            shutil.rmtree(work, ignore_errors=True)
        distributed.barrier()
        return out if env.is_main else None
    finally:
        distributed.teardown()


def _write(out: Path, state: dict[str, torch.Tensor], model_config: Any, tokenizer: Any, config: LLMConfig, text: Any,
           packed: PackedCorpus, parameters: int, precision: str, rows: list[dict], training_run: TrainingRun, seed: int, name: str,
           init_from: Path | None) -> None:
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config)
    model.load_state_dict(state, assign=True, strict=False)  # tied lm_head is absent from the state
    model.tie_weights()
    stage = "continued pretraining" if init_from else "pretraining"
    png = plot_metrics(training_run.metrics_path, training_run.work_dir / "loss.png",
                       panels={"loss": ["train_loss", "val_loss"]}, title=f"{stage} {name or out.name}")
    last_val = next(r for r in reversed(rows) if "val_loss" in r)
    base_card = checkpoint.read_card(init_from) if init_from else None
    card = checkpoint.ModelCard(
        family="llm",
        task="text-generation",
        input_modalities=["text"],
        output_modalities=["text"],
        parameters=parameters,
        architecture=type(model).__name__,
        name=name,
        base_model=str(init_from) if init_from else None,
        data=[*(base_card.data if base_card else []), *text.provenance, {"documents": len(text.documents), "characters": text.characters,
                                 "tokens": packed.tokens, "replaced_non_utf8_bytes": text.replaced_bytes}],
        metrics={"val_loss": last_val["val_loss"], "val_perplexity": last_val["val_perplexity"],
                 "train_loss": rows[-1]["train_loss"], "steps": config.steps,
                 "tokens_seen": config.steps * config.batch_size * config.seq_len},
        extra={"stage": "continued-pretrain" if init_from else "pretrain", "config": dataclasses.asdict(config), "seed": seed,
               "precision": precision},
    )
    model_io.write_llm(out, model, tokenizer, card,
                       extra_files={training_run.metrics_path: "metrics.jsonl", png: "loss.png"})
