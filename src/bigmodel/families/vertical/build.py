"""`bigmodel vertical build`: specialise a general LLM on a domain pack (the student becomes the
professor).

Methods:
- `cpt+sft`: continued pretraining on the pack's corpus mixed with general text (a share of the
  general corpus keeps general language), then chat fine-tuning on the pack's `train_qa` mixed
  with general chats and general text. The knowledge has to end up in the weights.
- `retrieval`: an index over the corpus (`retrieval.Retriever`) goes into the model directory, and
  fine-tuning teaches the model to answer from the passages retrieved for each question, and to
  say "I don't know" when they do not hold the answer: made-up entities, and a share of the real
  questions asked a second time with their own passage replaced by the next one retrieved
  (`negative_share`). Asked both ways, a question's answer cannot be memorised; only reading the
  passage tells which way it goes.
- `both`: continued pretraining, then the grounded fine-tuning.
Fine-tuning is full or LoRA (`lora`; `merge` folds the adapter in). After continued pretraining
the adapter's base would be an intermediate model, so LoRA there needs `merge`.

The model card records family `vertical`, the domain, the base model (lineage, as `bigmodel
inspect` shows it) and how the pack was made (`pack`, `pack_seed`, `pack_subset`), so the eval
set can be generated again for it (the server's student-vs-professor panel does).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import shutil
from pathlib import Path
from typing import Any, Callable

from bigmodel import checkpoint
from bigmodel.errors import BigModelError
from bigmodel.ui import console, progress_bar

METHODS = ("cpt+sft", "retrieval", "both")
SEARCH_BATCH = 1024  # training questions searched at a time, between progress updates
DOMAIN_SETTINGS = ("learning_rate", "negative_share")  # a recipe's settings that default to the domain's


@dataclasses.dataclass(frozen=True)
class VerticalRecipe:
    cpt_steps: int = 300
    cpt_learning_rate: float = 1e-3
    sft_steps: int = 1000
    # A small pack repeated many times is memorised instead of read (finance, 1,114 questions, at
    # 1,000 steps of 16: 6.8% accuracy, general perplexity 1,343); fine-tuning stops at this many
    # passes over its data.
    max_epochs: float = 3.0
    learning_rate: float | None = None  # peak fine-tuning rate; None: the domain's (`domain_default`)
    batch_size: int = 16
    general_share: float = 0.3  # share of general text (cpt), general chats and text (sft) in the mix
    top_k: int = 2  # passages retrieved per question
    negative_share: float | None = None  # grounded training questions also asked without their own passage; None: the domain's
    lora_rank: int = 8
    extractive: bool = True  # grounded answers decoded as spans of the passages (retrieval.Retriever)

    def validate(self) -> "VerticalRecipe":
        for name in ("cpt_steps", "sft_steps", "batch_size", "top_k", "lora_rank"):
            if getattr(self, name) <= 0:
                raise BigModelError(f"'{name}' must be positive, found {getattr(self, name)}")
        for name in ("learning_rate", "cpt_learning_rate", "max_epochs"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise BigModelError(f"'{name}' must be positive, found {getattr(self, name)}")
        for name in ("general_share", "negative_share"):
            if getattr(self, name) is not None and not 0 <= getattr(self, name) < 1:
                raise BigModelError(f"'{name}' must be in [0, 1), found {getattr(self, name)}")
        return self

    def for_domain(self, domain: str) -> "VerticalRecipe":
        """This recipe with the settings it leaves to the domain (None) set to the domain's
        (`domain_default`: the measured best for a built-in domain)."""
        from bigmodel.data.packs import domain_default

        return dataclasses.replace(self, **{name: domain_default(domain, name.upper()) for name in DOMAIN_SETTINGS
                                            if getattr(self, name) is None})


def general_texts(count: int, seed: int) -> list[str]:
    """`count` verses of the general corpus, a seeded sample."""
    from bigmodel.data.general import general_corpus

    documents = general_corpus().documents
    return random.Random(seed).sample(documents, min(count, len(documents)))


def _share(count: int, share: float) -> int:
    """How many general items join `count` domain items so that they make `share` of the mix."""
    return round(count * share / (1 - share))


def fine_tuning_mix(chats: list[dict], recipe: VerticalRecipe, seed: int) -> tuple[list[dict], int]:
    """The fine-tuning data, read once in order of a seeded shuffle, and its number of steps: the
    pack's `chats` and a `general_share` of general chats (they keep it a chat model) and general
    text (learned as in pretraining, it keeps the model's language). A small pack is seen up to
    `max_epochs` times: its chats are repeated, and the general share is drawn afresh for every
    pass, since a general sample seen again and again is memorised rather than keeping the
    language (finance, 370 steps: general perplexity 168 with one sample repeated, 78 drawn
    afresh; README)."""
    from bigmodel.data.general import verses
    from bigmodel.families.llm.zoo import instruction_chats

    general_per_pass = _share(len(chats), recipe.general_share)
    passes = min(recipe.max_epochs, recipe.sft_steps * recipe.batch_size / (len(chats) + general_per_pass))
    repeats = max(passes, 1.0)  # under one pass, all of the data is written and training stops early
    mix = chats * int(repeats) + random.Random(f"{seed}/repeat").sample(chats, round(repeats % 1 * len(chats)))
    general = round(general_per_pass * repeats)
    mix += instruction_chats(verses(), general // 2, seed)
    mix += [{"text": text} for text in general_texts(general - general // 2, seed)]
    random.Random(f"{seed}/sft").shuffle(mix)
    return mix, min(recipe.sft_steps, math.ceil(passes / repeats * len(mix) / recipe.batch_size))


def grounded_chats(pack: Any, retriever: Any, recipe: VerticalRecipe, seed: int,
                   on_batch: Callable[[int], None] | None = None) -> tuple[list[dict], dict[str, Any]]:
    """Training chats that answer from retrieved passages or abstain, and how often retrieval
    found the asked fact. `on_batch(n)` is told of each batch of n questions searched."""
    from bigmodel.eval.hallucination import ABSTAIN_ANSWER
    from bigmodel.families.vertical.retrieval import grounded_question

    rng = random.Random(f"{seed}/grounded")
    k = retriever.k
    found = negatives = facts = 0
    chats = []

    # Passages keep the retriever's order, as at inference: the rank is evidence for the model to
    # weigh (BM25 matched the question's words against every paraphrase), where an unseen wording
    # leaves it unsure which relation is asked (README: 52% → 67% right at 1,000 steps).
    def add(question: str, passages: list, answer: str) -> None:
        chats.append(_chat(grounded_question(question, passages, retriever.layout), answer))

    # One passage more than shown: the next one retrieved stands in for the asked fact's own.
    questions = [q.question for q in pack.train]
    retrieved = []
    for start in range(0, len(questions), SEARCH_BATCH):
        batch = questions[start:start + SEARCH_BATCH]
        retrieved += retriever.search(batch, k + 1)
        if on_batch is not None:
            on_batch(len(batch))
    for item, passages in zip(pack.train, retrieved):
        shown = passages[:k]
        if item.kind != "fact":
            add(item.question, shown, item.answer)
            continue
        facts += 1
        # Without fact ids (a user's pack may lack them) the passages are taken to hold the answer.
        if item.fact_id is None or not any(p.fact_id for p in passages):
            add(item.question, shown, item.answer)
            continue
        holds = any(p.fact_id == item.fact_id for p in shown)
        found += holds
        add(item.question, shown, item.answer if holds else ABSTAIN_ANSWER)
        if holds and rng.random() < recipe.negative_share:
            add(item.question, [p for p in passages if p.fact_id != item.fact_id][:k], ABSTAIN_ANSWER)
            negatives += 1
    stats = {"train_fact_questions": facts, "retrieved_own_fact": found / facts if facts else None,
             "negative_examples": negatives}
    return chats, stats


def _chat(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def build_vertical(
    base: Path,
    domain: str,
    method: str,
    out: Path,
    recipe: VerticalRecipe,
    *,
    subset: int | None = None,
    pack_seed: int = 0,
    seed: int = 0,
    lora: bool = False,
    merge: bool = False,
    retriever_kind: str | None = None,
    name: str = "",
) -> Path:
    """Build the vertical model directory `out` from the causal LM `base` and a pack, retrieving
    with `retriever_kind` (default: the domain's, `domain_default`)."""
    from bigmodel.data.packs import DOMAINS, domain_default, resolve_pack
    from bigmodel.families.llm import model_io
    from bigmodel.families.llm.presets import load_config
    from bigmodel.families.llm.pretrain import pretrain
    from bigmodel.families.llm.sft import SFTConfig, sft
    from bigmodel.families.vertical.retrieval import ADAPTER_STEPS, RETRIEVERS, Retriever, adapter_training_questions

    if method not in METHODS:
        raise BigModelError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    retriever_kind = retriever_kind or domain_default(domain, "RETRIEVER")
    if retriever_kind not in RETRIEVERS:
        raise BigModelError(f"unknown retriever {retriever_kind!r}; choose one of {', '.join(RETRIEVERS)}")
    if merge and not lora:
        raise BigModelError("--merge folds a LoRA adapter into the model; it needs --lora")
    if lora and not merge and method != "retrieval":
        raise BigModelError(f"--lora after continued pretraining ({method}) would leave an adapter over an intermediate "
                            "model; add --merge")
    recipe = recipe.for_domain(domain).validate()
    model_io.require_llm(base)
    if (Path(base) / model_io.ADAPTER_CONFIG).is_file():
        raise BigModelError(f"{base}: a LoRA adapter; merge it into its base first (bigmodel llm sft --lora --merge)")
    pack = resolve_pack(domain, seed=pack_seed, subset=subset)
    if not pack.train:
        raise BigModelError(f"pack {pack.name!r} has no training questions to fine-tune on")
    base_card = checkpoint.read_card(base)

    stages = out.with_name(out.name + ".stages")
    shutil.rmtree(stages, ignore_errors=True)
    stages.mkdir(parents=True)
    try:
        current, metrics = Path(base), {}
        if method in ("cpt+sft", "both"):
            documents = [p.text for p in pack.corpus]
            documents += general_texts(_share(len(documents), recipe.general_share), seed)
            random.Random(f"{seed}/cpt").shuffle(documents)
            corpus = _write_jsonl(stages / "cpt-corpus.jsonl", [{"text": d} for d in documents])
            cpt_config = load_config("small", steps=recipe.cpt_steps, learning_rate=recipe.cpt_learning_rate,
                                     batch_size=recipe.batch_size, micro_batch_size=recipe.batch_size,
                                     warmup_steps=min(20, recipe.cpt_steps // 10), eval_every=max(recipe.cpt_steps // 4, 1),
                                     save_every=max(recipe.cpt_steps // 4, 1), weight_decay=0.0)
            current = pretrain(cpt_config, str(corpus), stages / f"{out.name}-cpt", seed=seed, init_from=Path(base), name=f"{pack.name}-cpt")
            cpt_card = checkpoint.read_card(current)
            metrics.update(cpt_val_loss=cpt_card.metrics["val_loss"], cpt_val_perplexity=cpt_card.metrics["val_perplexity"])

        retriever = None
        if method in ("retrieval", "both"):
            with progress_bar(f"index {len(pack.corpus):,} passages ({retriever_kind})", total=len(pack.corpus)) as advance:
                retriever = Retriever.build(pack.corpus, retriever_kind, recipe.top_k, extractive=recipe.extractive,
                                            on_batch=advance)
            if retriever_kind == "hybrid":
                questions = adapter_training_questions(pack.train, pack.corpus, seed)
                with progress_bar(f"learn the query adapter from {len(questions):,} training questions",
                                  total=len(questions) + ADAPTER_STEPS) as advance:
                    metrics["query_adapter_questions"] = retriever.learn_query_adapter(questions, seed, on_step=advance)
            with progress_bar(f"retrieve for {len(pack.train):,} training questions", total=len(pack.train)) as advance:
                chats, stats = grounded_chats(pack, retriever, recipe, seed, on_batch=advance)
            metrics.update(stats)
        else:
            chats = [_chat(item.question, item.answer) for item in pack.train]
        mix, steps = fine_tuning_mix(chats, recipe, seed)
        data = _write_jsonl(stages / "sft.jsonl", mix)
        if steps < recipe.sft_steps:
            console.print(f"note: fine-tuning for {steps:,} steps instead of {recipe.sft_steps:,}: {recipe.max_epochs:g} "
                          f"passes over the pack's {len(chats):,} chats (max_epochs), general ones drawn afresh for each")
        metrics["sft_steps"] = steps
        sft_config = SFTConfig(steps=steps, batch_size=recipe.batch_size, micro_batch_size=recipe.batch_size,
                               learning_rate=recipe.learning_rate, max_length=512, lora_rank=recipe.lora_rank,
                               warmup_steps=min(20, steps // 10), eval_every=max(steps // 4, 1))
        tuned = sft(current, data, stages / out.name, sft_config, lora=lora, merge=merge, seed=seed)
        sft_card = checkpoint.read_card(tuned)
        metrics.update(sft_val_loss=sft_card.metrics.get("val_loss"), sft_train_loss=sft_card.metrics["train_loss"])

        card = dataclasses.replace(
            sft_card,
            family="vertical",
            name=name,
            chat=True,
            base_model=str(base),
            domain=pack.name,
            data=[*(base_card.data if base_card else []),
                  {"pack": pack.name, "source": pack.meta.get("source"), "licence": pack.meta.get("licence"),
                   "passages": len(pack.corpus), "train_questions": len(pack.train), "stage": method}],
            metrics=metrics,
            extra={"method": method, "pack": domain if domain in DOMAINS else str(Path(domain).resolve()),
                   "pack_seed": pack_seed, "pack_subset": subset, "lora": lora, "merged": merge,
                   "retriever": None if retriever is None else {"kind": retriever.kind, "k": retriever.k,
                                                                "decoding": "extractive" if retriever.extractive else "free"},
                   "recipe": dataclasses.asdict(recipe), "seed": seed},
        )
        with checkpoint.writing(out) as tmp:
            for item in tuned.iterdir():
                if item.is_file():
                    shutil.copyfile(item, tmp / item.name)
            if retriever is not None:
                retriever.save(tmp)
            checkpoint.write_card(tmp, card)
        console.print(f"note: vertical model {out} built with {method} on pack {pack.name!r}")
        return out
    finally:
        shutil.rmtree(stages, ignore_errors=True)
