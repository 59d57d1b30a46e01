"""The hallucination judge (normalised exact match, abstention), Wilson intervals, the summary,
and the report written from answer lists, on real packs, read back from disk."""

import json
from collections import Counter

import pytest
from PIL import Image

from bigmodel.data.packs import QAItem, build_pack
from bigmodel.errors import BigModelError
from bigmodel.eval.hallucination import (
    ABSTAIN_ANSWER,
    is_abstention,
    judge,
    normalise,
    summarise,
    write_report,
)
from bigmodel.eval.stats import wilson_interval


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Cholera", "cholera"),
        ("  The  Euro. ", "euro"),
        ("A00.0", "a00 0"),
        ("C76-C80", "c76 c80"),
        ("Malignant neoplasm: Upper lobe, bronchus or lung", "malignant neoplasm upper lobe bronchus or lung"),
        ("I don’t know!", "i don t know"),  # curly apostrophe
        ("Côte d'Ivoire", "côte d ivoire"),
        ("ＬＨＲ", "lhr"),  # full-width letters, NFKC
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # case-folded
        ("An apple a day", "apple day"),
        ("US$ 100", "us 100"),
        ("", ""),
    ],
)
def test_normalise(text, expected):
    assert normalise(text) == expected


def fact(answer, aliases=()):
    return QAItem(id="q", question="?", answer=answer, aliases=tuple(aliases), kind="fact", fact_id="f")


MADE_UP = QAItem(id="m", question="?", answer=ABSTAIN_ANSWER, aliases=(), kind="made_up", fact_id=None)


@pytest.mark.parametrize(
    "answer, item, verdict",
    [
        ("Cholera", fact("Cholera"), "right"),
        ("cholera.", fact("Cholera"), "right"),
        ("The Euro", fact("Euro"), "right"),
        ("A00-A09", fact("A00-A09"), "right"),
        ("block A00-A09", fact("A00-A09", ["block A00-A09", "Intestinal infectious diseases"]), "right"),
        ("intestinal infectious diseases", fact("A00-A09", ["block A00-A09", "Intestinal infectious diseases"]), "right"),
        ("Cholera\nand then the model kept talking", fact("Cholera"), "right"),  # only the first line counts
        ("\n\nCholera", fact("Cholera"), "right"),
        ("Cholera due to Vibrio cholerae", fact("Cholera"), "wrong"),  # exact, not containment
        ("It is cholera", fact("Cholera"), "wrong"),
        ("Typhoid fever", fact("Cholera"), "wrong"),
        ("I don't know", fact("Cholera"), "abstained"),
        ("I do not know which code that is.", fact("Cholera"), "abstained"),
        ("I'm not sure", fact("Cholera"), "abstained"),
        ("unknown", fact("Cholera"), "abstained"),
        ("", fact("Cholera"), "abstained"),
        # A real title that begins with "Unknown" is an answer, not an abstention.
        ("Unknown and unspecified causes of morbidity", fact("Cholera"), "wrong"),
        ("Unknown and unspecified causes of morbidity", fact("Unknown and unspecified causes of morbidity"), "right"),
        ("I don't know", MADE_UP, "abstained"),
        ("There is no such code.", MADE_UP, "abstained"),
        ("No idea", MADE_UP, "abstained"),
        ("Cholera", MADE_UP, "wrong"),
        ("I don't know", fact("I don't know"), "right"),  # the gold answer wins over the abstention rule
    ],
)
def test_judge(answer, item, verdict):
    assert judge(answer, item) == verdict


def test_abstention_needs_a_whole_phrase():
    assert is_abstention("I don't know.") and is_abstention("no such code")
    assert not is_abstention("Unknown and unspecified causes of morbidity")
    assert not is_abstention("Notable") and not is_abstention("I don't knowledge")


@pytest.mark.parametrize(
    "successes, n, low, high",
    [
        (8, 10, 0.4902, 0.9433),  # the textbook example
        (0, 10, 0.0, 0.2775),  # upper bound z²/(n+z²)
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
        (1, 1000, 0.000177, 0.005642),
        (0, 0, 0.0, 1.0),
    ],
)
def test_wilson_interval_known_values(successes, n, low, high):
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


@pytest.fixture(scope="module")
def medical():
    return build_pack("medical", subset=1500, seed=0)


