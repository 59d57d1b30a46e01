"""Training a ViT through the CLI: a Hugging Face directory that transformers loads, its card,
metrics, pictures, exact resume, and fine-tuning a user's ViT checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch


def card(model_dir: Path) -> dict:
    return json.loads((model_dir / "bigmodel.json").read_text())


def test_trained_model_is_a_complete_huggingface_directory(vit_dir: Path) -> None:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "bigmodel.json", "metrics.jsonl",
                 "curves.png", "confusion_matrix.png", "REPORT.md"):
        assert (vit_dir / name).is_file(), name
    model = AutoModelForImageClassification.from_pretrained(vit_dir)
    processor = AutoImageProcessor.from_pretrained(vit_dir)
    assert model.config.id2label[3] == "3" and model.config.label2id["7"] == 7
    assert processor.size["height"] == model.config.image_size == 16
    info = card(vit_dir)
    assert info["family"] == "vision" and info["task"] == "image-classification"
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["data"][0]["name"] == "digits" and info["data"][0]["test"] > 300
    assert 0.0 <= info["metrics"]["test_accuracy"] <= 1.0
    rows = [json.loads(line) for line in (vit_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == info["extra"]["steps"] and {"train_loss", "test_accuracy"} <= rows[-1].keys()
    assert "](./confusion_matrix.png)" in (vit_dir / "REPORT.md").read_text()
    assert not list(vit_dir.parent.glob(".vit-digits*")), "no training state or partial folder left behind"


def test_tiny_vit_learns_digits_well_above_chance(tmp_path: Path) -> None:
    from bigmodel.families.vision.train import train_classifier

    metrics = train_classifier("digits", tmp_path / "vit", preset="tiny", steps=300, seed=1).metrics
    assert metrics["test_accuracy"] > 0.5  # chance is 0.1; 0.71 when written


def test_interrupted_run_resumes_to_the_same_weights(tmp_path: Path, monkeypatch) -> None:
    from safetensors.torch import load_file

    from bigmodel.data import images
    from bigmodel.families.vision import train as vision_train

    straight = tmp_path / "straight"
    vision_train.train_classifier("digits", straight, preset="tiny", steps=40, seed=3)

    calls = {"n": 0}
    real_augment = images.augment

    def dies_at_step_35(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 35:
            raise KeyboardInterrupt
        return real_augment(*args, **kwargs)

    resumed = tmp_path / "resumed"
    monkeypatch.setattr(images, "augment", dies_at_step_35)
    with pytest.raises(KeyboardInterrupt):
        vision_train.train_classifier("digits", resumed, preset="tiny", steps=40, seed=3)
    assert not resumed.exists() and (tmp_path / ".resumed.training" / "state" / "state.json").is_file()
    monkeypatch.setattr(images, "augment", real_augment)
    vision_train.train_classifier("digits", resumed, preset="tiny", steps=40, seed=3, resume=True)

    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [json.loads(l)["step"] for l in (resumed / "metrics.jsonl").read_text().splitlines()] == [10, 20, 30, 40]


def test_fine_tunes_a_users_huggingface_vit_to_new_labels(tmp_path: Path, cli, digit_pngs) -> None:
    from transformers import (
        AutoModelForImageClassification,
        ViTConfig,
        ViTForImageClassification,
    )

    users = tmp_path / "users-vit"
    config = ViTConfig(image_size=24, patch_size=6, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, num_labels=4, id2label={i: f"old{i}" for i in range(4)})
    ViTForImageClassification(config).save_pretrained(users)  # a bare checkpoint: no card, no processor

    before = json.loads(cli("classify", str(users), str(digit_pngs[0][0]), "--json").stdout)
    assert before[0]["top"][0]["label"].startswith("old")

    out = tmp_path / "tuned"
    cli("vision", "train", "--data", "digits", "--base", str(users), "--steps", "5", "--preset", "tiny", "--out", str(out))
    tuned = AutoModelForImageClassification.from_pretrained(out)
    assert tuned.config.num_labels == 10 and tuned.config.image_size == 24
    assert card(out)["base_model"] == str(users)
    after = json.loads(cli("classify", str(out), str(digit_pngs[0][0]), "--json", "--top-k", "10").stdout)
    assert {t["label"] for t in after[0]["top"]} == {str(d) for d in range(10)}


def test_trains_on_a_users_image_folder(tmp_path: Path, cli) -> None:
    from PIL import Image

    root = tmp_path / "pets"
    for name, colour in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (20 + i, 20), colour).save(root / name / f"{i}.png")
    out = tmp_path / "pets-vit"
    cli("vision", "train", "--data", str(root), "--preset", "tiny", "--steps", "5", "--out", str(out))
    info = card(out)
    assert info["extra"]["labels"] == ["cats", "dogs"] and info["data"][0]["images"] == 12
