"""Ask language models a domain pack's questions, and measure their perplexity on general text.

Prompt format (`question_prompt`; the server's student-vs-professor panel,
`/v1/vertical/compare`, builds its prompts with the same function):

- a chat model (its card says `chat`; a checkpoint without a bigmodel card: its tokenizer has a
  chat template) gets the question alone as the user turn, through the tokenizer's chat template
  with the assistant's turn opened (`generate.chat_prompt`);
- a base model gets the question followed by one newline, `question + "\\n"`, and its
  continuation is the answer (the judge reads only its first non-empty line).

A grounded vertical model (one with a `retrieval/` index, see
`bigmodel.families.vertical.retrieval`) is asked the same way, with its retrieved passages
after the question in the user turn (`grounded_question`), or before it for a model whose index
records that it was trained on passages first.

Bigmodel's own base models carry a chat template too (every tokenizer it trains has one), so the
card, not the tokenizer, decides for them. Answers are greedy (temperature 0), at most
`max_new_tokens` tokens, decoded in batches of left-padded prompts (`generate.generate_batch`):
the same answers as one prompt at a time.

General perplexity: exp of the mean next-token loss over `general_sample()`, a fixed set of
verses spread evenly over the general corpus (every k-th verse, no randomness). The general base
saw the whole corpus in pretraining, so this measures what specialisation cost in general
language relative to the base (lower is better), not generalisation to unseen text.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from bigmodel.errors import BigModelError
from bigmodel.families.vertical.retrieval import QUESTION_FIRST

if TYPE_CHECKING:
    from bigmodel.data.packs.schema import Passage, QAItem

GENERAL_SAMPLE = 256  # verses in the general-perplexity sample


def is_chat_model(model_dir: str | Path, tokenizer: Any) -> bool:
    """The card's `chat` flag; for a checkpoint without a bigmodel card, whether its tokenizer has
    a chat template."""
    from bigmodel import checkpoint

    card = checkpoint.read_card(model_dir)
    if card is not None:
        return bool(card.chat)
    return getattr(tokenizer, "chat_template", None) is not None


def question_prompt(tokenizer: Any, question: str, chat: bool, passages: "Sequence[Passage] | None" = None,
                    layout: str = QUESTION_FIRST) -> list[int]:
    """The token ids a model is asked `question` with (see the module docstring); a grounded
    model's retrieved `passages` go with the question in its index's `layout`."""
    from bigmodel.families.llm.generate import chat_prompt
    from bigmodel.families.vertical.retrieval import grounded_question

    if passages is not None:
        question = grounded_question(question, passages, layout)
    if chat:
        return chat_prompt(tokenizer, [{"role": "user", "content": question}])
    return list(tokenizer(question + "\n")["input_ids"])


def grounded_prompt(tokenizer: Any, question: str, chat: bool, passages: "Sequence[Passage]",
                    room: int | None, layout: str = QUESTION_FIRST) -> tuple[list[int], list["Passage"]]:
    """`question_prompt` with as many of the retrieved passages as fit in `room` tokens (the
    lowest-ranked dropped first), and the passages kept."""
    kept = list(passages)
    while True:
        ids = question_prompt(tokenizer, question, chat, kept, layout)
        if room is None or len(ids) <= room or not kept:
            return ids, kept
        kept.pop()


def grounded_prompts(model: Any, tokenizer: Any, chat: bool, retriever: Any, questions: Sequence[str],
                     max_new_tokens: int) -> list[tuple[list[int], list["Passage"]]]:
    """Each question's prompt with its retrieved passages, and the passages kept: those that would
    leave no room in the model's context for an answer are dropped, lowest-ranked first."""
    context = _context(model)
    room = context - min(max_new_tokens, 16) if context else None
    return [grounded_prompt(tokenizer, question, chat, passages, room, retriever.layout)
            for question, passages in zip(questions, retriever.search(list(questions)))]


def sample_questions(items: Sequence["QAItem"], count: int | None, seed: int) -> list["QAItem"]:
    """A fixed random sample of `count` questions (all when count is None or not smaller), in pack order."""
    import random

    if count is None or count >= len(items):
        return list(items)
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), count))]


