"""`bigmodel inspect`: the taxonomy of any checkpoint, from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command(name="inspect")(inspect_command)


def inspect_command(
    paths: list[Path] = typer.Argument(..., help="Model directories, weight files or folders of them.", show_default=False),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON list, one object per model, instead of the table."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when any model has an error or unsafe finding."),
) -> None:
    """Tell what models are: family, modalities, exact parameters, memory, chat, lineage, safety.

    Reads config.json, bigmodel.json and weight headers (.safetensors, sharded index, .gguf,
    .bin/.pt/.pth, .onnx) without loading weights, unpickling or running code. Folders are
    scanned recursively; a model directory counts as one model.

    Example: bigmodel inspect ./zoo ~/models/Llama-2-7b-hf model.gguf --strict
    """
    from bigmodel.taxonomy.inspect import inspect_paths
    from bigmodel.taxonomy.report import render_table, summary_line
    from bigmodel.ui import stdout

    reports = inspect_paths(paths, progress=True)
    if json_output:
        print(json.dumps([r.to_json() for r in reports], indent=2, ensure_ascii=False))
    else:
        stdout.print(render_table(reports))
        for report in reports:
            for finding in report.findings:
                stdout.print(f"{finding.severity}: {finding.message}", highlight=False, markup=False, soft_wrap=True)
        stdout.print(summary_line(reports), soft_wrap=True)
    if strict and any(r.has_problems for r in reports):
        raise typer.Exit(1)
