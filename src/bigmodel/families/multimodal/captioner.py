"""A LLaVA-style captioner: a CLIP vision encoder, a projector, and a causal language model given
as a directory (the zoo's general LLM, or any LLaMA-family model), saved as
`LlavaForConditionalGeneration` so that `transformers` loads it with no custom code.

The language model is loaded with transformers' Auto classes: this family never imports the LLM
family. An `<image>` token joins its tokenizer; a sequence is [bos] <image>×N caption eos, and
only the caption (and eos) is learned.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bigmodel import checkpoint
from bigmodel.data import images as image_data
from bigmodel.errors import BigModelError
from bigmodel.families.multimodal.clip import IMAGE_MEAN, IMAGE_STD, load_captioned, load_multimodal, write_examples_report
from bigmodel.families.multimodal.presets import CaptionerPreset, captioner_preset
from bigmodel.train.metrics import plot_metrics
from bigmodel.train.state import resume_or_start, save_training_state
from bigmodel.ui import progress_bar

IMAGE_TOKEN = "<image>"
OBJECT = re.compile(r"a (small|large) (red|green|blue|yellow) (circle|square|triangle)")
SLOT = re.compile(r"(on the left|in the middle|on the right)")


def load_language_model(path: Path) -> tuple[Any, Any]:
    """(causal LM, tokenizer with an <image> token and a pad token) from a model directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = checkpoint.read_config(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path)
    except (OSError, ValueError, KeyError) as err:
        raise BigModelError(
            f"{path}: not a causal language model with a tokenizer ({config.get('model_type')!r}: {str(err).splitlines()[0]})"
        ) from None
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    return model, tokenizer


def load_vision_encoder(path: Path) -> Any:
    """The vision tower of a trained CLIP dual encoder directory (LLaVA starts from CLIP's)."""
    from transformers import CLIPModel

    try:
        clip, _, _ = load_multimodal(path, "image-text-retrieval", CLIPModel, "a CLIP dual encoder", "train-clip")
    except BigModelError as err:
        raise BigModelError(f"--vision-encoder: {err}") from None
    return clip.vision_model


def vision_config(settings: CaptionerPreset) -> Any:
    """The CLIPVisionConfig of a new vision tower of the preset's size."""
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        image_size=settings.image_size, patch_size=settings.patch_size, hidden_size=settings.vision_hidden,
        intermediate_size=settings.vision_hidden * 4, num_hidden_layers=settings.vision_layers,
        num_attention_heads=settings.heads,
    )


def new_captioner(settings: CaptionerPreset, language_model: Any, tokenizer: Any, vision_encoder: Any = None) -> Any:
    """A LlavaForConditionalGeneration joining the language model and either a new vision tower
    of the preset's size or `vision_encoder` (a CLIP vision transformer, weights copied)."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    if vision_encoder is not None:
        vision = vision_encoder.config
    else:
        vision = vision_config(settings)
    config = LlavaConfig(
        vision_config=vision,
        text_config=language_model.config,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=(vision.image_size // vision.patch_size) ** 2,
        vision_feature_select_strategy="default",  # patch features, without the class token
        vision_feature_layer=-1,
    )
    model = LlavaForConditionalGeneration(config)
    model.model.language_model.load_state_dict(language_model.model.state_dict())
    model.lm_head.load_state_dict(language_model.lm_head.state_dict())
    if vision_encoder is not None:
        model.model.vision_tower.load_state_dict(vision_encoder.state_dict())
    return model


def caption_batch(tokenizer: Any, captions: list[str], image_tokens: int, max_tokens: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """input_ids, attention_mask, labels for [bos] <image>×N caption eos, right-padded."""
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    prefix = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    prompt = prefix + [image_id] * image_tokens
    rows, labels = [], []
    for caption in captions:
        target = tokenizer(caption, add_special_tokens=False)["input_ids"][: max_tokens - 1] + [tokenizer.eos_token_id]
        rows.append(prompt + target)
        labels.append([-100] * len(prompt) + target)
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    label = torch.full((len(rows), width), -100)
    for i, (row, lab) in enumerate(zip(rows, labels)):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
        label[i, : len(lab)] = torch.tensor(lab)
    return ids, mask, label


def caption_prompt(model: Any, tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The ids and attention mask that every caption is generated after: bos and the image tokens."""
    prompt, mask, _ = caption_batch(tokenizer, [""], model.config.image_seq_length, 1)
    return prompt[:, :-1], mask[:, :-1]  # drop the eos the empty caption got


