"""`bigmodel llm sft`: chat fine-tuning on OpenAI-style `messages`, full or LoRA (peft).

Chats are rendered with the tokenizer's chat template (the bigmodel one when the base has none
that marks assistant turns), and the loss is on the assistant's tokens only: the template's
{% generation %} blocks give the mask through `return_assistant_tokens_mask`.

A line may instead hold plain text, `{"text": "..."}`, learned with the loss on every token as in
pretraining: replaying some of the base's pretraining text keeps its plain language from
drifting while it learns to chat (a vertical build mixes it in for that).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from bigmodel import checkpoint
from bigmodel.errors import BigModelError
from bigmodel.families.llm import model_io
from bigmodel.families.llm.packing import batch_indices
from bigmodel.families.llm.tokenizer import ROLES, prepare_chat_tokenizer
from bigmodel.families.llm.training import Recipe, TrainingRun, mean_loss, run, uses_bf16
from bigmodel.train import distributed
from bigmodel.ui import console

IGNORE = -100  # label of tokens that carry no loss
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclasses.dataclass(frozen=True)
class SFTConfig:
    steps: int = 100
    batch_size: int = 8
    micro_batch_size: int = 8
    learning_rate: float = 1e-3
    max_length: int = 512
    lora_rank: int = 8
    warmup_steps: int = 5
    eval_every: int = 25

    def recipe(self) -> Recipe:
        for name in ("steps", "batch_size", "micro_batch_size", "max_length", "lora_rank", "eval_every"):
            if getattr(self, name) <= 0:
                raise BigModelError(f"'{name}' must be positive, found {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise BigModelError(f"the learning rate must be positive, found {self.learning_rate}")
        if self.batch_size % self.micro_batch_size:
            raise BigModelError(f"batch size {self.batch_size} must be a multiple of the micro-batch size {self.micro_batch_size}")
        return Recipe(steps=self.steps, learning_rate=self.learning_rate, warmup_steps=self.warmup_steps, min_lr_ratio=0.1,
                      weight_decay=0.0, beta1=0.9, beta2=0.999, grad_clip=1.0, eval_every=self.eval_every,
                      save_every=max(self.steps // 4, 1))


def read_chats(path: str | Path) -> list[list[dict[str, str]] | str]:
    """Chats from JSONL, one {"messages": [{"role", "content"}, ...]} per line, or plain text
    {"text": "..."}; errors name the line."""
    path = Path(path)
    if not path.is_file():
        raise BigModelError(f"{path}: {'a folder; give the JSONL file of chats' if path.is_dir() else 'no such file'}")
    chats = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise BigModelError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise BigModelError(f"{where}: not valid JSON ({err.msg})") from None
        if isinstance(record, dict) and "messages" not in record and isinstance(record.get("text"), str) and record["text"].strip():
            chats.append(record["text"])
            continue
        if not isinstance(record, dict) or "messages" not in record:
            raise BigModelError(f'{where}: missing the "messages" key (expected {{"messages": [{{"role": ..., "content": ...}}]}} or {{"text": ...}})')
        messages = record["messages"]
        if not isinstance(messages, list) or not messages:
            raise BigModelError(f'{where}: "messages" must be a non-empty list')
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                raise BigModelError(f"{where}: message {index} must be an object with a string \"content\"")
            if message.get("role") not in ROLES:
                raise BigModelError(f"{where}: message {index} has unknown role {message.get('role')!r}; expected one of {', '.join(ROLES)}")
        if not any(m["role"] == "assistant" for m in messages):
            raise BigModelError(f"{where}: the chat has no assistant message to learn from")
        chats.append([{"role": m["role"], "content": m["content"]} for m in messages])
    if not chats:
        raise BigModelError(f"{path}: no chats in the file")
    return chats


def encode_chat(tokenizer: Any, messages: list[dict[str, str]] | str, max_length: int) -> dict[str, list[int]]:
    """Token ids and labels: the assistant's tokens, IGNORE elsewhere (plain text: every token)."""
    if isinstance(messages, str):
        ids = list(tokenizer(messages)["input_ids"])
        if tokenizer.bos_token_id != tokenizer.eos_token_id:
            ids.append(tokenizer.eos_token_id)  # as pretraining packs documents (see packing.pack)
        return {"input_ids": ids[:max_length], "labels": ids[:max_length]}
    rendered = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids = list(rendered["input_ids"])[:max_length]
    mask = list(rendered["assistant_masks"])[:max_length]
    return {"input_ids": ids, "labels": [t if m else IGNORE for t, m in zip(ids, mask)]}


