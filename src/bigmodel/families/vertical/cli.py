"""`bigmodel vertical …`: build a vertical model; domain packs (make one, check one).

torch and transformers are imported inside the commands so that `bigmodel --help` stays quick."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape

from bigmodel import checkpoint
from bigmodel.data.packs.build import DEFAULT_EVAL_SHARE
from bigmodel.errors import BigModelError
from bigmodel.families.vertical.build import VerticalRecipe
from bigmodel.ui import SEED_MAX, console, stdout

vertical = typer.Typer(
    name="vertical",
    help="Vertical models: a general LLM specialised on one industry's knowledge, and the domain packs they learn from.\n\n"
    "Example: bigmodel vertical make-pack --domain medical --out packs/medical --subset 2000",
    no_args_is_help=True,
)


def _summary(pack: Any) -> dict[str, Any]:
    made_up_train = sum(1 for q in pack.train if q.kind == "made_up")
    made_up_eval = sum(1 for q in pack.eval if q.kind == "made_up")
    return {
        "name": pack.name,
        "passages": len(pack.corpus),
        "train_questions": len(pack.train),
        "train_made_up": made_up_train,
        "eval_questions": len(pack.eval),
        "eval_made_up": made_up_eval,
    }


def _summary_line(verb: str, path: Path, summary: dict[str, Any]) -> str:
    return (
        f"{verb} {path}: pack {summary['name']!r}, {summary['passages']} passages, "
        f"{summary['train_questions']} training questions ({summary['train_made_up']} about made-up entities), "
        f"{summary['eval_questions']} eval questions ({summary['eval_made_up']} about made-up entities)"
    )


@vertical.command("pack")
def check_pack(
    path: Path = typer.Argument(..., help="The pack folder: pack.json, corpus.jsonl, train_qa.jsonl, eval_qa.jsonl."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check a domain pack folder: every problem on its own line (file and line number), exit 2 if any.

    Example: bigmodel vertical pack ./my_pack
    """
    from bigmodel.data.packs import validate_pack

    pack, problems = validate_pack(path)
    if json_output:
        print(json.dumps({"path": str(path), "valid": not problems, "problems": [p.to_json() for p in problems],
                          "summary": _summary(pack) if pack else None}, indent=2))
    elif pack is not None:
        stdout.print(escape(_summary_line("valid", path, _summary(pack))), highlight=False, soft_wrap=True)
    for problem in problems if not json_output else ():
        console.print(f"[bold red]error:[/] {escape(str(problem))}", highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(2)


@vertical.command("make-pack")
def make_pack(
    domain: str = typer.Option(..., "--domain", help="A built-in domain: medical (ICD-10), travel (IATA airports), finance (ISO 4217)."),
    out: Path = typer.Option(..., "--out", help="Folder to write the pack into (replaced atomically)."),
    subset: Optional[int] = typer.Option(None, "--subset", help="Keep only this many facts (nested: a smaller subset is part of a larger one)."),
    eval_share: float = typer.Option(DEFAULT_EVAL_SHARE, "--eval-share", help="Share of the facts held out for evaluation."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX, help="Seed of the fact order, the held-out split and the templates."),
    json_output: bool = typer.Option(False, "--json", help="Print pack.json instead of a summary."),
) -> None:
    """Generate a built-in domain pack from real data that ships in packages.

    Example: bigmodel vertical make-pack --domain medical --out packs/medical --subset 2000
    """
    from bigmodel.data.packs import build_pack
    from bigmodel.data.packs.schema import PACK_JSON

    checkpoint.check_replaceable(out, PACK_JSON)
    pack = build_pack(domain, seed=seed, subset=subset, eval_share=eval_share)
    if not pack.eval:  # `vertical pack` would refuse it
        raise BigModelError(f"--subset {subset} leaves no facts to hold out for evaluation; give a larger --subset (nothing was written)")
    pack.write(out)
    if json_output:
        print(json.dumps(pack.meta, indent=2, ensure_ascii=False))
    else:
        stdout.print(escape(_summary_line("wrote", out, _summary(pack))), highlight=False, soft_wrap=True)


@vertical.command("build")
def build(
    base: Path = typer.Option(..., "--base", help="The general causal LM to specialise (a bigmodel LLM or a Hugging Face LLaMA-family folder)."),
    domain: str = typer.Option(..., "--domain", help="medical | travel | finance, or the folder of your own pack."),
    method: str = typer.Option("retrieval", "--method", help="cpt+sft | retrieval | both."),
    out: Path = typer.Option(..., "--out", help="Vertical model directory to write (appears complete, or not at all).", callback=checkpoint.model_out),
    subset: Optional[int] = typer.Option(None, "--subset", help="Built-in domains: generate the pack from only this many facts."),
    pack_seed: int = typer.Option(0, "--pack-seed", min=0, max=SEED_MAX, help="Seed of the built-in pack (its split and templates)."),
    retriever: Optional[str] = typer.Option(None, "--retriever", help="bm25 | dense (all-MiniLM-L6-v2, offline) | hybrid (BM25's candidates ordered by MiniLM). Default: hybrid for finance, bm25 otherwise."),
    top_k: int = typer.Option(VerticalRecipe.top_k, "--top-k", help="Passages retrieved per question."),
    decoding: str = typer.Option("extractive", "--decoding", help="Grounded answers: extractive (a span of the passages, or \"I don't know\") | free."),
    steps: int = typer.Option(VerticalRecipe.sft_steps, "--steps", help="Fine-tuning steps (at most --max-epochs passes over the data)."),
    max_epochs: float = typer.Option(VerticalRecipe.max_epochs, "--max-epochs", help="Passes over the fine-tuning data at most; a small pack repeated more is memorised, not read."),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", help="Peak fine-tuning learning rate. Default: 1e-3 for finance, 3e-3 otherwise."),
    cpt_steps: int = typer.Option(VerticalRecipe.cpt_steps, "--cpt-steps", help="Continued-pretraining steps (cpt+sft, both)."),
    cpt_learning_rate: float = typer.Option(VerticalRecipe.cpt_learning_rate, "--cpt-learning-rate"),
    batch_size: int = typer.Option(VerticalRecipe.batch_size, "--batch-size", help="Sequences per step."),
    general_share: float = typer.Option(VerticalRecipe.general_share, "--general-share", help="Share of general text and chats mixed in."),
    negative_share: Optional[float] = typer.Option(None, "--negative-share", help="Share of training questions also asked with another fact's passages, answered \"I don't know\". Default: 0.1 for medical, 0.3 otherwise."),
    lora: bool = typer.Option(False, "--lora", help="Fine-tune a LoRA adapter (peft) instead of every weight."),
    merge: bool = typer.Option(False, "--merge", help="Fold the LoRA adapter into the weights."),
    lora_rank: int = typer.Option(VerticalRecipe.lora_rank, "--lora-rank", help="Rank of the LoRA adapter."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX, help="Seed of training: the order of its examples, which questions are also asked without their passage, the general sample."),
    name: str = typer.Option("", "--name", help="Name to serve it under (default: the folder name)."),
    json_output: bool = typer.Option(False, "--json", help="Print the model card as JSON."),
) -> None:
    """Specialise a general LLM on a domain pack: continued pretraining + SFT, retrieval grounding, or both.

    Example: bigmodel vertical build --base zoo/general-llm --domain medical --method retrieval --out models/doctor
    """
    from bigmodel.families.vertical.build import build_vertical

    if decoding not in ("extractive", "free"):
        raise BigModelError(f"--decoding {decoding!r}: choose extractive or free")
    recipe = VerticalRecipe(cpt_steps=cpt_steps, cpt_learning_rate=cpt_learning_rate, sft_steps=steps, max_epochs=max_epochs,
                            learning_rate=learning_rate, batch_size=batch_size, general_share=general_share,
                            negative_share=negative_share, top_k=top_k, lora_rank=lora_rank, extractive=decoding == "extractive").validate()
    if subset is not None and subset < 1:
        raise BigModelError(f"--subset must be >= 1, found {subset}")
    written = build_vertical(base, domain, method, out, recipe, subset=subset, pack_seed=pack_seed, seed=seed,
                             lora=lora, merge=merge, retriever_kind=retriever, name=name)
    card = checkpoint.read_card(written)
    if json_output:
        print(json.dumps(card.to_json(), indent=2, ensure_ascii=False))
    else:
        stdout.print(escape(f"wrote {written}: vertical ({card.domain}) ← {base}, method {method}, "
                            f"{card.parameters:,} parameters"), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(vertical, name="vertical")