def _context(model: Any) -> int | None:
    return getattr(model.config, "max_position_embeddings", None)


def answer_questions(
    model_dir: str | Path,
    items: Sequence["QAItem"],
    max_new_tokens: int = 96,
    batch_size: int = 32,
    *,
    on_batch: Callable[[int], None] | None = None,
    device: str = "cpu",
) -> list[str]:
    """Greedy answers of the model in `model_dir`, run on `device`, to `items`' questions, in their
    order. `on_batch(n)` is called after each batch of n answers (a progress bar)."""
    from bigmodel.families.llm.generate import Sampling, generate_batch
    from bigmodel.families.llm.model_io import load_llm
    from bigmodel.families.vertical.retrieval import Retriever

    if batch_size < 1 or max_new_tokens < 1:
        raise BigModelError(f"batch_size and max_new_tokens must be >= 1, found {batch_size} and {max_new_tokens}")
    model, tokenizer = load_llm(model_dir, device)
    chat = is_chat_model(model_dir, tokenizer)
    retriever = Retriever.load(model_dir)
    context = _context(model)
    if retriever:
        fitted = grounded_prompts(model, tokenizer, chat, retriever, [item.question for item in items], max_new_tokens)
        prompts = [ids for ids, _ in fitted]
        constraints = retriever.constraints(tokenizer, [item.question for item in items], [kept for _, kept in fitted])
    else:
        prompts = [question_prompt(tokenizer, item.question, chat) for item in items]
        constraints = [None] * len(items)
    if context and prompts:
        longest = max(range(len(prompts)), key=lambda i: len(prompts[i]))
        if len(prompts[longest]) >= context:
            raise BigModelError(
                f"question {items[longest].id!r} takes {len(prompts[longest])} tokens, more than {model_dir}'s "
                f"context of {context}"
            )
    # Similar lengths together: less padding. Answers go back to the items' order.
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    answers = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        # A model with a short context answers in what room its context leaves (a cut answer is judged as it is).
        room = context - max(len(prompts[i]) for i in chunk) if context else max_new_tokens
        sampling = Sampling(temperature=0, top_p=1, top_k=0, max_new_tokens=min(max_new_tokens, room), seed=0)
        texts = generate_batch(model, tokenizer, [prompts[i] for i in chunk], sampling, [constraints[i] for i in chunk])
        for index, text in zip(chunk, texts):
            answers[index] = text
        if on_batch is not None:
            on_batch(len(chunk))
    return answers


def general_sample(count: int = GENERAL_SAMPLE) -> list[str]:
    """`count` documents of the general corpus, evenly spaced over it (fixed, no randomness)."""
    from bigmodel.data.general import general_corpus

    documents = general_corpus().documents
    stride = max(1, len(documents) // count)
    return documents[stride // 2::stride][:count]


def general_perplexity(model_dir: str | Path, texts: Sequence[str], batch_size: int = 16, device: str = "cpu") -> float:
    """exp(mean next-token loss) of the model, run on `device`, over `texts`, every token weighted
    equally; each text truncated to the model's context."""
    import torch

    from bigmodel.families.llm.model_io import load_llm

    if not texts:
        raise BigModelError("no text to measure perplexity on")
    model, tokenizer = load_llm(model_dir, device)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    context = _context(model)
    encoded = [list(tokenizer(text)["input_ids"])[:context] for text in texts]
    total_loss, total_tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            chunk = [ids for ids in encoded[start:start + batch_size] if len(ids) > 1]
            if not chunk:
                continue
            length = max(len(ids) for ids in chunk)
            ids = torch.tensor([ids + [pad_id] * (length - len(ids)) for ids in chunk], device=device)
            mask = torch.tensor([[1] * len(ids) + [0] * (length - len(ids)) for ids in chunk], device=device)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
            total_loss += float(torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100, reduction="sum"))
            total_tokens += int((targets != -100).sum())
    if not total_tokens:
        raise BigModelError("the texts hold no token to predict")
    return math.exp(min(total_loss / total_tokens, 50.0))
