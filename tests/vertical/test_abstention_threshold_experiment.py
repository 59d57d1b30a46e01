"""experiments/abstention_threshold.py: each question asked as the evaluation asks it, and again
with the abstention taken away; the rules it scores rest on those two answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "experiments" / "abstention_threshold.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, check=False)


def test_its_first_verdicts_are_the_evaluations_and_forced_answers_never_decline_with_passages(make_llm, tmp_path):
    from bigmodel.data.packs import resolve_pack
    from bigmodel.eval.ask import answer_questions, sample_questions
    from bigmodel.eval.hallucination import judge
    from bigmodel.families.vertical.retrieval import Retriever

    pack = resolve_pack("finance")
    model = make_llm(tmp_path / "grounded", seed=5, chat=True, tied=False)
    Retriever.build(pack.corpus, "bm25", k=2).save(model)
    rows_file = tmp_path / "rows.json"
    result = run(str(model), "--domain", "finance", "--questions", "24", "--json", str(rows_file))
    assert result.returncode == 0, result.stderr[-2000:]

    items = sample_questions(pack.eval, 24, 0)
    evaluated = [judge(answer, item) for item, answer in zip(items, answer_questions(model, items))]
    rows = json.loads(rows_file.read_text())
    assert [r["id"] for r in rows] == [item.id for item in items]
    assert [r["as_evaluated"] for r in rows] == evaluated
    assert all(0 <= r["p_abstain"] <= 1 for r in rows)
    retrieved = Retriever.load(model).search([item.question for item in items])
    for row, passages in zip(rows, retrieved):
        if passages:  # a span can be copied, so the forced answer is one
            assert row["forced"] in ("right", "wrong"), row
        else:
            assert row["forced"] == "abstained", row
    facts = [r for r in rows if r["kind"] == "fact"]
    right = sum(r["as_evaluated"] == "right" for r in facts)
    assert f"as evaluated: right {100 * right / len(facts):.1f}%" in result.stdout


def test_a_model_without_a_retrieval_index_is_refused_plainly(make_llm, tmp_path):
    model = make_llm(tmp_path / "plain", seed=1, chat=True)
    result = run(str(model), "--domain", "finance", "--questions", "4")
    assert result.returncode != 0
    assert "is not a grounded model with extractive decoding" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_model_directory_is_one_line_not_a_traceback(tmp_path):
    result = run(str(tmp_path / "nowhere"), "--domain", "finance")
    assert result.returncode != 0
    assert f"error: {tmp_path / 'nowhere'}: no such model directory" in result.stderr
    assert "Traceback" not in result.stderr
