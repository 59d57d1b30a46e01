"""`bigmodel eval hallucination`: ask models a domain pack's held-out questions and report how
often each answers right, hallucinates or abstains (see `bigmodel.eval.hallucination`).

torch and transformers are imported inside the command so that `bigmodel --help` stays quick.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from bigmodel.errors import BigModelError
from bigmodel.eval.ask import GENERAL_SAMPLE
from bigmodel.ui import SEED_MAX

eval_app = typer.Typer(
    help="Evaluate models: the hallucination benchmark.\n\n"
    "Example: bigmodel eval hallucination --models zoo/llm-chat zoo/vertical-medical --domain medical",
    no_args_is_help=True,
)


def _model_names(models: list[Path]) -> list[str]:
    """Short names for the report: the folder name, or the whole path where two share one."""
    names = [m.name or str(m) for m in models]
    return [name if names.count(name) == 1 else str(m) for name, m in zip(names, models)]


@eval_app.command()
def hallucination(
    models: list[Path] = typer.Option(..., "--models", help="An LLM or vertical model directory; repeatable, or several after one --models."),
    more_models: Optional[list[Path]] = typer.Argument(None, help="More model directories (so that `--models A B` works).", show_default=False),
    domain: str = typer.Option(..., "--domain", help="medical | travel | finance, or the folder of your own pack."),
    subset: Optional[int] = typer.Option(None, "--subset", help="Built-in domains: generate the pack from only this many facts."),
    questions: Optional[int] = typer.Option(None, "--questions", help="Ask a fixed random sample of this many eval questions (default: all)."),
    max_new_tokens: int = typer.Option(96, "--max-new-tokens", help="Longest answer, in tokens."),
    batch_size: int = typer.Option(32, "--batch-size", help="Questions decoded together."),
    general_texts: int = typer.Option(GENERAL_SAMPLE, "--general-texts", help="Verses of the general corpus to measure perplexity on (0: skip)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder (default ./eval/hallucination-<domain>)."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX, help="Seed of the built-in pack and of the question sample."),
    json_output: bool = typer.Option(False, "--json", help="Print the figures as JSON instead of the table."),
) -> None:
    """Ask every model the same held-out questions of a domain pack; judge, report and plot.

    Writes hallucination.json (figures and every verdict), hallucination.md (the table) and
    hallucination.png, and prints the table. Answers are greedy; see bigmodel.eval.ask for the
    prompt format and the general-perplexity sample.

    Example: bigmodel eval hallucination --models zoo/llm-chat zoo/vertical-medical --domain medical
    """
    from bigmodel import checkpoint
    from bigmodel.data.packs import resolve_pack
    from bigmodel.eval.ask import answer_questions, general_perplexity, general_sample, sample_questions
    from bigmodel.eval.hallucination import REPORT_JSON, write_report
    from bigmodel.ui import progress_bar, stdout

    model_dirs = list(models) + list(more_models or [])
    if len({m.resolve() for m in model_dirs}) != len(model_dirs):
        raise BigModelError("a model directory is given twice in --models")
    for model_dir in model_dirs:
        checkpoint.require_family(model_dir, {"llm", "vertical"}, "an LLM")
    if questions is not None and questions < 1:
        raise BigModelError(f"--questions must be >= 1, found {questions}")
    if max_new_tokens < 1 or batch_size < 1:
        raise BigModelError(f"--max-new-tokens and --batch-size must be >= 1, found {max_new_tokens} and {batch_size}")
    if general_texts < 0:
        raise BigModelError(f"--general-texts must be >= 0, found {general_texts}")
    if subset is not None and subset < 1:
        raise BigModelError(f"--subset must be >= 1, found {subset}")
    pack = resolve_pack(domain, seed=seed, subset=subset)
    if not pack.eval:
        raise BigModelError(f"pack {pack.name!r} has no eval questions; use a larger --subset or another pack")
    items = sample_questions(pack.eval, questions, seed)
    out = out if out is not None else Path("eval") / f"hallucination-{pack.name}"
    checkpoint.check_replaceable(out, REPORT_JSON)

    answers_by_model, extra = {}, {}
    texts = general_sample(general_texts) if general_texts else []
    for name, model_dir in zip(_model_names(model_dirs), model_dirs):
        with progress_bar(f"{name}: {len(items)} questions", total=len(items)) as advance:
            answers = answer_questions(model_dir, items, max_new_tokens=max_new_tokens, batch_size=batch_size,
                                       on_batch=advance)
        answers_by_model[name] = list(zip(items, answers))
        if texts:
            extra[name] = {"general perplexity": general_perplexity(model_dir, texts)}
    report = write_report(answers_by_model, out, domain=pack.name, extra=extra or None)
    if json_output:
        data = json.loads(report.json.read_text(encoding="utf-8"))
        data.pop("verdicts")
        data["files"] = {"json": str(report.json), "markdown": str(report.markdown), "chart": str(report.chart)}
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(report.table)
        stdout.print(f"report: {report.markdown}  chart: {report.chart}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
