"""Decoding with the KV cache: a batch of sequences advanced one token at a time.

`prefill` starts a batch (left-padded prompts), `advance` feeds one token per sequence and
returns the next logits, `pick` samples (greedy at temperature 0, else temperature, top-k,
top-p). A server can batch decode steps across requests with these three; `stream` is the
single-prompt loop that `bigmodel generate` and `bigmodel chat` use, with stop strings and
text that appears as it is decoded; `generate_batch` decodes many prompts together to the end
(evaluation). A `SpanConstraint` makes decoding extractive: the answer is copied from given
passages, or is one of a few fixed answers.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import re
from typing import Any, Iterator, Sequence

import torch

from bigmodel.errors import BigModelError


# A temperature or top_p this small means greedy decoding: closer to 0, float32 sampling breaks
# (logits / 1e-300 overflow to inf; a top_p that rounds to 0 would drop every token).
GREEDY_BELOW = 1e-4


@dataclasses.dataclass(frozen=True)
class Sampling:
    temperature: float = 0.8  # 0 = greedy
    top_p: float = 0.95
    top_k: int = 50  # 0 = no limit
    max_new_tokens: int = 128
    stop: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise BigModelError(f"--temperature must be a finite number >= 0, found {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise BigModelError(f"--top-p must be in (0, 1], found {self.top_p}")
        if self.top_k < 0:
            raise BigModelError(f"--top-k must be >= 0, found {self.top_k}")
        if self.max_new_tokens < 1:
            raise BigModelError(f"--max-new-tokens must be >= 1, found {self.max_new_tokens}")
        if "" in self.stop:  # every text contains it, so nothing would be generated
            raise BigModelError("--stop must not be empty")


@dataclasses.dataclass
class DecodeBatch:
    """A batch of sequences being decoded: the KV cache and the positions each has reached."""

    cache: Any  # a transformers DynamicCache, extended in place by each forward pass
    attention_mask: torch.Tensor  # [B, T]: 0 for left padding
    positions: torch.Tensor  # [B]: position of the last token fed
    padded: bool  # without padding no mask is passed, so the model takes its causal fast path


def pick(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> torch.Tensor:
    """The next token for each row of logits [B, V]."""
    if sampling.temperature < GREEDY_BELOW or sampling.top_p < GREEDY_BELOW:
        return logits.argmax(dim=-1)
    logits = logits.float() / sampling.temperature
    if sampling.top_k:
        kth = torch.topk(logits, min(sampling.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens before it already reach top_p; the first always stays.
        drop = cumulative - sorted_logits.softmax(dim=-1) >= sampling.top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(-1)


@torch.no_grad()
def prefill(model: Any, prompts: list[list[int]], pad_id: int) -> tuple[DecodeBatch, torch.Tensor]:
    """Run the prompts (left-padded to one length) through the model; return the batch and the
    logits for each one's next token."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    length = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (length - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (length - len(p)) + [1] * len(p) for p in prompts], device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    padded = bool((mask == 0).any())
    out = model(input_ids=ids, attention_mask=mask if padded else None, position_ids=positions, cache=cache, use_cache=True,
                logits_to_keep=1)
    return DecodeBatch(cache=cache, attention_mask=mask, positions=positions[:, -1], padded=padded), out.logits[:, -1]


@torch.no_grad()
def advance(model: Any, batch: DecodeBatch, tokens: torch.Tensor) -> torch.Tensor:
    """Feed one token per sequence; return the logits for the next one. Updates `batch`."""
    batch.attention_mask = torch.cat([batch.attention_mask, batch.attention_mask.new_ones(len(tokens), 1)], dim=1)
    batch.positions = batch.positions + 1
    out = model(input_ids=tokens[:, None], attention_mask=batch.attention_mask if batch.padded else None,
                position_ids=batch.positions[:, None], cache=batch.cache, use_cache=True)
    return out.logits[:, -1]


