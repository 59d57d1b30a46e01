"""The LLaVA-style captioner: built on a user's LLaMA directory, saved so transformers loads it,
captioning through the CLI, and the caption metrics' arithmetic."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> Path:
    """A tiny random LlamaForCausalLM with a byte-level BPE tokenizer: any LLaMA-family folder."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from bigmodel.data.images import random_scene

    out = tmp_path_factory.mktemp("llm") / "tiny-llama"
    rng = random.Random(0)
    texts = [c for _ in range(200) for c in random_scene(rng).captions()]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
                                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(out)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2, bos_token_id=1, eos_token_id=2,
                                 max_position_embeddings=128)).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def captioner_dir(tiny_llama, tmp_path_factory, cli) -> Path:
    out = tmp_path_factory.mktemp("captioner") / "captioner"
    cli("multimodal", "train-captioner", "--language-model", str(tiny_llama), "--data", "shapes", "--preset", "tiny",
        "--steps", "6", "--out", str(out))
    return out


def test_captioner_loads_as_llava_and_captions_through_its_processor(captioner_dir: Path, tiny_llama: Path, scene_folder) -> None:
    from PIL import Image
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(captioner_dir)
    processor = AutoProcessor.from_pretrained(captioner_dir)
    inputs = processor(images=Image.open(scene_folder[0] / "scene-0.png"), text="<image>", return_tensors="pt")
    assert (inputs["input_ids"] == model.config.image_token_id).sum() == model.config.image_seq_length
    generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 4 or generated[0, -1] == processor.tokenizer.eos_token_id
    card = json.loads((captioner_dir / "bigmodel.json").read_text())
    assert card["family"] == "multimodal" and card["task"] == "image-captioning" and card["output_modalities"] == ["text"]
    assert card["base_model"] == str(tiny_llama)
    assert card["parameters"] == sum(p.numel() for p in model.parameters())
    for key in ("held_out_exact_match", "held_out_bleu4", "held_out_shape_accuracy", "held_out_position_accuracy"):
        assert 0.0 <= card["metrics"][key] <= 1.0
    assert "](./examples/caption-1.png)" in (captioner_dir / "REPORT.md").read_text()


def test_caption_command(captioner_dir, scene_folder, cli) -> None:
    folder, _ = scene_folder
    results = json.loads(cli("caption", str(captioner_dir), str(folder / "scene-1.png"), "--json").stdout)
    assert results[0]["image"] == str(folder / "scene-1.png") and isinstance(results[0]["caption"], str)


def test_captioner_starts_from_a_clip_vision_tower(clip_dir, tiny_llama, tmp_path, cli) -> None:
    import torch
    from transformers import CLIPModel, LlavaForConditionalGeneration

    from bigmodel.families.multimodal.captioner import load_language_model, load_vision_encoder, new_captioner
    from bigmodel.families.multimodal.presets import captioner_preset

    clip = CLIPModel.from_pretrained(clip_dir)
    lm, tokenizer = load_language_model(tiny_llama)
    fresh = new_captioner(captioner_preset("tiny"), lm, tokenizer, load_vision_encoder(clip_dir))
    tower = fresh.model.vision_tower.state_dict()
    assert tower.keys() == clip.vision_model.state_dict().keys()
    assert all(torch.equal(tower[k], v) for k, v in clip.vision_model.state_dict().items())

    out = tmp_path / "captioner-from-clip"
    cli("multimodal", "train-captioner", "--language-model", str(tiny_llama), "--vision-encoder", str(clip_dir),
        "--preset", "tiny", "--steps", "2", "--out", str(out))
    trained = LlavaForConditionalGeneration.from_pretrained(out)
    for field in ("image_size", "patch_size", "hidden_size", "num_hidden_layers"):
        assert getattr(trained.config.vision_config, field) == getattr(clip.config.vision_config, field)
    card = json.loads((out / "bigmodel.json").read_text())
    assert card["extra"]["vision_encoder"] == str(clip_dir) and card["base_model"] == str(tiny_llama)


