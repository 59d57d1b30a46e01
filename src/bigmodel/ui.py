"""Terminal output shared by every command: one console on stderr and nested progress bars.

Progress goes to stderr so that `--json` output on stdout stays machine-readable. When a
progress display is already live (for example the zoo's overall bar), inner bars join it,
so a long job shows one display instead of fighting ones.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# soft_wrap: a message is one line however narrow the terminal (logs and tests read it whole).
console = Console(stderr=True, soft_wrap=True)
# Piped output is not cut to rich's default 80 columns: each table row stays on one line.
stdout = Console() if Console().is_terminal else Console(width=250)

_live: Progress | None = None


class Advance(Protocol):
    def __call__(self, advance: float = 1, **info: object) -> None: ...


# Every command's --seed (and the server's `seed`): what numpy's and torch's generators all accept.
SEED_MAX = 2**32 - 1


def _new_progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(show_speed=True),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=False,
    )


@contextmanager
def progress_bar(description: str, total: float | None) -> Iterator[Advance]:
    """A bar with rate and ETA. Yields `advance(n=1, **info)`; info (e.g. loss=2.31) is shown."""
    global _live
    owner = _live is None
    if owner:
        _live = _new_progress()
        _live.start()
    progress = _live
    task = progress.add_task(description, total=total, info="")

    def advance(advance: float = 1, **info: object) -> None:
        text = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
        progress.update(task, advance=advance, **({"info": text} if info else {}))

    try:
        yield advance
    finally:
        if owner:
            progress.stop()
            _live = None
        else:
            progress.remove_task(task)
