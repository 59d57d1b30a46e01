"""What a domain pack is on disk, reading it back, and checking a user's own pack.

A domain pack is a folder of four files:

- `pack.json`: an object with at least `name`, `source` and `licence` (built-in packs add
  `packages` with versions, `counts`, `seed`, `subset`, `eval_share`).
- `corpus.jsonl`: knowledge passages, one JSON object a line: `{"id", "fact_id", "text"}`.
  Only `text` is required; `fact_id` names the fact a passage states (each built-in fact is
  stated in several paraphrases), so a checker can tell that every evaluated fact is in the corpus.
- `train_qa.jsonl`: question/answer pairs for fine-tuning.
- `eval_qa.jsonl`: held-out questions: about facts that `train_qa` never asks about, in question
  templates that `train_qa` never uses.

A question line (`QAItem`) is

    {"id": "eval/medical/title/A00.1",          unique across train and eval
     "question": "Give the name of ICD-10 code A00.1.",
     "answer": "Cholera due to Vibrio cholerae 01, biovar eltor",   the training target
     "aliases": [],                              other answers judged right
     "kind": "fact" | "made_up",                 made_up: an entity that does not exist
     "fact_id": "medical/title/A00.1",           null for made_up
     "template": "Give the name of ICD-10 {label}.",
     "relation": "title", "entity": "A00.1"}     optional, for grouping and look-ups

`id`, `question`, `answer` and `kind` are required, `fact_id` too for facts. A made-up question's
answer must be an abstention ("I don't know", by the judge's rule in
`bigmodel.eval.hallucination`), and a fact's answer must not be one.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from bigmodel.checkpoint import atomic_directory, write_json
from bigmodel.errors import BigModelError

PACK_JSON = "pack.json"
CORPUS = "corpus.jsonl"
TRAIN_QA = "train_qa.jsonl"
EVAL_QA = "eval_qa.jsonl"
PACK_FILES = (PACK_JSON, CORPUS, TRAIN_QA, EVAL_QA)
KINDS = ("fact", "made_up")


@dataclasses.dataclass(frozen=True)
class Passage:
    id: str
    fact_id: str | None
    text: str


@dataclasses.dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answer: str
    aliases: tuple[str, ...]
    kind: str
    fact_id: str | None
    template: str | None = None
    relation: str | None = None
    entity: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["aliases"] = list(self.aliases)
        return data


@dataclasses.dataclass
class Pack:
    meta: dict[str, Any]
    corpus: list[Passage]
    train: list[QAItem]
    eval: list[QAItem]

    @property
    def name(self) -> str:
        return self.meta["name"]

    def write(self, out: str | Path) -> Path:
        """Write the pack folder atomically: complete at `out`, or `out` left as it was."""
        out = Path(out)
        with atomic_directory(out, PACK_JSON) as tmp:
            write_json(tmp / PACK_JSON, self.meta)
            _write_jsonl(tmp / CORPUS, (dataclasses.asdict(p) for p in self.corpus))
            _write_jsonl(tmp / TRAIN_QA, (item.to_json() for item in self.train))
            _write_jsonl(tmp / EVAL_QA, (item.to_json() for item in self.eval))
        return out


def _write_jsonl(path: Path, rows: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a pack, located by file and (for JSONL files) line."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path} line {self.line}"
        return f"{where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validate_pack(folder: str | Path) -> tuple[Pack | None, list[Problem]]:
    """Read a pack folder and check it. Returns the pack (None when there are problems) and
    every problem found, each located by file and line."""
    from bigmodel.eval.hallucination import is_abstention

    folder = Path(folder)
    if not folder.is_dir():
        return None, [Problem(str(folder), None, "a file; give the pack's folder" if folder.exists() else "no such pack folder")]
    problems: list[Problem] = []
    for name in PACK_FILES:
        if not (folder / name).is_file():
            problems.append(Problem(str(folder / name), None, "missing file (a pack needs pack.json, corpus.jsonl, train_qa.jsonl, eval_qa.jsonl)"))
    if problems:
        return None, problems

    meta_path, corpus_path, train_path, eval_path = (str(folder / name) for name in PACK_FILES)
    meta = _read_meta(meta_path, problems)
    corpus = [p for p in (_passage(corpus_path, n, row, problems) for n, row in _read_jsonl(corpus_path, problems)) if p]
    train_lines = _qa_lines(train_path, problems)
    eval_lines = _qa_lines(eval_path, problems)

    if not corpus and not any(p.path == corpus_path for p in problems):
        problems.append(Problem(corpus_path, None, "no passages (the corpus is where the knowledge comes from)"))
    if not eval_lines and not any(p.path == eval_path for p in problems):
        problems.append(Problem(eval_path, None, "no questions (an empty eval set measures nothing)"))

    first_seen: dict[str, str] = {}
    for path, lines in ((train_path, train_lines), (eval_path, eval_lines)):
        for n, item in lines:
            if item.id in first_seen:
                problems.append(Problem(path, n, f"duplicate question id {item.id!r} (first on {first_seen[item.id]})"))
            else:
                first_seen[item.id] = f"{Path(path).name} line {n}"
            if item.kind == "made_up" and not is_abstention(item.answer):
                problems.append(Problem(path, n, f"made-up question {item.id!r} must be answered with an abstention such as \"I don't know\", found {item.answer!r}"))
            if item.kind == "fact" and is_abstention(item.answer):
                problems.append(Problem(path, n, f"question {item.id!r} is about a fact but its answer {item.answer!r} is an abstention"))

    train_facts = {item.fact_id for _, item in train_lines if item.fact_id}
    train_templates = {item.template for _, item in train_lines if item.template}
    stated_facts = {p.fact_id for p in corpus if p.fact_id}
    for n, item in eval_lines:
        if item.fact_id and item.fact_id in train_facts:
            problems.append(Problem(eval_path, n, f"fact {item.fact_id!r} is also asked in {TRAIN_QA} (eval facts must be held out)"))
        if item.template and item.template in train_templates:
            problems.append(Problem(eval_path, n, f"template {item.template!r} is also used in {TRAIN_QA} (eval templates must never appear in training)"))
        if stated_facts and item.fact_id and item.fact_id not in stated_facts:
            problems.append(Problem(eval_path, n, f"fact {item.fact_id!r} is stated by no passage of {CORPUS}"))

    if problems or meta is None:
        return None, problems
    return Pack(meta, corpus, [q for _, q in train_lines], [q for _, q in eval_lines]), []


def load_pack(folder: str | Path) -> Pack:
    """Read and check a pack folder; a bad pack raises with its first problem."""
    pack, problems = validate_pack(folder)
    if problems:
        more = f" (and {len(problems) - 1} more; see `bigmodel vertical pack {folder}`)" if len(problems) > 1 else ""
        raise BigModelError(f"{problems[0]}{more}")
    assert pack is not None
    return pack


def _read_meta(path: str, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        problems.append(Problem(path, None, f"not valid JSON ({err})"))
        return None
    if not isinstance(meta, dict):
        problems.append(Problem(path, None, f"expected a JSON object, found {type(meta).__name__}"))
        return None
    missing = [key for key in ("name", "source", "licence") if not isinstance(meta.get(key), str) or not meta[key].strip()]
    if missing:
        problems.append(Problem(path, None, f"field(s) {', '.join(missing)} must be non-empty strings"))
        return None
    return meta


def _read_jsonl(path: str, problems: list[Problem]) -> list[tuple[int, dict[str, Any]]]:
    """The objects of a JSONL file with their 1-based line numbers; blank lines are skipped."""
    rows = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(Problem(path, number, "not UTF-8 text"))
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as err:
                problems.append(Problem(path, number, f"not valid JSON: {err.msg} (column {err.colno})"))
                continue
            if not isinstance(row, dict):
                problems.append(Problem(path, number, f"expected a JSON object, found {type(row).__name__}"))
                continue
            rows.append((number, row))
    return rows


def _qa_lines(path: str, problems: list[Problem]) -> list[tuple[int, QAItem]]:
    items = ((n, _qa_item(path, n, row, problems)) for n, row in _read_jsonl(path, problems))
    return [(n, item) for n, item in items if item is not None]


def _optional_string(row: dict[str, Any], key: str) -> bool:
    return row.get(key) is None or isinstance(row[key], str)


def _passage(path: str, number: int, row: dict[str, Any], problems: list[Problem]) -> Passage | None:
    if not isinstance(row.get("text"), str) or not row["text"].strip():
        problems.append(Problem(path, number, "field 'text' must be a non-empty string"))
        return None
    for key in ("id", "fact_id"):
        if not _optional_string(row, key):
            problems.append(Problem(path, number, f"field {key!r} must be a string"))
            return None
    return Passage(id=row.get("id") or f"line-{number}", fact_id=row.get("fact_id"), text=row["text"])


def _qa_item(path: str, number: int, row: dict[str, Any], problems: list[Problem]) -> QAItem | None:
    def bad(message: str) -> None:
        problems.append(Problem(path, number, message))

    if not isinstance(row.get("id"), str) or not row["id"].strip():
        return bad("field 'id' must be a non-empty string")
    if not isinstance(row.get("question"), str) or not row["question"].strip():
        return bad(f"question {row['id']!r}: field 'question' must be a non-empty string")
    if not isinstance(row.get("answer"), str) or not row["answer"].strip():
        return bad(f"question {row['id']!r} has no answer")
    if row.get("kind") not in KINDS:
        return bad(f"question {row['id']!r}: field 'kind' must be one of {', '.join(KINDS)}, found {row.get('kind')!r}")
    aliases = row.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        return bad(f"question {row['id']!r}: field 'aliases' must be a list of strings")
    if row["kind"] == "fact" and (not isinstance(row.get("fact_id"), str) or not row["fact_id"].strip()):
        return bad(f"question {row['id']!r}: a fact question needs a 'fact_id'")
    for key in ("fact_id", "template", "relation", "entity"):
        if not _optional_string(row, key):
            return bad(f"question {row['id']!r}: field {key!r} must be a string")
    return QAItem(
        id=row["id"],
        question=row["question"],
        answer=row["answer"],
        aliases=tuple(aliases),
        kind=row["kind"],
        fact_id=row.get("fact_id") if row["kind"] == "fact" else None,
        template=row.get("template"),
        relation=row.get("relation"),
        entity=row.get("entity"),
    )
