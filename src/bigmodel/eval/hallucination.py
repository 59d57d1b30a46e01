"""The hallucination benchmark's judge, its statistics and its report.

Judging rule (no judge model; the same for every model):

1. Only the first non-empty line of an answer counts (generation may run on past it).
2. `normalise`: Unicode NFKC, case-folded; every punctuation or symbol character becomes a space
   (so "A00.0" reads "a00 0" and "don't" reads "don t"); the articles "a", "an", "the" are dropped;
   runs of whitespace become one space.
3. An answer *abstains* when, normalised, it is empty, is one of `ABSTENTION_ANSWERS`
   ("unknown", "no idea", …) or begins with one of `ABSTENTION_OPENINGS` ("i don t know",
   "i am not sure", "there is no such", …).
4. A question about a fact: *right* when the normalised answer equals the normalised gold answer
   or one of its aliases; else *abstained* when it abstains; else *wrong* — a hallucination, an
   answer given instead of abstaining. A question about a made-up entity: *abstained* (which is
   right) when it abstains, else *wrong*.

Figures (`summarise`), each a rate with a 95% Wilson score interval:
- accuracy, hallucination_rate, abstention_rate: shares of the questions about real facts that
  were right, wrong and abstained (they add up to 1);
- made_up_accuracy: share of the questions about made-up entities that were abstained on.

A model's results are its (question, answer) pairs: whatever produced the answers (a model, a
lookup, a person) the judging and the report are the same.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping, Sequence

from bigmodel.errors import BigModelError
from bigmodel.eval.stats import wilson_interval

if TYPE_CHECKING:
    from bigmodel.data.packs.schema import QAItem

Verdict = Literal["right", "wrong", "abstained"]

ABSTAIN_ANSWER = "I don't know"
# Whole answers that abstain only when alone: a real title may begin with "Unknown".
ABSTENTION_ANSWERS = frozenset({"unknown", "not known", "no answer"})
# Openings of an answer that abstains (the whole answer, or its first words), normalised.
ABSTENTION_OPENINGS = (
    "i don t know",
    "i do not know",
    "i dont know",
    "i m not sure",
    "i am not sure",
    "i m not aware",
    "i am not aware",
    "i cannot answer",
    "i can t answer",
    "i am unable",
    "i m unable",
    "i have no information",
    "there is no such",
    "no such",
    "no idea",
    "not sure",
)
ARTICLES = frozenset({"a", "an", "the"})
METRICS = ("accuracy", "hallucination_rate", "abstention_rate", "made_up_accuracy")
METRIC_TITLES = {
    "accuracy": "accuracy",
    "hallucination_rate": "hallucination",
    "abstention_rate": "abstention",
    "made_up_accuracy": "made-up: abstained",
}
REPORT_JSON = "hallucination.json"
REPORT_MD = "hallucination.md"
REPORT_PNG = "hallucination.png"


def normalise(text: str) -> str:
    """The form answers are compared in (rule 2 of the module's judging rule)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return " ".join(word for word in text.split() if word not in ARTICLES)


def _first_line(answer: str) -> str:
    return next((line for line in answer.splitlines() if line.strip()), "")


def is_abstention(answer: str) -> bool:
    """Whether an answer declines to answer (rule 3)."""
    text = normalise(_first_line(answer))
    return not text or text in ABSTENTION_ANSWERS or any(text == o or text.startswith(o + " ") for o in ABSTENTION_OPENINGS)


def judge(answer: str, item: "QAItem") -> Verdict:
    """'right', 'wrong' or 'abstained' for one answer to one question (rule 4)."""
    if item.kind == "fact":
        given = normalise(_first_line(answer))
        if given and given in {normalise(gold) for gold in (item.answer, *item.aliases)}:
            return "right"
    return "abstained" if is_abstention(answer) else "wrong"


def _rate(count: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(count, n)
    return {"value": count / n if n else None, "low": low, "high": high, "count": count, "n": n}


def summarise(answers: Iterable[tuple["QAItem", str]]) -> dict[str, dict[str, Any]]:
    """Accuracy, hallucination, abstention on facts and abstention on made-up entities, each as
    {value, low, high, count, n}."""
    facts = {"right": 0, "wrong": 0, "abstained": 0}
    made_up = {"right": 0, "wrong": 0, "abstained": 0}
    for item, answer in answers:
        (facts if item.kind == "fact" else made_up)[judge(answer, item)] += 1
    n_facts, n_made_up = sum(facts.values()), sum(made_up.values())
    return {
        "accuracy": _rate(facts["right"], n_facts),
        "hallucination_rate": _rate(facts["wrong"], n_facts),
        "abstention_rate": _rate(facts["abstained"], n_facts),
        "made_up_accuracy": _rate(made_up["abstained"], n_made_up),
    }


@dataclasses.dataclass(frozen=True)
class Report:
    """Where `write_report` put its files, and the Markdown table to print."""

    folder: Path
    table: str

    @property
    def json(self) -> Path:
        return self.folder / REPORT_JSON

    @property
    def markdown(self) -> Path:
        return self.folder / REPORT_MD

    @property
    def chart(self) -> Path:
        return self.folder / REPORT_PNG


def write_report(
    answers_by_model: Mapping[str, Sequence[tuple["QAItem", str]]],
    out_dir: str | Path,
    *,
    domain: str,
    extra: Mapping[str, Mapping[str, float]] | None = None,
) -> Report:
    """Judge every model's answers to the same questions and write, atomically into `out_dir`,
    `hallucination.json` (figures and every verdict), `hallucination.md` (the table) and
    `hallucination.png` (grouped bars with the intervals). `extra` adds per-model figures, e.g.
    {"base": {"general perplexity": 21.3}}, as further table columns."""
    from bigmodel.checkpoint import atomic_directory, write_json

    if not answers_by_model:
        raise BigModelError("no models to compare")
    questions = {name: sorted(item.id for item, _ in pairs) for name, pairs in answers_by_model.items()}
    first = next(iter(answers_by_model))
    for name, ids in questions.items():
        if ids != questions[first]:
            raise BigModelError(f"models {first!r} and {name!r} were not asked the same questions")
        if len(set(ids)) != len(ids):
            raise BigModelError(f"model {name!r} answered a question twice")
    extra = {name: dict(extra.get(name, {})) for name in answers_by_model} if extra else {name: {} for name in answers_by_model}
    summaries = {name: summarise(pairs) for name, pairs in answers_by_model.items()}
    table = _markdown_table(summaries, extra)
    n_facts = summaries[first]["accuracy"]["n"]
    n_made_up = summaries[first]["made_up_accuracy"]["n"]
    data = {
        "domain": domain,
        "questions": {"fact": n_facts, "made_up": n_made_up},
        "rule": "normalised exact match against the answer and its aliases; see bigmodel.eval.hallucination",
        "models": {name: {"metrics": summaries[name], "extra": extra[name]} for name in answers_by_model},
        "verdicts": {
            name: [{"id": item.id, "answer": answer, "verdict": judge(answer, item)} for item, answer in pairs]
            for name, pairs in answers_by_model.items()
        },
    }
    out_dir = Path(out_dir)
    with atomic_directory(out_dir, REPORT_JSON) as tmp:
        write_json(tmp / REPORT_JSON, data)
        (tmp / REPORT_MD).write_text(
            f"# Hallucination benchmark: {domain}\n\n"
            f"{n_facts} questions about held-out facts, {n_made_up} about made-up entities; "
            "rates with 95% Wilson intervals. Hallucination: a wrong answer given instead of "
            "abstaining. Judged by normalised exact match against the answer and its aliases.\n\n"
            f"{table}\n\n![hallucination benchmark](./{REPORT_PNG})\n",
            encoding="utf-8",
        )
        _bar_chart(summaries, domain, tmp / REPORT_PNG)
    return Report(out_dir, table)


def _cell(rate: dict[str, Any]) -> str:
    if rate["value"] is None:
        return "n/a"
    return f"{100 * rate['value']:.1f}% [{100 * rate['low']:.1f}–{100 * rate['high']:.1f}]"


def _markdown_table(summaries: Mapping[str, Mapping[str, dict[str, Any]]], extra: Mapping[str, Mapping[str, float]]) -> str:
    extra_columns = sorted({key for values in extra.values() for key in values})
    header = ["model", *(METRIC_TITLES[m] for m in METRICS), *extra_columns]
    rows = [
        [name, *(_cell(summary[m]) for m in METRICS), *(f"{extra[name][c]:.4g}" if c in extra[name] else "n/a" for c in extra_columns)]
        for name, summary in summaries.items()
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _bar_chart(summaries: Mapping[str, Mapping[str, dict[str, Any]]], domain: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(summaries)
    x = np.arange(len(METRICS))
    width = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(max(6.0, 2 + 0.55 * len(METRICS) * len(names)), 4.5))
    for k, name in enumerate(names):
        rates = [summaries[name][m] for m in METRICS]
        values = np.array([100 * (r["value"] or 0.0) for r in rates])
        bounds = np.array([[100 * r["low"], 100 * r["high"]] if r["value"] is not None else [v, v] for r, v in zip(rates, values)]).T
        # Clipped: at a rate of exactly 0 or 1 rounding can put a bound a hair past the value.
        errors = np.clip([values - bounds[0], bounds[1] - values], 0, None)
        bars = axes.bar(x + (k - (len(names) - 1) / 2) * width, values, width, yerr=errors, capsize=3, label=name)
        axes.bar_label(bars, labels=[f"{v:.0f}" for v in values], fontsize=7, padding=2)
    axes.set_xticks(x, [METRIC_TITLES[m] for m in METRICS])
    axes.set_ylim(0, 125)  # headroom for the legend above the bars
    axes.set_yticks(range(0, 101, 20))
    axes.set_ylabel("% of questions (95% Wilson interval)")
    axes.set_title(f"Hallucination benchmark: {domain}")
    axes.legend(fontsize=8, loc="upper center", ncol=min(len(names), 4))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)