def collate(examples: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """A batch with several chats to a row: rows as long as the longest chat, filled first fit,
    longest first, and padded at their ends. Each chat attends only to itself: with no attention
    mask, transformers reads the chats' boundaries from position ids that restart at 0. The loss
    is the same as with one chat per row (a chat's first label, which a row would otherwise have
    the previous chat predict, is ignored; one chat per row never predicts it either), and far
    fewer padding tokens are computed (grounded medical chats: 45% of them, one chat per row)."""
    width = max(len(e["input_ids"]) for e in examples)
    rows: list[list[dict[str, list[int]]]] = []
    room: list[int] = []
    for example in sorted(examples, key=lambda e: -len(e["input_ids"])):
        length = len(example["input_ids"])
        fits = next((r for r, free in enumerate(room) if length <= free), None)
        if fits is None:
            rows.append([example])
            room.append(width - length)
        else:
            rows[fits].append(example)
            room[fits] -= length
    input_ids, labels, positions = [], [], []
    for row, pad in zip(rows, room):
        input_ids.append([t for e in row for t in e["input_ids"]] + [pad_id] * pad)
        labels.append([t for e in row for t in [IGNORE, *e["labels"][1:]]] + [IGNORE] * pad)
        # The padding counts as a sequence of its own, which no chat's token attends to.
        positions.append([p for e in row for p in range(len(e["input_ids"]))] + list(range(pad)))
    return {"input_ids": torch.tensor(input_ids), "labels": torch.tensor(labels), "position_ids": torch.tensor(positions)}


def hold_out(examples: list[dict]) -> tuple[list[dict], list[dict]]:
    """(train, validation): every 10th example is held out (none under 20 examples). An example
    that the data repeats (a small pack seen several times) leaves training with all its copies
    when one is held out, so the validation loss is never measured on text that was trained on."""
    if len(examples) < 20:
        return examples, []
    held_out = examples[9::10]
    held = {tuple(e["input_ids"]) for e in held_out}
    return [e for e in examples if tuple(e["input_ids"]) not in held], held_out


def sft(base: Path, data: Path, out: Path, config: SFTConfig, *, lora: bool = False, merge: bool = False,
        resume: bool = False, seed: int = 0, name: str = "") -> Path | None:
    """Fine-tune `base` on the chats in `data`; write the model (or LoRA adapter) directory `out`.
    Data-parallel under torchrun; returns `out` (None in processes other than rank 0)."""
    if merge and not lora:
        raise BigModelError("--merge folds a LoRA adapter into the model; it needs --lora")
    recipe = config.recipe()
    model_io.require_llm(base)
    base_card = checkpoint.read_card(base)
    chats = read_chats(data)
    tokenizer = model_io.load_tokenizer(base)
    if tokenizer.eos_token is None:
        raise BigModelError(f"{base}: its tokenizer has no end-of-sequence token, which chat turns end with")
    if prepare_chat_tokenizer(tokenizer):
        console.print(f"note: {base.name} has no chat template that marks assistant turns; using bigmodel's")
    examples = [encode_chat(tokenizer, chat, config.max_length) for chat in chats]
    kept = [e for e in examples if any(label != IGNORE for label in e["labels"])]
    if not kept:
        raise BigModelError(f"{data}: no assistant tokens left within max_length={config.max_length}")
    if len(kept) < len(examples):
        console.print(f"note: {len(examples) - len(kept)} chats had no assistant tokens within max_length and were skipped")
    train, held_out = hold_out(kept)

    env = distributed.setup()
    try:
        return _train_and_write(base, base_card, data, out, config, recipe, tokenizer, chats, train, held_out,
                                lora=lora, merge=merge, resume=resume, seed=seed, name=name, env=env)
    finally:
        distributed.teardown()


def _train_and_write(base: Path, base_card: checkpoint.ModelCard | None, data: Path, out: Path, config: SFTConfig,
                     recipe: Recipe, tokenizer: Any, chats: list, train: list, held_out: list, *, lora: bool, merge: bool,
                     resume: bool, seed: int, name: str, env: distributed.Distributed) -> Path | None:
    from transformers import AutoModelForCausalLM

    per_step = config.micro_batch_size * env.world_size
    if config.batch_size % per_step:
        raise BigModelError(f"batch size {config.batch_size} must be a multiple of micro-batch size × processes ({per_step})")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32).to(env.device)
    # Without a cache, transformers reads the packed chats' boundaries from their position ids
    # (`collate`); with one, every chat in a row would attend to the chats before it.
    use_cache, model.config.use_cache = model.config.use_cache, False
    longest = max(len(e["input_ids"]) for e in train)
    if longest > (model.config.max_position_embeddings or 0):
        # Rotary positions have no table to outgrow: training on longer chats is what extends the
        # context (an unmerged LoRA adapter keeps its base's config, so its context stays the base's).
        model.config.max_position_embeddings = longest
    parameters = model_io.parameter_count(model)  # what is served: the base's weights (merged or not)
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=config.lora_rank, lora_alpha=2 * config.lora_rank,
                                                 target_modules=LORA_TARGETS, lora_dropout=0.0, task_type="CAUSAL_LM"))
    wrapped = distributed.wrap(model, env, fsdp=False)
    accumulation = config.batch_size // per_step

    def micro_batches(step: int) -> list[dict[str, torch.Tensor]]:
        mine = batch_indices(seed, step, config.batch_size, len(train)).view(env.world_size, -1)[env.rank].tolist()
        return [collate([train[i] for i in mine[k * config.micro_batch_size:(k + 1) * config.micro_batch_size]],
                        tokenizer.pad_token_id) for k in range(accumulation)]

    val = [collate(held_out[i:i + config.micro_batch_size], tokenizer.pad_token_id)
           for i in range(0, len(held_out), config.micro_batch_size)]
    work = out.with_name(out.name + ".training")
    training_run = TrainingRun(work_dir=work, env=env, identity={"base": str(base.resolve()), "data": str(Path(data).resolve()),
                                                                  "lora": lora, "seed": seed, "steps": config.steps})
    if resume:
        training_run.check_resume()
    elif work.exists() and env.is_main:
        shutil.rmtree(work)
    distributed.barrier()
    rows = run(wrapped, recipe, micro_batches, (lambda: mean_loss(wrapped, val, env.device)) if val else None, training_run,
               resume=resume, tokens_per_step=sum(len(e["input_ids"]) for e in train[:config.batch_size]),
               description=f"sft {out.name}")
    if not env.is_main:
        return None
    metrics: dict[str, Any] = {"train_loss": rows[-1]["train_loss"], "steps": config.steps, "chats": len(chats)}
    if val:
        metrics.update(val_loss=rows[-1]["val_loss"], val_perplexity=rows[-1]["val_perplexity"])
    card = checkpoint.ModelCard(
        family=base_card.family if base_card else "llm",
        task="text-generation",
        input_modalities=["text"],
        output_modalities=["text"],
        parameters=parameters,
        architecture=type(model.get_base_model() if lora else model).__name__,
        name=name,
        chat=True,
        base_model=str(base),
        domain=base_card.domain if base_card else None,
        data=[*(base_card.data if base_card else []), {"source": str(data), "chats": len(chats), "stage": "sft"}],
        metrics=metrics,
        extra={"stage": "sft", "lora": lora, "merged": merge, "config": dataclasses.asdict(config), "seed": seed,
               "precision": "bf16" if uses_bf16(env.device, model) else "fp32"},
    )
    model.config.use_cache = use_cache
    if lora and merge:
        model = model.merge_and_unload()
    elif lora:
        model.peft_config["default"].base_model_name_or_path = str(Path(base).resolve())
    model_io.write_llm(out, model, tokenizer, card, extra_files={training_run.metrics_path: "metrics.jsonl"})
    shutil.rmtree(work, ignore_errors=True)
    return out