# Where a copied span may start: a word's first character, or the one after an opening bracket.
_SPAN_START = re.compile(r"(?<!\S)[^\s(]|(?<=\()[^\s(]")
# A span may end where a phrase ends: at the end of the passage, before a bracket, or before
# punctuation that ends a word (followed by a space or the end: "A00.1" does not end at "A00").
_PHRASE_END = re.compile(r"\s*(?:$|[(\[]|[.,;:?!)\]](?:\s|$))")
# The word before a span's start, and where its sentence may have begun before it.
_PREVIOUS_WORD = re.compile(r"(?:^|(?<=\s))(\S+)\s+$")
_SENTENCE_START = re.compile(r"\s*|.*[.?!:]\s+", re.DOTALL)


def inside_name(text: str, start: int) -> bool:
    """Whether a span starting at `start` would cut a capitalised name short: it starts with a
    capital, after a capitalised word that is not its sentence's first ("United States", "Egyptian
    Pound", "Heathrow Airport" mid-sentence, not "States", "Pound", "Airport")."""
    previous = _PREVIOUS_WORD.search(text, 0, start) if text[start].isupper() else None
    if previous is None:
        return False
    word = previous.group(1)
    return word[0].isupper() and word[-1] not in ".,;:?!)]" and not _SENTENCE_START.fullmatch(text, 0, previous.start(1))


class SpanConstraint:
    """Extractive decoding for grounded answers: the continuation must be one of `answers` (e.g.
    the abstention), or a span of one of `passages` that starts at a word, but not inside a
    capitalised name (`inside_name`), and ends where a phrase ends, followed by the stop token.
    The model still chooses: whether to abstain, which span, where it stops; it cannot write
    words that are not in the passages.

    A span may not hold one of `asked`: the words that the question itself names (e.g. the code
    asked about). An answer restates no part of its question: "A03.9 is Shigellosis" or "The
    parent of A03 is block A00-A09" to a question about A03.9 or A03 is wrong by the answer's own
    terms; such restating was half of a 2.4M model's wrong answers on ICD-10 before this rule.
    Nor may a span cut a name short at its start ("States" for "United States", "Pound" for
    "Egyptian Pound"): that rule halved a 2.4M model's wrong answers on airports and cut them by
    a third on currencies (README), and in the built-in packs no fact's answer starts inside a name.

    Spans are matched as the tokenizer encodes them standing alone, which is how a fine-tuned
    model writes an answer at the start of its turn."""

    def __init__(self, tokenizer: Any, passages: Sequence[str], answers: Sequence[str], stop_id: int,
                 asked: Sequence[str] = ()) -> None:
        self.stop_id = stop_id
        self.next_tokens: dict[tuple[int, ...], set[int]] = {}
        # An asked word as a whole word: "A09" is not in "A00-A09", nor "A00" in "A00.1".
        restated = re.compile("|".join(rf"(?<![\w.\-]){re.escape(word)}(?![\w.\-]*\w)" for word in asked),
                              re.IGNORECASE) if asked else None
        for answer in answers:
            ids = list(tokenizer(answer, add_special_tokens=False)["input_ids"])
            self._add(ids, [len(ids)])
        for text in passages:
            # Where asked words begin; a span ends before the first one at or after its start.
            asked_at = [m.start() for m in restated.finditer(text)] if restated is not None else []
            for start in {m.start() for m in _SPAN_START.finditer(text) if not inside_name(text, m.start())}:
                following = bisect.bisect_left(asked_at, start)
                span = text[start:asked_at[following] if following < len(asked_at) else len(text)]
                encoded = tokenizer(span, add_special_tokens=False, return_offsets_mapping=True)
                ends = [n + 1 for n, (_, end) in enumerate(encoded["offset_mapping"]) if _PHRASE_END.match(text, start + end)]
                if ends:  # the span stops at its last phrase end, so no path leads to a forced stop
                    self._add(list(encoded["input_ids"])[:ends[-1]], ends)

    def _add(self, ids: list[int], ends: list[int]) -> None:
        for n, token in enumerate(ids):
            self.next_tokens.setdefault(tuple(ids[:n]), set()).add(token)
        for n in ends:
            self.next_tokens.setdefault(tuple(ids[:n]), set()).add(self.stop_id)

    def allowed(self, generated: Sequence[int]) -> list[int]:
        """The tokens that may follow `generated` (the stop token once nothing may)."""
        return sorted(self.next_tokens.get(tuple(generated), {self.stop_id}))

    def apply(self, logits: torch.Tensor, generated: Sequence[int]) -> torch.Tensor:
        """`logits` [1, V] with every token that may not come next set to -inf."""
        keep = torch.full_like(logits, float("-inf"))
        index = torch.tensor(self.allowed(generated), device=logits.device)
        keep[:, index] = 0
        return logits + keep


