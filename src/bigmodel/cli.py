"""The `bigmodel` command. Thin: parses arguments and calls the library.

Each concern adds its commands through a `register(app)` function in its own `cli.py`: the
taxonomy's and every family's under `bigmodel/families/*/cli.py`, found at start-up, so this file
never grows with the families. Those modules import heavy libraries (torch, transformers) inside
their commands, not at import time, so `--help` is quick.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import json
import sys
from pathlib import Path

import typer
from rich.markup import escape

from bigmodel import __version__
from bigmodel.errors import BigModelError
from bigmodel.ui import SEED_MAX, console, stdout

def _command_modules() -> list[str]:
    import bigmodel.families

    families = sorted(
        info.name for info in pkgutil.iter_modules(bigmodel.families.__path__) if info.ispkg
    )
    return ["bigmodel.taxonomy.cli", "bigmodel.serve.cli", "bigmodel.eval.cli"] + [
        f"bigmodel.families.{name}.cli"
        for name in families
        if importlib.util.find_spec(f"bigmodel.families.{name}.cli") is not None
    ]


app = typer.Typer(
    name="bigmodel",
    help="A toolkit for the whole family of large models: inspect, build, specialise and serve them.\n\n"
    "Example: bigmodel inspect ./zoo",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
)


@app.command()
def version() -> None:
    """Print the bigmodel version.

    Example: bigmodel version
    """
    print(__version__)


@app.command()
def zoo(
    out: Path = typer.Option(Path("zoo"), "--out", help="Folder of the zoo."),
    quick: bool = typer.Option(False, "--quick", help="Tiny presets, same code paths (minutes)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Build every model again, even valid ones."),
    only: list[str] = typer.Option([], "--only", help="Build only this member (and what it needs); repeatable."),
    domains: str = typer.Option("medical", "--domains", help="Vertical models to build, comma-separated: medical, travel, finance ('' for none)."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
    json_output: bool = typer.Option(False, "--json", help="Print report.json instead of the table."),
) -> None:
    """Build, evaluate and report one model per family of large models into ./zoo.

    Writes one model directory per family, report.json and report.md, and prints the taxonomy
    table. A re-run keeps the models that are built and valid.

    Example: bigmodel zoo --quick --domains medical,travel
    """
    from bigmodel import zoo as zoo_lib
    from bigmodel.data.packs import DOMAINS
    from bigmodel.taxonomy.report import render_table

    wanted = [d.strip() for d in domains.split(",") if d.strip()]
    unknown = [d for d in wanted if d not in DOMAINS]
    if unknown:
        raise BigModelError(f"--domains: unknown domain(s) {', '.join(unknown)}; known: {', '.join(DOMAINS)}")
    also = [] if only else [f"vertical-{d}" for d in wanted]
    result = zoo_lib.run(out, quick=quick, rebuild=rebuild, seed=seed, only=only or None, also=also)
    if json_output:
        print(json.dumps(result.report, indent=2))
    else:
        stdout.print(render_table(result.models))
        stdout.print(f"report: {out / 'report.md'}")


for _module in _command_modules():
    importlib.import_module(_module).register(app)


def main() -> None:
    try:
        app()
    except BigModelError as err:
        console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
        sys.exit(2)
    except OSError as err:
        console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
