"""Chat fine-tuning speed: several chats packed into each row of a batch (`sft.collate`) against
one chat per row padded to the batch's longest, the usual collation, in the same run.

The data is what `bigmodel vertical build --domain medical --method retrieval` fine-tunes on:
the medical pack's training questions with their two BM25 passages (answered, or declined with
another fact's passages), mixed with general chats and text (`fine_tuning_mix`); chats run from
about 30 to 220 tokens. Two copies of the same base train on the same batches (16 chats, drawn
as `sft` draws them), one step at a time: forward, backward and AdamW, with one torch thread
count for both. Reports seconds per step after the first, the tokens each computes per step
(padding included), the speedup, and the first step's loss on both sides (the same loss: the
packing changes what is computed, not what is learned).

Run: .venv/bin/python benchmarks/llm_sft_batches.py [--base zoo/general-llm] [--steps 60] [--threads 2]
Writes benchmarks/out/llm_sft_batches.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

OUT = Path(__file__).parent / "out"
BATCH = 16


def grounded_medical_chats(seed: int) -> list:
    """The vertical build's fine-tuning mix for the medical pack (BM25, the default recipe)."""
    from bigmodel.data.packs import resolve_pack
    from bigmodel.families.vertical.build import VerticalRecipe, fine_tuning_mix, grounded_chats
    from bigmodel.families.vertical.retrieval import Retriever

    recipe = VerticalRecipe().for_domain("medical")
    pack = resolve_pack("medical", seed=0)
    retriever = Retriever.build(pack.corpus, "bm25", recipe.top_k, extractive=recipe.extractive)
    chats, _ = grounded_chats(pack, retriever, recipe, seed)
    mix, _ = fine_tuning_mix(chats, recipe, seed)
    return [row["messages"] if "messages" in row else row["text"] for row in mix]


def one_chat_per_row(examples: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """The baseline: each chat in a row of its own, padded to the longest, with an attention mask."""
    from bigmodel.families.llm.sft import IGNORE

    length = max(len(e["input_ids"]) for e in examples)
    pad = [length - len(e["input_ids"]) for e in examples]
    return {
        "input_ids": torch.tensor([e["input_ids"] + [pad_id] * p for e, p in zip(examples, pad)]),
        "labels": torch.tensor([e["labels"] + [IGNORE] * p for e, p in zip(examples, pad)]),
        "attention_mask": torch.tensor([[1] * len(e["input_ids"]) + [0] * p for e, p in zip(examples, pad)]),
    }


def train_steps(base: Path, batches: list[dict[str, torch.Tensor]]) -> tuple[list[float], float]:
    """Each step's seconds and the first step's loss, for a fresh copy of `base`."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    model.config.use_cache = False  # as `sft` trains
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    seconds, first_loss = [], float("nan")
    for batch in batches:
        start = time.perf_counter()
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
        if len(seconds) == 1:
            first_loss = loss.item()
    return seconds, first_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, default=Path("zoo/general-llm"), help="the LLM to fine-tune")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.steps < 2 or args.threads < 1:
        sys.exit("error: --steps must be at least 2 (the first step is not timed) and --threads at least 1")
    from bigmodel.errors import BigModelError
    from bigmodel.families.llm.model_io import load_tokenizer, require_llm
    from bigmodel.families.llm.packing import batch_indices
    from bigmodel.families.llm.sft import collate, encode_chat
    from bigmodel.families.llm.tokenizer import prepare_chat_tokenizer

    try:
        require_llm(args.base)
    except BigModelError as err:
        sys.exit(f"error: {err} (build it with `bigmodel zoo --only general-llm`, or pass --base)")
    torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer(args.base)
    prepare_chat_tokenizer(tokenizer)
    examples = [encode_chat(tokenizer, chat, 512) for chat in grounded_medical_chats(seed=0)]
    steps = [[examples[i] for i in batch_indices(0, step, BATCH, len(examples)).tolist()] for step in range(1, args.steps + 1)]
    results: dict = {"base": str(args.base), "steps": args.steps, "batch_size": BATCH, "threads": args.threads,
                     "chats": len(examples)}
    for label, collation in (("one_chat_per_row", one_chat_per_row), ("packed", collate)):
        batches = [collation(chats, tokenizer.pad_token_id) for chats in steps]
        seconds, first_loss = train_steps(args.base, batches)
        results[label] = {
            "seconds_per_step": round(sum(seconds[1:]) / (len(seconds) - 1), 4),
            "tokens_computed_per_step": round(sum(b["input_ids"].numel() for b in batches) / len(batches)),
            "first_step_loss": round(first_loss, 5),
        }
    real = sum(len(e["input_ids"]) for chats in steps for e in chats) / len(steps)
    results["real_tokens_per_step"] = round(real)
    results["speedup"] = round(results["one_chat_per_row"]["seconds_per_step"] / results["packed"]["seconds_per_step"], 2)
    print(json.dumps(results, indent=2))
    OUT.mkdir(exist_ok=True)
    (OUT / "llm_sft_batches.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
