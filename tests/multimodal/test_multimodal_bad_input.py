"""Bad captioned data and wrong models get one clear line and exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bigmodel.data.images import read_captions
from bigmodel.errors import BigModelError


def write_folder(root: Path, lines: list[str], images: tuple[str, ...] = ("a.png", "b.png")) -> Path:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    for name in images:
        Image.new("RGB", (16, 16), (200, 0, 0)).save(root / name)
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n")
    return root / "captions.jsonl"


def test_malformed_caption_line_names_its_number(tmp_path: Path) -> None:
    path = write_folder(tmp_path, [json.dumps({"image": "a.png", "caption": "red"}), '{"image": "b.png", "caption": '])
    with pytest.raises(BigModelError, match=r"captions.jsonl:2: not valid JSON"):
        read_captions(path)
    path = write_folder(tmp_path, [json.dumps({"image": "a.png", "caption": "red"}), json.dumps({"image": "b.png"})])
    with pytest.raises(BigModelError, match=r'captions.jsonl:2: expected \{"image"'):
        read_captions(path)


def test_caption_of_a_missing_image_names_the_line(tmp_path: Path) -> None:
    path = write_folder(tmp_path, [json.dumps({"image": "a.png", "caption": "red"}), json.dumps({"image": "gone.png", "caption": "x"})])
    with pytest.raises(BigModelError, match=r"captions.jsonl:2: image 'gone.png' not found"):
        read_captions(path)


def test_train_clip_on_a_bad_folder_fails_cleanly_through_the_cli(tmp_path: Path, cli) -> None:
    write_folder(tmp_path / "data", [json.dumps({"image": "a.png", "caption": "red"}), "not json"])
    out = tmp_path / "clip"
    result = cli("multimodal", "train-clip", "--data", str(tmp_path / "data"), "--preset", "tiny", "--out", str(out), check=False)
    assert result.returncode == 2 and "captions.jsonl:2: not valid JSON" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_retrieve_refuses_a_vision_model(tmp_path: Path, cli, scene_folder) -> None:
    from bigmodel.families.vision.train import train_classifier

    vit = tmp_path / "vit"
    train_classifier("digits", vit, preset="tiny", steps=1)
    folder, captions = scene_folder
    result = cli("retrieve", str(vit), "--text", captions[0], "--images", str(folder), check=False)
    assert result.returncode == 2 and f"{vit} is a vision model" in result.stderr


def test_retrieve_refuses_meaningless_options(cli, clip_dir, scene_folder) -> None:
    folder, captions = scene_folder
    image = str(sorted(folder.glob("*.png"))[0])
    for template in ("no placeholder", "{} and {}"):
        result = cli("retrieve", str(clip_dir), "--image", image, "--labels", "circle,square", "--template", template, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"--template {template!r} must hold '{{}}' once, where each label goes" in result.stderr
    result = cli("retrieve", str(clip_dir), "--text", captions[0], "--images", str(folder), "--top-k", "0", check=False)
    assert result.returncode == 2 and "Invalid value for '--top-k'" in " ".join(result.stderr.replace("│", " ").split())
