"""The taxonomy table: inspect reports as a rich table, as Markdown, and a one-line summary."""

from __future__ import annotations

from collections import Counter

from rich.table import Table

from bigmodel.taxonomy.families import FAMILIES
from bigmodel.taxonomy.inspect import ModelReport
from bigmodel.taxonomy.memory import human_bytes

COLUMNS = ("model", "family", "modalities", "architecture", "parameters", "large", "chat", "lineage", "dtype", "memory bf16", "safety")


def human_count(parameters: int) -> str:
    """6.74B, 494M, 86.6M, 4.4K: three significant digits."""
    for divisor, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if parameters >= divisor:
            return f"{parameters / divisor:.3g}{unit}"
    return str(parameters)


def _cells(report: ModelReport) -> dict[str, str]:
    modalities = f"{'+'.join(report.input_modalities) or '?'} → {'+'.join(report.output_modalities) or '?'}"
    if report.parameters is None:
        parameters = "?"
    else:
        estimated = " (estimated)" if report.parameter_source == "estimated" else ""
        parameters = f"{human_count(report.parameters)} ({report.parameters:,}){estimated}"
    lineage = ""
    if report.family == "vertical":
        lineage = f"vertical ({report.domain})" if report.domain else "vertical"
    if report.base_model:
        lineage = f"{lineage} ← {report.base_model}".strip()
    memory = report.memory
    return {
        "model": report.name,
        "family": report.family,
        "modalities": modalities if report.input_modalities or report.output_modalities else "?",
        "architecture": report.architecture or "?",
        "parameters": parameters,
        "large": "?" if report.parameters is None else ("yes" if report.large else "no"),
        # chat/base is a question for models that write text.
        "chat": "chat" if report.chat else ("base" if "text" in report.output_modalities else "—"),
        "lineage": lineage,
        "dtype": ", ".join(report.dtypes) or "—",
        "memory bf16": human_bytes(memory["bf16"]) if memory else "?",
        "safety": report.safety,
    }


def render_table(reports: list[ModelReport]) -> Table:
    table = Table(title="bigmodel inspect", title_justify="left")
    for column in COLUMNS:
        table.add_column(column, overflow="fold", justify="right" if column in ("parameters", "memory bf16") else "left")
    for report in reports:
        cells = _cells(report)
        style = "red" if report.safety.startswith("unsafe") else ("yellow" if report.has_problems else None)
        table.add_row(*(cells[c] for c in COLUMNS), style=style)
    return table


def markdown_table(reports: list[ModelReport]) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for report in reports:
        cells = _cells(report)
        lines.append("| " + " | ".join(escape(cells[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def summary_line(reports: list[ModelReport]) -> str:
    """"scanned 200 checkpoints: 150 llm, 30 vision, …; 2 unsafe; 1 unreadable"."""
    families = Counter(r.family for r in reports)
    parts = [f"{families[f]} {f}" for f in FAMILIES if families[f]]
    noun = "checkpoint" if len(reports) == 1 else "checkpoints"
    line = f"scanned {len(reports)} {noun}: {', '.join(parts) or 'none'}"
    unsafe = sum(r.safety.startswith("unsafe") for r in reports)
    unreadable = sum(r.safety == "unreadable" for r in reports)
    with_errors = sum(r.has_problems and not r.safety.startswith("unsafe") and r.safety != "unreadable" for r in reports)
    for number, what in ((unsafe, "unsafe"), (unreadable, "unreadable"), (with_errors, "with errors")):
        if number:
            line += f"; {number} {what}"
    return line
