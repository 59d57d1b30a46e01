"""The CLIP dual encoder: a directory transformers loads, retrieval both ways, zero-shot
classification, users' captioned folders, and the metrics' arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def test_trained_clip_loads_in_transformers_with_its_processor(clip_dir: Path) -> None:
    from transformers import AutoTokenizer, CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(clip_dir)
    processor = CLIPProcessor.from_pretrained(clip_dir)
    tokenizer = AutoTokenizer.from_pretrained(clip_dir)
    ids = tokenizer("a small red circle on the left")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id == model.config.text_config.eos_token_id
    assert tokenizer.unk_token_id not in ids, "the tokenizer was learned from the captions"
    card = json.loads((clip_dir / "bigmodel.json").read_text())
    assert card["family"] == "multimodal" and set(card["input_modalities"]) == {"image", "text"}
    assert card["parameters"] == sum(p.numel() for p in model.parameters())
    for key in ("test_image_to_text_r1", "test_text_to_image_r5", "held_out_image_to_text_r1"):
        assert 0.0 <= card["metrics"][key] <= 1.0
    assert card["data"][0]["held_out_pairs"]
    inputs = processor(text=["a blue square"], images=[torch.zeros(3, 40, 40)], return_tensors="pt", padding=True,
                       truncation=True)
    assert inputs["pixel_values"].shape[-1] == model.config.vision_config.image_size
    for name in ("metrics.jsonl", "curves.png", "REPORT.md"):
        assert (clip_dir / name).is_file()


def test_retrieve_images_for_a_text(clip_dir, scene_folder, cli) -> None:
    folder, captions = scene_folder
    results = json.loads(cli("retrieve", str(clip_dir), "--text", captions[0], "--images", str(folder), "--top-k", "3", "--json").stdout)
    assert len(results) == 3
    similarities = [r["similarity"] for r in results]
    assert similarities == sorted(similarities, reverse=True) and all(-1 <= s <= 1 for s in similarities)
    assert all(Path(r["image"]).parent == folder for r in results)


def test_rank_texts_and_zero_shot_labels_for_an_image(clip_dir, scene_folder, cli) -> None:
    folder, captions = scene_folder
    image = str(folder / "scene-0.png")
    results = json.loads(cli("retrieve", str(clip_dir), "--image", image, "--texts", captions[1], "--labels",
                             "circle, square,triangle", "--template", "a small red {} on the left", "--json").stdout)
    assert {r["text"] for r in results} == {captions[1]} | {f"a small red {s} on the left" for s in ("circle", "square", "triangle")}
    assert abs(sum(r["probability"] for r in results) - 1) < 1e-3
    assert [r["probability"] for r in results] == sorted((r["probability"] for r in results), reverse=True)


def test_retrieve_needs_one_direction(clip_dir, cli) -> None:
    result = cli("retrieve", str(clip_dir), check=False)
    assert result.returncode == 2 and "either --text" in result.stderr


def test_trains_on_a_users_captioned_folder(tmp_path, scene_folder, cli) -> None:
    folder, captions = scene_folder
    lines = [json.dumps({"image": f"scene-{i}.png", "caption": c}) for i, c in enumerate(captions)]
    (folder / "captions.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "users-clip"
    cli("multimodal", "train-clip", "--data", str(folder), "--preset", "tiny", "--steps", "3", "--out", str(out))
    card = json.loads((out / "bigmodel.json").read_text())
    assert card["data"][0]["images"] == 5 and card["data"][0]["test"] == 1


def test_recall_counts_any_image_a_caption_describes() -> None:
    from bigmodel.families.multimodal.clip import recall

    # three images, two texts: images 0 and 2 are both described by text 0
    truth = torch.tensor([0, 1, 0])
    similarity = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.1, 0.7]])
    metrics = recall(similarity, truth, ks=(1, 2))
    assert metrics["image_to_text_r1"] == round(1 / 3, 4)  # only image 0 ranks its text first
    assert metrics["text_to_image_r1"] == 0.5  # text 0 finds image 0; text 1 finds image 2 (wrong)
    assert metrics["image_to_text_r2"] == 1.0 and metrics["text_to_image_r2"] == 1.0


def test_contrastive_loss_treats_same_captions_as_matches() -> None:
    from bigmodel.families.multimodal.clip import contrastive_loss

    keys = torch.tensor([0, 0, 1])
    aligned = torch.tensor([[5.0, 5.0, -5.0], [5.0, 5.0, -5.0], [-5.0, -5.0, 5.0]])
    one_hot_ideal = torch.tensor([[5.0, -5.0, -5.0], [-5.0, 5.0, -5.0], [-5.0, -5.0, 5.0]])
    assert contrastive_loss(aligned, keys) < contrastive_loss(one_hot_ideal, keys)


def test_hard_negative_texts_are_only_candidates_and_match_where_their_key_agrees() -> None:
    from bigmodel.families.multimodal.clip import contrastive_loss

    image_keys = torch.tensor([0, 1])
    # texts: the two captions, a hard negative of image 0, and a "negative" that is image 1's caption
    text_keys = torch.tensor([0, 1, -1, 1])
    sees_the_difference = torch.tensor([[5.0, -5.0, -5.0, -5.0], [-5.0, 5.0, -5.0, 5.0]])
    fooled = torch.tensor([[-5.0, -5.0, 5.0, -5.0], [-5.0, 5.0, -5.0, 5.0]])  # image 0 prefers its negative
    low = contrastive_loss(sees_the_difference, image_keys, text_keys)
    assert torch.isfinite(low), "the unmatched negative asks for no image"
    assert contrastive_loss(fooled, image_keys, text_keys) > low + 2.0
    # image 1 ranking the 4th text low is wrong: that text describes it
    assert contrastive_loss(sees_the_difference, image_keys, torch.tensor([0, 1, -1, -2])) < low + 1e-6
    snubbed = sees_the_difference.clone()
    snubbed[1, 3] = -5.0
    assert contrastive_loss(snubbed, image_keys, text_keys) > low + 1.0
    assert torch.isclose(contrastive_loss(sees_the_difference[:, :2], image_keys), contrastive_loss(sees_the_difference[:, :2], image_keys, image_keys))