def test_vision_encoder_must_be_a_dual_encoder(captioner_dir, tiny_llama, tmp_path, cli) -> None:
    for wrong, says in ((captioner_dir, "is not a CLIP dual encoder (its task is image-captioning)"),
                        (tiny_llama, f"{tiny_llama} is an llm model")):
        result = cli("multimodal", "train-captioner", "--language-model", str(tiny_llama), "--vision-encoder", str(wrong),
                     "--preset", "tiny", "--steps", "2", "--out", str(tmp_path / "never"), check=False)
        assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "never").exists()


def test_caption_refuses_a_dual_encoder_and_an_llm(clip_dir, tiny_llama, scene_folder, cli) -> None:
    image = str(scene_folder[0] / "scene-1.png")
    result = cli("caption", str(clip_dir), image, check=False)
    assert result.returncode == 2 and "not a captioner" in result.stderr
    result = cli("caption", str(tiny_llama), image, check=False)
    assert result.returncode == 2 and f"{tiny_llama} is an llm model" in result.stderr


def test_caption_metrics_score_each_attribute() -> None:
    from bigmodel.data.images import CaptionedImages, Scene, ShapeObject
    from bigmodel.families.multimodal.captioner import caption_metrics

    scenes = [Scene((ShapeObject("circle", "red", "small", "left"),)),
              Scene((ShapeObject("square", "blue", "large", "left"), ShapeObject("triangle", "green", "small", "right")))]
    data = CaptionedImages(images=None, captions=[s.captions() for s in scenes], scenes=scenes)
    perfect = caption_metrics([s.captions()[0] for s in scenes], data)
    assert perfect["exact_match"] == 1.0 and perfect["bleu4"] == 1.0
    assert all(perfect[f"{a}_accuracy"] == 1.0 for a in ("shape", "colour", "size", "position"))
    wrong = caption_metrics(["a small red circle on the right", "a large blue square left of a small red triangle"], data)
    assert wrong["exact_match"] == 0.0
    assert wrong["shape_accuracy"] == 1.0 and wrong["size_accuracy"] == 1.0
    assert wrong["colour_accuracy"] == round(2 / 3, 4) and wrong["position_accuracy"] == round(2 / 3, 4)


def run_language_prior_experiment(*args: str):
    import subprocess
    import sys

    script = Path(__file__).parents[2] / "experiments" / "captioner_language_prior.py"
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=600, check=False)


def test_language_prior_experiment_reads_the_captioners_own_split(captioner_dir) -> None:
    """experiments/captioner_language_prior.py regenerates the split from the card and scores every
    single-object scene under each of its three prefixes."""
    from bigmodel.data import images as image_data

    result = run_language_prior_experiment(str(captioner_dir), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout)
    card = json.loads((captioner_dir / "bigmodel.json").read_text())
    data = card["data"][0]
    split = image_data.shapes(card["extra"]["image_size"], train=data["train"], test=data["test"], seed=data["seed"])
    for name, part in (("test", split.test), ("held_out", split.held_out)):
        singles = [f"{s.objects[0].colour} {s.objects[0].shape}" for s in part.scenes if len(s.objects) == 1]
        for prefix in ("true colour", "other colour", "no colour"):
            mine = [r for r in rows if r["split"] == name and r["prefix"] == prefix]
            assert {r["object"]: r["n"] for r in mine} == {o: singles.count(o) for o in set(singles)}
            assert all(0 <= r["shape_right"] <= 1 and 0 < r["p_true_shape_given_shape_word"] < 1 for r in mine)
    held = {r["object"] for r in rows if r["split"] == "held_out"}
    assert held and held <= {" ".join(pair) for pair in image_data.HELD_OUT}


def test_language_prior_experiment_refuses_a_dual_encoder(clip_dir) -> None:
    result = run_language_prior_experiment(str(clip_dir))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{clip_dir} is not a captioner (its task is image-text-retrieval)" in result.stderr
