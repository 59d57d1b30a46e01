"""`bigmodel eval hallucination` and what it is built on: batched greedy answers
(`generate.generate_batch`, `eval.ask.answer_questions`), general perplexity, the CLI's report."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, make_llm) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("eval-models")
    return make_llm(root / "base", seed=0, chat=False, tied=False), make_llm(root / "chat", seed=1, chat=True)


@pytest.fixture(scope="module")
def items():
    from bigmodel.data.packs import resolve_pack

    return resolve_pack("finance", subset=40).eval[:12]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "bigmodel.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def test_generate_batch_matches_stream(models):
    """Left-padded batched greedy decoding gives each prompt what `stream` gives it alone."""
    from bigmodel.families.llm.generate import Sampling, generate_batch, stream
    from bigmodel.families.llm.model_io import load_llm

    for model_dir in models:
        model, tokenizer = load_llm(model_dir)
        prompts = [list(tokenizer(text)["input_ids"]) for text in ("In the", "Flying into LHR, which city", "Euro\n")]
        # Rows end at different steps (stop strings, EOS) and are dropped from the batch as they do.
        for sampling in (Sampling(temperature=0, top_p=1, top_k=0, max_new_tokens=12),
                         Sampling(temperature=0, top_p=1, top_k=0, max_new_tokens=1),
                         Sampling(temperature=0, top_p=1, top_k=0, max_new_tokens=12, stop=("\n", "e", "a"))):
            alone = ["".join(stream(model, tokenizer, p, sampling)) for p in prompts]
            assert generate_batch(model, tokenizer, prompts, sampling) == alone
        assert generate_batch(model, tokenizer, [], sampling) == []


def test_answer_questions_batched_deterministic(models, items):
    from bigmodel.eval.ask import answer_questions

    for model_dir in models:
        batched = answer_questions(model_dir, items, max_new_tokens=8, batch_size=5)
        assert len(batched) == len(items) and all(isinstance(a, str) for a in batched)
        assert answer_questions(model_dir, items, max_new_tokens=8, batch_size=5) == batched
        assert answer_questions(model_dir, items, max_new_tokens=8, batch_size=1) == batched


def test_prompt_format(models):
    from bigmodel.eval.ask import is_chat_model, question_prompt
    from bigmodel.families.llm.generate import chat_prompt
    from bigmodel.families.llm.model_io import load_tokenizer

    base, chat = models
    tokenizer = load_tokenizer(base)
    assert not is_chat_model(base, tokenizer) and is_chat_model(chat, tokenizer)
    assert question_prompt(tokenizer, "Why?", chat=False) == list(tokenizer("Why?\n")["input_ids"])
    assert question_prompt(tokenizer, "Why?", chat=True) == chat_prompt(tokenizer, [{"role": "user", "content": "Why?"}])


def test_general_perplexity(models):
    from bigmodel.eval.ask import general_perplexity, general_sample

    texts = general_sample(8)
    assert len(texts) == 8 and texts == general_sample(8)
    value = general_perplexity(models[0], texts)
    # A random model over a vocabulary of ~300: perplexity near the vocabulary size.
    assert math.isfinite(value) and 50 < value < 2000
    assert general_perplexity(models[0], texts, batch_size=3) == pytest.approx(value, rel=1e-4)


def test_cli_hallucination_report(models, tmp_path):
    base, chat = models
    out = tmp_path / "report"
    result = _run("eval", "hallucination", "--models", str(base), str(chat), "--domain", "finance", "--subset", "40",
                  "--questions", "15", "--max-new-tokens", "6", "--general-texts", "16", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "| model |" in result.stdout and "general perplexity" in result.stdout
    data = json.loads((out / "hallucination.json").read_text(encoding="utf-8"))
    assert (out / "hallucination.png").stat().st_size > 1000 and (out / "hallucination.md").is_file()
    assert set(data["models"]) == {"base", "chat"}
    ids = {name: [v["id"] for v in verdicts] for name, verdicts in data["verdicts"].items()}
    assert ids["base"] == ids["chat"] and len(ids["base"]) == 15 == data["questions"]["fact"] + data["questions"]["made_up"]
    for name, entry in data["models"].items():
        metrics = entry["metrics"]
        facts = [metrics[m]["count"] for m in ("accuracy", "hallucination_rate", "abstention_rate")]
        assert sum(facts) == data["questions"]["fact"] == metrics["accuracy"]["n"]
        assert metrics["made_up_accuracy"]["n"] == data["questions"]["made_up"]
        for rate in metrics.values():
            if rate["value"] is not None:
                # Wilson bounds at a rate of exactly 0 or 1 may miss it by rounding (~1e-17).
                assert 0 <= rate["low"] <= rate["value"] + 1e-9 and rate["value"] - 1e-9 <= rate["high"] <= 1
        assert entry["extra"]["general perplexity"] > 1
    # The untied random base answers every question with noise: all judged wrong, none right.
    assert data["models"]["base"]["metrics"]["hallucination_rate"]["count"] == data["questions"]["fact"] > 0
    assert data["models"]["base"]["metrics"]["made_up_accuracy"]["count"] == 0
    # Same seed, same answers.
    again = _run("eval", "hallucination", "--models", str(base), "--domain", "finance",
                 "--subset", "40", "--questions", "15", "--max-new-tokens", "6", "--general-texts", "0", "--json",
                 "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["models"]["base"]["metrics"] == data["models"]["base"]["metrics"]
    assert json.loads((tmp_path / "again" / "hallucination.json").read_text())["verdicts"]["base"] == data["verdicts"]["base"]


def test_cli_bad_input(models, tmp_path):
    base, _ = models
    not_llm = tmp_path / "vision"
    not_llm.mkdir()
    (not_llm / "config.json").write_text(json.dumps({"model_type": "vit", "architectures": ["ViTForImageClassification"]}))
    cases = [
        (["--models", str(not_llm), "--domain", "finance"], "an LLM is needed"),
        (["--models", str(tmp_path / "missing"), "--domain", "finance"], "no such model directory"),
        (["--models", str(base), "--domain", "astrology"], "known domains: medical, travel, finance"),
        (["--models", str(base), "--domain", "finance", "--subset", "1"], "no eval questions"),
        (["--models", str(base), "--domain", "finance", "--questions", "0"], "--questions must be >= 1"),
        (["--models", str(base), "--domain", "finance", "--max-new-tokens", "0"], "--max-new-tokens and --batch-size must be >= 1"),
    ]
    for args, expected in cases:
        result = _run("eval", "hallucination", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert expected in result.stderr + result.stdout, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len((result.stderr + result.stdout).strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "eval").exists()