def stop_token_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    return ids


@dataclasses.dataclass
class Piece:
    """New text of one sequence after a token; `finish_reason` is set on its last piece."""

    text: str
    finish_reason: str | None  # "stop" (stop token or string) | "length" (max_new_tokens)
    tokens: int  # tokens generated so far


class Detokenizer:
    """Turns one sequence's tokens into text as they come: ends at a stop token, a stop string
    (not included) or `max_new_tokens`, and holds back text that may be the start of a stop
    string or an incomplete character, so nothing shown is ever retracted."""

    def __init__(self, tokenizer: Any, sampling: Sampling, stop_ids: set[int]) -> None:
        self.tokenizer = tokenizer
        self.sampling = sampling
        self.stop_ids = stop_ids
        self.generated: list[int] = []
        self.emitted = 0
        self.holdback = max((len(s) for s in sampling.stop), default=1) - 1

    def push(self, token: int) -> Piece:
        if token in self.stop_ids:
            return self._flush("stop")
        self.generated.append(token)
        text = self.tokenizer.decode(self.generated, skip_special_tokens=True)
        cut = min((text.find(s) for s in self.sampling.stop if s in text), default=-1)
        if cut >= 0:
            piece, self.emitted = text[self.emitted:cut], cut
            return Piece(piece, "stop", len(self.generated))
        if len(self.generated) >= self.sampling.max_new_tokens:
            return self._flush("length", text)
        safe = len(text) - self.holdback
        if text.endswith("\ufffd"):  # a character whose bytes are not all decoded yet
            safe = min(safe, len(text) - 1)
        piece = text[self.emitted:safe] if safe > self.emitted else ""
        self.emitted = max(self.emitted, safe)
        return Piece(piece, None, len(self.generated))

    def _flush(self, reason: str, text: str | None = None) -> Piece:
        text = self.tokenizer.decode(self.generated, skip_special_tokens=True) if text is None else text
        piece, self.emitted = text[self.emitted:], len(text)
        return Piece(piece, reason, len(self.generated))


def _pad_left(tensor: torch.Tensor, amount: int, dim: int) -> torch.Tensor:
    if amount == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = amount
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def merge(a: DecodeBatch, b: DecodeBatch) -> DecodeBatch:
    """One batch holding the sequences of `a` then `b` (e.g. requests admitted mid-decode): the
    shorter cache is left-padded, masked out by the attention mask, to the longer's length."""
    length = max(a.attention_mask.shape[1], b.attention_mask.shape[1])
    pad_a, pad_b = length - a.attention_mask.shape[1], length - b.attention_mask.shape[1]
    for layer_a, layer_b in zip(a.cache.layers, b.cache.layers):
        layer_a.keys = torch.cat([_pad_left(layer_a.keys, pad_a, -2), _pad_left(layer_b.keys, pad_b, -2)])
        layer_a.values = torch.cat([_pad_left(layer_a.values, pad_a, -2), _pad_left(layer_b.values, pad_b, -2)])
    mask = torch.cat([_pad_left(a.attention_mask, pad_a, 1), _pad_left(b.attention_mask, pad_b, 1)])
    return DecodeBatch(cache=a.cache, attention_mask=mask, positions=torch.cat([a.positions, b.positions]),
                       padded=bool((mask == 0).any()))


