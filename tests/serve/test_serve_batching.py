"""Dynamic batching gives each request exactly what decoding it alone gives (greedy), while
requests join and leave the running batch at different steps."""

from __future__ import annotations

import asyncio

import pytest

from bigmodel.families.llm.generate import Sampling, stream
from bigmodel.families.llm.model_io import load_llm
from bigmodel.serve.batching import Engine

PROMPTS = ["In the beginning", "And the earth was without form", "Which airport", "I", "The answer is here. And God"]


@pytest.fixture(scope="module")
def llm(tiny_zoo):
    return load_llm(tiny_zoo / "general")


async def _run(engine: Engine, jobs: list[tuple[list[int], Sampling, float]]) -> list[str]:
    async def one(ids: list[int], sampling: Sampling, delay: float) -> str:
        await asyncio.sleep(delay)  # staggered: later requests join a batch already decoding
        request = engine.submit(ids, sampling)
        pieces = []
        while True:
            event = await request.events.get()
            assert event.finish_reason != "error", event.error
            pieces.append(event.text)
            if event.finish_reason is not None:
                return "".join(pieces)

    return await asyncio.gather(*(one(*job) for job in jobs))


@pytest.mark.parametrize("max_batch", [1, 8])
def test_batched_decoding_matches_decoding_alone(llm, max_batch):
    model, tokenizer = llm
    jobs = [(list(tokenizer(p)["input_ids"]), Sampling(temperature=0, top_k=0, max_new_tokens=6 + 5 * i,
                                                      stop=("e",) if i == 2 else ()), 0.02 * i)
            for i, p in enumerate(PROMPTS)]
    expected = ["".join(stream(model, tokenizer, ids, sampling)) for ids, sampling, _ in jobs]
    got = asyncio.run(_run(Engine(model, tokenizer, max_batch=max_batch), jobs))
    assert got == expected


def test_sampling_is_seeded_per_request(llm):
    model, tokenizer = llm
    ids = list(tokenizer("In the beginning")["input_ids"])
    jobs = [(ids, Sampling(temperature=1.0, top_p=0.9, top_k=0, max_new_tokens=12, seed=seed), 0.0) for seed in (1, 2, 1)]
    first, second, again = asyncio.run(_run(Engine(model, tokenizer, max_batch=8), jobs))
    assert first == again and first != second