def perfect(pack):
    """Looks every answer up in the pack (a retrieval oracle), abstains on what it cannot find."""
    known = {q.fact_id: q.answer for q in pack.train + pack.eval if q.kind == "fact"}
    return [(q, known.get(q.fact_id, ABSTAIN_ANSWER).upper() + ".") for q in pack.eval]


def always_guess(pack):
    """Never abstains: answers the most common training answer of the question's relation."""
    common = {}
    for relation in {q.relation for q in pack.train}:
        common[relation] = Counter(q.answer for q in pack.train if q.relation == relation and q.kind == "fact").most_common(1)[0][0]
    return [(q, common[q.relation]) for q in pack.eval]


def always_abstain(pack):
    return [(q, "I don't know.") for q in pack.eval]


def test_summary_of_three_answerers(medical):
    n_facts = sum(q.kind == "fact" for q in medical.eval)
    n_made_up = len(medical.eval) - n_facts
    best = summarise(perfect(medical))
    assert {m: best[m]["value"] for m in best} == {"accuracy": 1.0, "hallucination_rate": 0.0, "abstention_rate": 0.0, "made_up_accuracy": 1.0}
    assert best["accuracy"]["n"] == n_facts and best["made_up_accuracy"]["n"] == n_made_up
    assert best["accuracy"]["low"] == pytest.approx(wilson_interval(n_facts, n_facts)[0])

    guess = summarise(always_guess(medical))
    assert guess["made_up_accuracy"]["value"] == 0.0 and guess["abstention_rate"]["value"] == 0.0
    assert guess["accuracy"]["value"] < 0.2 and guess["hallucination_rate"]["value"] > 0.8
    assert guess["accuracy"]["count"] + guess["hallucination_rate"]["count"] == n_facts

    silent = summarise(always_abstain(medical))
    assert silent["abstention_rate"]["value"] == 1.0 and silent["made_up_accuracy"]["value"] == 1.0
    assert silent["accuracy"]["value"] == 0.0 and silent["hallucination_rate"]["value"] == 0.0


def test_report_files_read_back(medical, tmp_path):
    answers = {"perfect": perfect(medical), "always-guess": always_guess(medical), "always-abstain": always_abstain(medical)}
    out = tmp_path / "report"
    out.mkdir()
    (out / "hallucination.json").write_text("{}")  # an earlier run's report, replaced whole
    (out / "stale.txt").write_text("from an earlier run")
    report = write_report(answers, out, domain="medical", extra={"perfect": {"general perplexity": 21.25}})
    assert sorted(p.name for p in out.iterdir()) == ["hallucination.json", "hallucination.md", "hallucination.png"]

    data = json.loads(report.json.read_text())
    assert data["domain"] == "medical" and list(data["models"]) == list(answers)
    assert data["questions"] == {"fact": sum(q.kind == "fact" for q in medical.eval), "made_up": sum(q.kind == "made_up" for q in medical.eval)}
    for name, pairs in answers.items():
        assert data["models"][name]["metrics"] == json.loads(json.dumps(summarise(pairs)))
        verdicts = Counter(v["verdict"] for v in data["verdicts"][name])
        assert sum(verdicts.values()) == len(medical.eval)
    assert data["models"]["perfect"]["extra"] == {"general perplexity": 21.25}
    assert Counter(v["verdict"] for v in data["verdicts"]["always-abstain"]) == {"abstained": len(medical.eval)}

    markdown = report.markdown.read_text()
    assert report.table in markdown and "![hallucination benchmark](./hallucination.png)" in markdown
    rows = report.table.splitlines()
    assert rows[0] == "| model | accuracy | hallucination | abstention | made-up: abstained | general perplexity |"
    assert rows[2].startswith("| perfect | 100.0% [") and rows[2].endswith("| 21.25 |")
    assert rows[4].startswith("| always-abstain | 0.0% [0.0–") and rows[4].endswith("| n/a |")

    with Image.open(report.chart) as image:
        assert image.format == "PNG" and image.width > 600 and image.height > 300


def test_report_refuses_models_asked_different_questions(medical, tmp_path):
    answers = {"a": perfect(medical), "b": perfect(medical)[1:]}
    with pytest.raises(BigModelError, match="models 'a' and 'b' were not asked the same questions"):
        write_report(answers, tmp_path / "report", domain="medical")
    assert not (tmp_path / "report").exists()


def test_wilson_bounds_are_exact_at_the_extremes():
    for n in (1, 7, 120, 10_000):
        assert wilson_interval(0, n)[0] == 0.0
        assert wilson_interval(n, n)[1] == 1.0
