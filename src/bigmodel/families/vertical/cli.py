"""`bigmodel vertical …`: domain packs (make one, check one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape

from bigmodel.data.packs.build import DEFAULT_EVAL_SHARE
from bigmodel.ui import console, stdout

vertical = typer.Typer(
    name="vertical",
    help="Vertical models: a general LLM specialised on one industry's knowledge, and the domain packs they learn from.",
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
    seed: int = typer.Option(0, "--seed", help="Seed of the fact order, the held-out split and the templates."),
    json_output: bool = typer.Option(False, "--json", help="Print pack.json instead of a summary."),
) -> None:
    """Generate a built-in domain pack from real data that ships in packages.

    Example: bigmodel vertical make-pack --domain medical --out packs/medical --subset 2000
    """
    from bigmodel.data.packs import build_pack

    pack = build_pack(domain, seed=seed, subset=subset, eval_share=eval_share)
    pack.write(out)
    if json_output:
        print(json.dumps(pack.meta, indent=2, ensure_ascii=False))
    else:
        stdout.print(escape(_summary_line("wrote", out, _summary(pack))), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(vertical, name="vertical")
