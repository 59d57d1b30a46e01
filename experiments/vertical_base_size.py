"""What size of base reaches the medical goal? The zoo's recipe end to end for a general LLM
of any shape: pretrain it on the embedded English corpus, chat-tune it on the zoo's
instructions, build the medical vertical model from it (retrieval, the default recipe), and ask
both the held-out questions. Writes `OUT/result.json` (parameters, stage times, figures) and the
benchmark's report in `OUT/eval/`.

With no shape given it is the zoo's own base (the `small` preset, 500 pretraining steps).
Larger shapes take a GPU (used when there is one) to train in minutes:

    .venv/bin/python experiments/vertical_base_size.py --out runs/base-26m --hidden 512 --layers 8 \\
        --heads 8 --kv-heads 4 --intermediate 1408 --pretrain-steps 1500 --vertical-lr 1e-3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from bigmodel import checkpoint
from bigmodel.data.general import verses
from bigmodel.data.packs import resolve_pack
from bigmodel.errors import BigModelError
from bigmodel.eval.ask import (
    answer_questions,
    general_perplexity,
    general_sample,
    sample_questions,
)
from bigmodel.eval.hallucination import write_report
from bigmodel.families.llm.presets import load_config
from bigmodel.families.llm.zoo import (
    CHAT_STEPS,
    INSTRUCTIONS,
    PRETRAIN_STEPS,
    instruction_chats,
    pretrain_and_chat_tune,
)
from bigmodel.families.vertical.build import VerticalRecipe, build_vertical


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    # Shape and pretraining rate: the `small` preset's where not given.
    parser.add_argument("--hidden", type=int)
    parser.add_argument("--layers", type=int)
    parser.add_argument("--heads", type=int)
    parser.add_argument("--kv-heads", type=int)
    parser.add_argument("--intermediate", type=int)
    parser.add_argument("--pretrain-lr", type=float)
    parser.add_argument("--pretrain-steps", type=int, default=PRETRAIN_STEPS)
    parser.add_argument("--chat-steps", type=int, default=CHAT_STEPS)
    parser.add_argument("--vertical-steps", type=int, default=3000)
    parser.add_argument("--vertical-lr", type=float, default=None, help="peak fine-tuning learning rate (default: the domain's)")
    parser.add_argument("--domain", default="medical")
    parser.add_argument("--subset", type=int, default=None, help="facts of the pack (default: all)")
    parser.add_argument("--questions", type=int, default=None, help="eval questions asked (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # load_config keeps the preset's value wherever an override is None.
    config = load_config("small", hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=args.heads,
                         num_key_value_heads=args.kv_heads, intermediate_size=args.intermediate,
                         learning_rate=args.pretrain_lr, steps=args.pretrain_steps, compile=False)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    args.out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    started = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal started
        times[stage] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()

    chats = instruction_chats(verses(), INSTRUCTIONS, args.seed)
    pretrained, base = pretrain_and_chat_tune(config, chats, args.chat_steps, args.out, seed=args.seed)
    lap("general LLM")
    recipe = VerticalRecipe(sft_steps=args.vertical_steps, learning_rate=args.vertical_lr)
    vertical = build_vertical(base, args.domain, "retrieval", args.out / "vertical", recipe, subset=args.subset,
                              seed=args.seed, name="vertical")
    lap("vertical build")

    pack = resolve_pack(args.domain, subset=args.subset)
    items = sample_questions(pack.eval, args.questions, args.seed)
    texts = general_sample(256)
    answers, extra = {}, {}
    batch = 128 if device == "cuda" else 32  # a GPU decodes a larger batch in about the time of a small one
    for name, model_dir in (("base", base), ("vertical", vertical)):
        answers[name] = list(zip(items, answer_questions(model_dir, items, batch_size=batch, device=device)))
        extra[name] = {"general perplexity": general_perplexity(model_dir, texts, device=device)}
    report = write_report(answers, args.out / "eval", domain=pack.name, extra=extra)
    lap("evaluation")

    figures = json.loads(report.json.read_text(encoding="utf-8"))["models"]
    result = {
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "parameters": checkpoint.read_card(base).parameters,
        "pretrain_val_perplexity": checkpoint.read_card(pretrained).metrics["val_perplexity"],
        "seconds": times,
        "models": figures,
    }
    (args.out / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(report.table)


if __name__ == "__main__":
    try:
        main()
    except BigModelError as err:
        sys.exit(f"error: {err}")
