"""Dynamic batching of decode steps: many concurrent requests, one forward pass per step.

One scheduler thread per LLM runs the loop: at every step it admits the requests that arrived
(prefilled together, then merged into the running batch's KV cache), samples one token for every
sequence with that request's own settings and generator, sends the new text to each request's
queue, drops the sequences that finished, and advances the rest by one token together. The
decoding itself is the LLM family's `prefill` / `advance` / `pick`; this module only schedules
them. With `max_batch=1` requests run one after another (the benchmark's baseline).
"""

from __future__ import annotations

import asyncio
import dataclasses
import queue
import threading
from typing import Any, Callable

import torch

from bigmodel.families.llm.generate import (
    DecodeBatch,
    Detokenizer,
    Sampling,
    SpanConstraint,
    advance,
    merge,
    pick,
    prefill,
    select,
    stop_token_ids,
)


@dataclasses.dataclass
class Event:
    """What a request's queue receives: text as it is decoded, then one final event."""

    text: str = ""
    finish_reason: str | None = None  # "stop" | "length" | "error" on the last event
    completion_tokens: int = 0
    error: str | None = None  # why, when finish_reason is "error"


@dataclasses.dataclass(eq=False)
class Request:
    prompt_ids: list[int]
    sampling: Sampling
    events: asyncio.Queue
    loop: asyncio.AbstractEventLoop
    detokenizer: Detokenizer
    generator: torch.Generator
    constraint: SpanConstraint | None = None  # extractive decoding (a grounded vertical model's answers)
    cancelled: bool = False  # set by the server when the client goes away

    def send(self, event: Event) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, event)


class Engine:
    """Serves one LLM: requests go in with `submit`, events come out on each request's queue."""

    def __init__(self, model: Any, tokenizer: Any, max_batch: int, on_tokens: Callable[[int], None] = lambda n: None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch = max_batch
        self.on_tokens = on_tokens
        self.stop_ids = stop_token_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.context = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        self.waiting: queue.Queue[Request] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="bigmodel-decode", daemon=True)
        self.thread.start()

    def submit(self, prompt_ids: list[int], sampling: Sampling, constraint: SpanConstraint | None = None) -> Request:
        """Queue a request; call from the event loop. Its events arrive on `request.events`."""
        request = Request(
            prompt_ids=prompt_ids,
            sampling=sampling,
            constraint=constraint,
            events=asyncio.Queue(),
            loop=asyncio.get_running_loop(),
            detokenizer=Detokenizer(self.tokenizer, sampling, self.stop_ids),
            generator=torch.Generator(device=next(self.model.parameters()).device).manual_seed(sampling.seed),
        )
        self.waiting.put(request)
        return request

    def _admit(self, room: int, block: bool) -> list[Request]:
        admitted = [self.waiting.get()] if block else []
        while len(admitted) < room:
            try:
                admitted.append(self.waiting.get_nowait())
            except queue.Empty:
                break
        return [r for r in admitted if not r.cancelled]

    def _run(self) -> None:
        running: list[Request] = []
        batch: DecodeBatch | None = None
        logits: torch.Tensor | None = None
        while True:
            new = self._admit(self.max_batch - len(running), block=not running)
            try:
                if new:
                    new_batch, new_logits = prefill(self.model, [r.prompt_ids for r in new], self.pad_id)
                    batch = new_batch if batch is None else merge(batch, new_batch)
                    logits = new_logits if logits is None else torch.cat([logits, new_logits])
                    running += new
                if not running:
                    continue
                tokens = torch.cat([
                    pick(logits[i : i + 1] if r.constraint is None else r.constraint.apply(logits[i : i + 1], r.detokenizer.generated),
                         r.sampling, r.generator)
                    for i, r in enumerate(running)
                ])
                keep = []
                for i, (request, token) in enumerate(zip(running, tokens.tolist())):
                    piece = request.detokenizer.push(token)
                    request.send(Event(piece.text, piece.finish_reason, piece.tokens))
                    if piece.finish_reason is None and not request.cancelled:
                        keep.append(i)
                self.on_tokens(len(running))
                if len(keep) < len(running):
                    running = [running[i] for i in keep]
                    if not running:
                        batch, logits = None, None
                        continue
                    index = torch.tensor(keep, device=tokens.device)
                    batch, tokens = select(batch, index), tokens[index]
                logits = advance(self.model, batch, tokens)
            except Exception as err:  # noqa: BLE001 — the loop must outlive one failed step
                for request in {id(r): r for r in running + new}.values():
                    request.send(Event(finish_reason="error", error=f"decoding failed: {err}"))
                running, batch, logits = [], None, None
