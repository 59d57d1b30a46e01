"""The zoo's vertical models: the general LLM specialised on a domain pack, then measured against
it on the pack's held-out questions (the hallucination benchmark), side by side.

`bigmodel zoo` builds the domains of `--domains` (default: medical), e.g. `--domains
medical,travel,finance`; the members are not built otherwise (`default=False`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from bigmodel import checkpoint
from bigmodel.zoo import ZooContext, ZooMember

# Demo size: the whole pack, 600 of its eval questions, the default recipe; the quick zoo runs the
# same code at a size that takes seconds.
QUESTIONS = 600
QUICK_SUBSET, QUICK_QUESTIONS = 60, 40


def _member(domain: str) -> ZooMember:
    return ZooMember(
        name=f"vertical-{domain}",
        family="vertical",
        builder=f"bigmodel.families.vertical.zoo:build_{domain}",
        needs=("general-llm",),
        description=f"The general LLM specialised on the {domain} pack with retrieval grounding, against its base.",
        default=False,
    )


MEMBERS = [_member(domain) for domain in ("medical", "travel", "finance")]


def build_medical(out: Path, ctx: ZooContext) -> None:
    _build("medical", out, ctx)


def build_travel(out: Path, ctx: ZooContext) -> None:
    _build("travel", out, ctx)


def build_finance(out: Path, ctx: ZooContext) -> None:
    _build("finance", out, ctx)


def _build(domain: str, out: Path, ctx: ZooContext) -> None:
    from bigmodel.data.packs import resolve_pack
    from bigmodel.eval.ask import answer_questions, general_perplexity, general_sample, sample_questions
    from bigmodel.eval.hallucination import write_report
    from bigmodel.families.vertical.build import VerticalRecipe, build_vertical
    from bigmodel.ui import progress_bar

    base = ctx.member_dir("general-llm")
    subset = QUICK_SUBSET if ctx.quick else None
    recipe = VerticalRecipe(sft_steps=30, batch_size=8) if ctx.quick else VerticalRecipe()
    stages = out.with_name(out.name + ".stages")
    shutil.rmtree(stages, ignore_errors=True)
    stages.mkdir(parents=True)
    try:
        model = build_vertical(base, domain, "retrieval", stages / out.name, recipe, subset=subset, seed=ctx.seed,
                               name=out.name)
        pack = resolve_pack(domain, subset=subset)
        count = QUICK_QUESTIONS if ctx.quick else QUESTIONS
        items = sample_questions(pack.eval, count, ctx.seed)  # as `bigmodel eval hallucination --questions` picks them
        texts = general_sample(32 if ctx.quick else 256)
        answers, extra = {}, {}
        for name, model_dir in (("general-llm (base)", base), (f"{out.name} (vertical)", model)):
            with progress_bar(f"{name}: {len(items)} questions", total=len(items)) as advance:
                answers[name] = list(zip(items, answer_questions(model_dir, items, on_batch=advance)))
            extra[name] = {"general perplexity": general_perplexity(model_dir, texts)}
        report = write_report(answers, stages / "eval", domain=pack.name, extra=extra)

        base_name, vertical_name = answers
        figures = json.loads(report.json.read_text(encoding="utf-8"))["models"]
        card = checkpoint.read_card(model)
        card = dataclasses.replace(card, metrics={**card.metrics, "benchmark": {
            "questions": len(items), "base": figures[base_name], "vertical": figures[vertical_name]}})
        with checkpoint.writing(out) as tmp:
            for item in model.iterdir():
                target = tmp / item.name
                shutil.copytree(item, target) if item.is_dir() else shutil.copyfile(item, target)
            for item in (report.json, report.markdown, report.chart):
                shutil.copyfile(item, tmp / item.name)
            checkpoint.write_card(tmp, card)
            (tmp / "REPORT.md").write_text(_report(card, pack, report.table, answers), encoding="utf-8")
    finally:
        shutil.rmtree(stages, ignore_errors=True)


SAMPLES = 6  # questions shown with both models' answers


def _report(card: checkpoint.ModelCard, pack, table: str, answers: dict[str, list]) -> str:
    from bigmodel.eval.hallucination import judge

    counts = pack.meta.get("counts", {})
    retriever = card.extra.get("retriever") or {}
    (base_name, base_answers), (vertical_name, vertical_answers) = answers.items()
    questions = len(base_answers)
    # The first questions of the sample, some about made-up entities: what the table's figures look like.
    shown = [k for k, (item, _) in enumerate(base_answers) if item.kind == "fact"][:SAMPLES - 2]
    shown += [k for k, (item, _) in enumerate(base_answers) if item.kind == "made_up"][:2]
    rows = [f"| {_cell(base_answers[k][0].question)} | {_cell(base_answers[k][0].answer)} | "
            f"{_cell(base_answers[k][1])} ({judge(base_answers[k][1], base_answers[k][0])}) | "
            f"{_cell(vertical_answers[k][1])} ({judge(vertical_answers[k][1], vertical_answers[k][0])}) |" for k in shown]
    return "\n".join([
        f"The zoo's general LLM specialised on the **{pack.name}** pack ({counts.get('facts', '?')} facts from "
        f"{pack.meta.get('source')}; {len(pack.corpus):,} passages, {len(pack.train):,} training questions) by "
        f"retrieval grounding: a {retriever.get('kind', '?')} index over the corpus, top {retriever.get('k', '?')} "
        f"passage(s) per question, and {card.extra['recipe']['sft_steps']} steps of fine-tuning to answer from them "
        "or say \"I don't know\"" + (", decoded extractively (a span of the passages, or the abstention)."
                                      if retriever.get("decoding") == "extractive" else "."),
        "",
        f"Both models answer the same {questions} held-out questions (facts never asked in training, in question "
        "templates never used in training, and made-up entities), greedy; rates with 95% Wilson intervals:",
        "",
        table,
        "",
        "![hallucination benchmark](./hallucination.png)",
        "",
        f"| question | pack's answer | {base_name} | {vertical_name} |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
    ])


def _cell(text: str) -> str:
    line = next((part for part in text.splitlines() if part.strip()), "")
    return line.strip().replace("|", "\\|") or "(empty)"
