"""`bigmodel classify` as a user runs it."""

from __future__ import annotations

import json


def test_classify_prints_top_k_labels_with_probabilities(vit_dir, digit_pngs, cli) -> None:
    paths = [str(p) for p, _ in digit_pngs[:3]]
    results = json.loads(cli("classify", str(vit_dir), *paths, "--top-k", "3", "--json").stdout)
    assert [r["image"] for r in results] == paths
    for result in results:
        probabilities = [t["probability"] for t in result["top"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1.0001
        assert all(t["label"] in {str(d) for d in range(10)} for t in result["top"])
    text = cli("classify", str(vit_dir), paths[0]).stdout
    assert paths[0] in text and "%" in text


def test_classify_agrees_with_a_plain_transformers_pipeline(vit_dir, digit_pngs, cli) -> None:
    from transformers import pipeline

    path = str(digit_pngs[4][0])
    ours = json.loads(cli("classify", str(vit_dir), path, "--json", "--top-k", "1").stdout)[0]["top"][0]
    theirs = pipeline("image-classification", model=str(vit_dir))(path, top_k=1)[0]
    assert ours["label"] == theirs["label"]
    assert abs(ours["probability"] - theirs["score"]) < 0.02


def test_commands_have_help_with_an_example(cli) -> None:
    for command in (["vision", "train"], ["classify"]):
        assert "Example:" in cli(*command, "--help").stdout