def select(batch: DecodeBatch, keep: torch.Tensor) -> DecodeBatch:
    """The sequences at `keep` (the others finished); columns that are padding for every
    remaining one are cut."""
    batch.cache.batch_select_indices(keep)
    mask = batch.attention_mask[keep]
    first = int(mask.any(dim=0).nonzero()[0])
    if first:
        for layer in batch.cache.layers:
            layer.keys, layer.values = layer.keys[..., first:, :], layer.values[..., first:, :]
        mask = mask[:, first:]
    return DecodeBatch(cache=batch.cache, attention_mask=mask, positions=batch.positions[keep],
                       padded=bool((mask == 0).any()))


def stream(model: Any, tokenizer: Any, prompt_ids: list[int], sampling: Sampling) -> Iterator[str]:
    """The continuation of `prompt_ids`, piece by piece as it is decoded; ends at EOS, at a stop
    string (not included) or after `max_new_tokens`."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(sampling.seed)
    detokenizer = Detokenizer(tokenizer, sampling, stop_token_ids(model, tokenizer))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batch, logits = prefill(model, [prompt_ids], pad_id)
    while True:
        token = pick(logits, sampling, generator)
        piece = detokenizer.push(int(token))
        if piece.text:
            yield piece.text
        if piece.finish_reason is not None:
            return
        logits = advance(model, batch, token)


def generate_batch(model: Any, tokenizer: Any, prompts: list[list[int]], sampling: Sampling,
                   constraints: Sequence[SpanConstraint | None] | None = None) -> list[str]:
    """The continuation of each prompt, decoded together: one left-padded prefill, then one
    `advance` per step over the sequences not yet finished (finished ones are dropped with
    `select`). Each row ends as `stream` would end it (stop token, stop string, max_new_tokens).
    `constraints` (one per prompt, or None) make a row's decoding extractive."""
    if not prompts:
        return []
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(sampling.seed)
    stop_ids = stop_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    detokenizers = [Detokenizer(tokenizer, sampling, stop_ids) for _ in prompts]
    texts = [""] * len(prompts)
    rows = list(range(len(prompts)))  # the prompt index of each row still in the batch
    batch, logits = prefill(model, prompts, pad_id)
    while True:
        if constraints is not None:
            logits = torch.cat([logits[i:i + 1] if constraints[row] is None
                                else constraints[row].apply(logits[i:i + 1], detokenizers[row].generated)
                                for i, row in enumerate(rows)])
        tokens = pick(logits, sampling, generator)
        keep = []
        for position, (row, token) in enumerate(zip(rows, tokens.tolist())):
            piece = detokenizers[row].push(token)
            texts[row] += piece.text
            if piece.finish_reason is None:
                keep.append(position)
        if not keep:
            return texts
        if len(keep) < len(rows):
            index = torch.tensor(keep, device=device)
            batch, tokens = select(batch, index), tokens[index]
            rows = [rows[k] for k in keep]
        logits = advance(model, batch, tokens)


def complete(model: Any, tokenizer: Any, prompt: str, sampling: Sampling) -> str:
    """The continuation of a text prompt."""
    ids = tokenizer(prompt)["input_ids"]
    return "".join(stream(model, tokenizer, ids, sampling))


def chat_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])


def reply(model: Any, tokenizer: Any, messages: list[dict[str, str]], sampling: Sampling) -> Iterator[str]:
    """The assistant's answer to a conversation, streamed."""
    return stream(model, tokenizer, chat_prompt(tokenizer, messages), sampling)