@torch.no_grad()
def generate_captions(model: Any, tokenizer: Any, pixels: torch.Tensor, max_tokens: int, batch_size: int = 64) -> list[str]:
    """Greedy captions for a batch of pixel values."""
    model.eval()
    prompt, mask = caption_prompt(model, tokenizer)
    captions = []
    for start in range(0, len(pixels), batch_size):
        chunk = pixels[start : start + batch_size]
        out = model.generate(
            input_ids=prompt.expand(len(chunk), -1), attention_mask=mask.expand(len(chunk), -1), pixel_values=chunk,
            max_new_tokens=max_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        captions.extend(t.strip() for t in tokenizer.batch_decode(out[:, prompt.shape[1] :], skip_special_tokens=True))
    return captions


def parse_scene(caption: str) -> tuple[list[tuple[str, str, str]], str | None]:
    """The objects (size, colour, shape) a canonical shapes caption names, left to right, and the
    slot phrase of a one-object caption."""
    slot = SLOT.search(caption)
    return OBJECT.findall(caption), slot.group(1) if slot else None


def caption_metrics(predicted: list[str], data: image_data.CaptionedImages) -> dict[str, float]:
    """Exact match and BLEU-4 against the canonical captions; for shapes scenes also accuracy per
    attribute of every true object (shape, colour, size; position: the slot of a lone object, the
    left-to-right place of one among several, right when the object count is right)."""
    import sacrebleu

    truth = [c[0] for c in data.captions]
    metrics = {
        "exact_match": float(np.mean([p == t for p, t in zip(predicted, truth)])),
        "bleu4": sacrebleu.corpus_bleu(predicted, [truth]).score / 100,
    }
    if data.scenes is not None:
        hits = {"shape": [], "colour": [], "size": [], "position": []}
        for caption, scene in zip(predicted, data.scenes):
            objects, slot = parse_scene(caption)
            for i, obj in enumerate(scene.objects):
                guess = objects[i] if i < len(objects) else (None, None, None)
                hits["size"].append(guess[0] == obj.size)
                hits["colour"].append(guess[1] == obj.colour)
                hits["shape"].append(guess[2] == obj.shape)
                if len(scene.objects) == 1:
                    hits["position"].append(slot is not None and slot.endswith(obj.position))
                else:
                    hits["position"].append(len(objects) == len(scene.objects))
        metrics.update({f"{k}_accuracy": float(np.mean(v)) for k, v in hits.items()})
    return {k: round(v, 4) for k, v in metrics.items()}


def train_captioner(
    data: str,
    language_model: Path,
    out: Path,
    preset: str = "small",
    seed: int = 0,
    steps: int | None = None,
    resume: bool = False,
    vision_encoder: Path | None = None,
) -> checkpoint.ModelCard:
    """Train vision encoder, projector and language model together on captioned images; write
    `out` (LlavaForConditionalGeneration + processor + card) atomically. The vision encoder is
    new, of the preset's size, or the vision tower of the CLIP dual encoder `vision_encoder`."""
    from transformers import (
        CLIPImageProcessorPil,
        LlavaProcessor,
        get_cosine_schedule_with_warmup,
    )

    settings = captioner_preset(preset)
    if steps is not None:
        if steps < 1:
            raise BigModelError(f"--steps must be at least 1, not {steps}")
        settings = dataclasses.replace(settings, steps=steps)
    checkpoint.require_family(language_model, {"llm", "vertical"}, "a language model (--language-model)")
    vision = load_vision_encoder(vision_encoder) if vision_encoder is not None else None
    if vision is not None:
        settings = dataclasses.replace(settings, image_size=vision.config.image_size, patch_size=vision.config.patch_size)
    torch.manual_seed(seed)
    split = load_captioned(data, settings.image_size, seed, settings.scenes)
    lm, tokenizer = load_language_model(language_model)
    model = new_captioner(settings, lm, tokenizer, vision)
    del lm, vision
    image_tokens = model.config.image_seq_length
    pixels = image_data.pixel_values(split.train.images, IMAGE_MEAN, IMAGE_STD)
    canonical = [c[0] for c in split.train.captions]

    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(settings.warmup_fraction * settings.steps), settings.steps)
    run_settings = {"data": data, "language_model": str(language_model), "vision_encoder": str(vision_encoder),
                    "preset": dataclasses.asdict(settings), "seed": seed}
    work = out.parent / f".{out.name}.training"
    state_dir = work / "state"
    start, log = resume_or_start(work, resume=resume, settings=run_settings, model=model, optimizer=optimizer,
                                 scheduler=scheduler)
    generator = torch.Generator()
    eval_every = max(1, settings.steps // settings.evaluations)
    probe = np.random.default_rng(seed).permutation(len(split.test.captions))[:64]  # a quick mid-run check
    n = len(canonical)
    began = time.perf_counter()
    model.train()
    with progress_bar(f"multimodal train-captioner ({preset})", total=settings.steps) as advance:
        advance(start)
        for step in range(start + 1, settings.steps + 1):
            per_epoch = max(1, n // settings.batch_size)
            epoch, position = divmod(step - 1, per_epoch)
            index = np.random.default_rng([seed, epoch]).permutation(n)[position * settings.batch_size : (position + 1) * settings.batch_size]
            ids, mask, labels = caption_batch(tokenizer, [canonical[i] for i in index], image_tokens, settings.max_caption_tokens)
            generator.manual_seed(seed * 1_000_003 + step)
            x = image_data.augment(pixels[torch.from_numpy(index)], generator, shift=0.05, degrees=5, zoom=0.05)
            loss = model(input_ids=ids, attention_mask=mask, pixel_values=x, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if step % eval_every == 0 or step == settings.steps:
                sample = split.test.subset(probe)
                predicted = generate_captions(model, tokenizer, image_data.pixel_values(sample.images, IMAGE_MEAN, IMAGE_STD),
                                              settings.max_caption_tokens)
                model.train()
                log.log(step=step, train_loss=loss.item(), lr=scheduler.get_last_lr()[0], **caption_metrics(predicted, sample))
            if step % settings.checkpoint_every == 0 and step < settings.steps:
                save_training_state(state_dir, model=model, optimizer=optimizer, scheduler=scheduler, step=step,
                                    extra={"settings": run_settings})
            advance(1, loss=loss.item())
    seconds = time.perf_counter() - began

    metrics: dict[str, Any] = {}
    examples: list[tuple[np.ndarray, str, str]] = []
    for name, part in (("test", split.test), ("held_out", split.held_out)):
        if part is None:
            continue
        predicted = generate_captions(model, tokenizer, image_data.pixel_values(part.images, IMAGE_MEAN, IMAGE_STD),
                                      settings.max_caption_tokens)
        metrics.update({f"{name}_{k}": v for k, v in caption_metrics(predicted, part).items()})
        examples = [(part.images[i], part.captions[i][0], predicted[i]) for i in range(min(3, len(predicted)))]
    metrics["train_seconds"] = round(seconds, 1)

    card = checkpoint.ModelCard(
        family="multimodal",
        task="image-captioning",
        input_modalities=["image", "text"],
        output_modalities=["text"],
        parameters=sum(p.numel() for p in model.parameters()),
        architecture="LlavaForConditionalGeneration",
        base_model=str(language_model),
        data=[split.provenance],
        metrics=metrics,
        extra={"preset": preset, "image_size": settings.image_size, "steps": settings.steps, "seed": seed,
               "max_caption_tokens": settings.max_caption_tokens,
               "vision_encoder": str(vision_encoder) if vision_encoder is not None else None},
    )
    size = settings.image_size
    tokenizer.chat_template = None  # it captions from [bos] <image>…, not in the LLM's chat turns
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(  # saved as CLIPImageProcessor; needs no torchvision
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}, resample=2,
            image_mean=IMAGE_MEAN, image_std=IMAGE_STD,
        ),
        tokenizer=tokenizer,
        patch_size=settings.patch_size,
        vision_feature_select_strategy="default",
        image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1,  # CLIP's class token, which "default" drops
    )
    with checkpoint.writing(out) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        shutil.copy(work / "metrics.jsonl", tmp / "metrics.jsonl")
        plot_metrics(tmp / "metrics.jsonl", tmp / "curves.png",
                     panels={"loss": ["train_loss"], "captions": ["exact_match", "shape_accuracy", "colour_accuracy"]},
                     title=f"captioner on {split.provenance['name']}")
        checkpoint.write_card(tmp, card)
        write_report(tmp, card, split.provenance["name"], examples)
    shutil.rmtree(work, ignore_errors=True)
    return card


def write_report(model_dir: Path, card: checkpoint.ModelCard, data_name: str, examples: list[tuple[np.ndarray, str, str]]) -> None:
    write_examples_report(
        model_dir, card,
        f"LLaVA-style captioner (`LlavaForConditionalGeneration`, {card.parameters:,} parameters; language side: "
        f"`{card.base_model}`) trained on `{data_name}` for {card.extra['steps']} steps.",
        "Captions the model writes for held-out images.",
        ["true caption", "generated caption"], [(pixels, [truth, predicted]) for pixels, truth, predicted in examples],
        stem="caption",
    )


@dataclasses.dataclass
class Captioner:
    """A LLaVA-style captioner loaded once, ready to caption image files."""

    model: Any
    tokenizer: Any
    image_size: int
    max_tokens: int

    def caption(self, paths: list[Path]) -> list[dict[str, str]]:
        """Greedy captions for image files."""
        images = np.stack([image_data.load_image(p, self.image_size) for p in paths])
        pixels = image_data.pixel_values(images, IMAGE_MEAN, IMAGE_STD)
        captions = generate_captions(self.model, self.tokenizer, pixels, self.max_tokens)
        return [{"image": str(p), "caption": c} for p, c in zip(paths, captions)]


def load_captioner(model_dir: Path) -> Captioner:
    from transformers import LlavaForConditionalGeneration

    model, tokenizer, card = load_multimodal(model_dir, "image-captioning", LlavaForConditionalGeneration, "a captioner",
                                             "train-captioner")
    max_tokens = card.extra.get("max_caption_tokens", 40) if card else 40
    return Captioner(model, tokenizer, model.config.vision_config.image_size, max_tokens)


def caption_images(model_dir: Path, paths: list[Path]) -> list[dict[str, str]]:
    """Greedy captions for image files, with a captioner directory."""
    return load_captioner(model_dir).caption(paths)
