"""Games played in several processes at once, one core each.

Search evaluates small batches, where one torch thread is fastest, so a second core helps only
as a second process. `GamePool.run` splits a generation's games into shards, plays each shard
in a worker process (or in this one when there is one worker) and shows one progress bar over
all of them: workers add the games they finish to a shared counter that this process reads.
Each shard gets its own seed, so a run's results depend on the seeds and the number of
workers, not on which process finishes first.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

import torch

from bigmodel.ui import progress_bar

# Set in each worker process: the count of finished games that the parent's progress bar shows.
_finished_games: Any = None
POLL_SECONDS = 0.25


def _start_worker(counter: Any) -> None:
    global _finished_games
    _finished_games = counter
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which ends the workers


def _count_finished(games: int = 1, **_: object) -> None:
    with _finished_games.get_lock():
        _finished_games.value += games


def _play_in_worker(task: Callable[..., Any], args: tuple) -> Any:
    return task(*args, advance=_count_finished)


def shard_sizes(games: int, shards: int) -> list[int]:
    """`games` split into at most `shards` parts of even size where possible (a shard alternates
    who starts, so an even shard gives both sides the first move equally often)."""
    pairs, odd = divmod(games, 2)
    shards = max(1, min(shards, pairs or 1))
    sizes = [2 * (pairs // shards + (i < pairs % shards)) for i in range(shards)]
    sizes[-1] += odd
    return [size for size in sizes if size]


class GamePool:
    """`workers` processes that play shards of games; use as a context manager. Leaving it on an
    error (or Ctrl-C) terminates the workers at once instead of waiting for their games."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Any = None
        self._counter: Any = None

    def __enter__(self) -> Self:
        if self.workers > 1:
            # spawn, not fork: a forked copy of a process that has run torch's thread pools can hang
            context = multiprocessing.get_context("spawn")
            self._counter = context.Value("q", 0)
            self._pool = context.Pool(self.workers, initializer=_start_worker, initargs=(self._counter,))
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self._pool is not None:
            if error is None:
                self._pool.close()
            else:
                self._pool.terminate()
            self._pool.join()
            self._pool = None

    def run(self, label: str, task: Callable[..., Any], shards: Sequence[tuple], games: int) -> list[Any]:
        """`task(*shard, advance=...)` for every shard; results in shard order. `games` is the
        total the progress bar counts to; tasks report each finished game through `advance`. A
        task's exception is raised here as soon as it happens."""
        with progress_bar(label, total=games) as advance:
            if self._pool is None:
                return [task(*shard, advance=advance) for shard in shards]
            with self._counter.get_lock():
                self._counter.value = 0
            pending = [self._pool.apply_async(_play_in_worker, (task, shard)) for shard in shards]
            shown = 0
            while True:
                finished = self._counter.value
                advance(finished - shown)
                shown = finished
                ready = [r for r in pending if r.ready()]
                if len(ready) == len(pending) or any(not r.successful() for r in ready):
                    break
                time.sleep(POLL_SECONDS)
            for result in ready:
                result.get()  # raises a failed task's error first
            return [result.get() for result in pending]
