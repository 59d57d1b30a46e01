"""A CLIP-style dual encoder (`transformers` CLIPModel from a config) trained with the
contrastive loss; retrieval in both directions and zero-shot classification from label prompts.

Captions that describe the same thing (one digit class, one scene) can meet in a batch, so the
contrastive targets treat every pair with the same canonical caption as a match, instead of
pushing identical descriptions apart as CLIP's one-hot loss would.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bigmodel import checkpoint
from bigmodel.data import images as image_data
from bigmodel.errors import BigModelError
from bigmodel.families.multimodal.presets import ClipPreset
from bigmodel.families.multimodal.presets import preset as get_preset
from bigmodel.families.multimodal.tokenizer import train_tokenizer
from bigmodel.train.metrics import plot_metrics
from bigmodel.train.state import resume_or_start, save_training_state
from bigmodel.ui import progress_bar

IMAGE_MEAN = [0.5, 0.5, 0.5]
IMAGE_STD = [0.5, 0.5, 0.5]


def load_captioned(data: str, size: int, seed: int, scenes: int) -> image_data.Split:
    """`shapes` (`scenes` generated, a fifth of them for testing), `digits` (captions naming the
    digit) or a folder with captions.jsonl."""
    if data == "shapes":
        return image_data.shapes(size, train=scenes - scenes // 5, test=scenes // 5, seed=seed)
    if data == "digits":
        split = image_data.digits(size, seed=seed)
        return image_data.Split(image_data.digit_captions(split.train), image_data.digit_captions(split.test), split.provenance)
    if not Path(data).is_dir():
        raise BigModelError(f"--data {data}: expected shapes, digits or a folder with {image_data.CAPTIONS_FILE}")
    return image_data.caption_folder(data, size, seed=seed)


def new_model(settings: ClipPreset, tokenizer: Any) -> Any:
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": settings.text_hidden,
            "intermediate_size": settings.text_hidden * 4,
            "num_hidden_layers": settings.text_layers,
            "num_attention_heads": settings.heads,
            "max_position_embeddings": settings.max_text_length,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "image_size": settings.image_size,
            "patch_size": settings.patch_size,
            "hidden_size": settings.vision_hidden,
            "intermediate_size": settings.vision_hidden * 4,
            "num_hidden_layers": settings.vision_layers,
            "num_attention_heads": settings.heads,
        },
        projection_dim=settings.projection_dim,
    )
    return CLIPModel(config)


def tokenize(tokenizer: Any, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
    return tokenizer(texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")


def contrastive_loss(logits_per_image: torch.Tensor, image_keys: torch.Tensor, text_keys: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric cross-entropy where every image–text pair with the same key is a match (soft
    targets). `logits_per_image` is [images, texts]; texts beyond the images (hard negatives)
    take part only as candidates for the images, and count as matches where their key agrees."""
    text_keys = image_keys if text_keys is None else text_keys
    same = (image_keys[:, None] == text_keys[None, :]).float()
    image_to_text = F.cross_entropy(logits_per_image, same / same.sum(1, keepdim=True))
    matched = same.sum(0) > 0  # texts that describe some image of the batch
    columns = same[:, matched].T
    text_to_image = F.cross_entropy(logits_per_image[:, matched].T, columns / columns.sum(1, keepdim=True))
    return (image_to_text + text_to_image) / 2


@torch.no_grad()
def embed_images(model: Any, pixels: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    parts = [model.get_image_features(pixel_values=pixels[i : i + batch_size]) for i in range(0, len(pixels), batch_size)]
    return F.normalize(torch.cat([_pooled(p) for p in parts]), dim=-1)


@torch.no_grad()
def embed_texts(model: Any, tokenizer: Any, texts: list[str], max_length: int, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    parts = []
    for i in range(0, len(texts), batch_size):
        tokens = tokenize(tokenizer, texts[i : i + batch_size], max_length)
        parts.append(_pooled(model.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])))
    return F.normalize(torch.cat(parts), dim=-1)


def _pooled(features: Any) -> torch.Tensor:
    # transformers 5 returns a model output whose pooler_output is the projected embedding.
    return features if isinstance(features, torch.Tensor) else features.pooler_output


def retrieval_metrics(model: Any, tokenizer: Any, data: image_data.CaptionedImages, max_length: int) -> dict[str, float]:
    """Recall@1/@5 both ways over the data's distinct canonical captions: an image finds its
    caption; a caption finds an image it describes."""
    canonical = [c[0] for c in data.captions]
    texts = sorted(set(canonical))
    truth = torch.tensor([texts.index(c) for c in canonical])
    similarity = embed_images(model, image_data.pixel_values(data.images, IMAGE_MEAN, IMAGE_STD)) @ embed_texts(
        model, tokenizer, texts, max_length
    ).T
    return recall(similarity, truth)


def recall(similarity: torch.Tensor, truth: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """similarity: [images, texts]; truth[i]: the text that describes image i. A text's hit is
    any image it describes (several images may share one description)."""
    metrics = {}
    texts = torch.arange(similarity.shape[1])
    for k in ks:
        top_texts = similarity.topk(min(k, similarity.shape[1]), dim=1).indices
        metrics[f"image_to_text_r{k}"] = (top_texts == truth[:, None]).any(1).float().mean().item()
        top_images = similarity.T.topk(min(k, similarity.shape[0]), dim=1).indices
        metrics[f"text_to_image_r{k}"] = (truth[top_images] == texts[:, None]).any(1).float().mean().item()
    return {k: round(v, 4) for k, v in metrics.items()}


def zero_shot_accuracy(model: Any, tokenizer: Any, images: np.ndarray, labels: np.ndarray, prompts: list[str], max_length: int) -> float:
    image_embeddings = embed_images(model, image_data.pixel_values(images, IMAGE_MEAN, IMAGE_STD))
    predicted = (image_embeddings @ embed_texts(model, tokenizer, prompts, max_length).T).argmax(1)
    return round((predicted.numpy() == labels).mean().item(), 4)


def train_clip(
    data: str,
    out: Path,
    preset: str = "small",
    seed: int = 0,
    steps: int | None = None,
    resume: bool = False,
) -> checkpoint.ModelCard:
    """Train a dual encoder on captioned images, evaluate retrieval, write `out` atomically."""
    from transformers import (
        CLIPImageProcessorPil,
        CLIPProcessor,
        get_cosine_schedule_with_warmup,
    )

    settings = get_preset(preset)
    if steps is not None:
        if steps < 1:
            raise BigModelError(f"--steps must be at least 1, not {steps}")
        settings = dataclasses.replace(settings, steps=steps)
    torch.manual_seed(seed)
    split = load_captioned(data, settings.image_size, seed, settings.scenes)
    train = split.train
    tokenizer = train_tokenizer([c for captions in train.captions for c in captions], settings.vocab_size, settings.max_text_length)
    model = new_model(settings, tokenizer)

    # Every phrasing of every image, tokenized once; a step picks one phrasing per image.
    flat = [(i, c) for i, captions in enumerate(train.captions) for c in captions]
    tokens = tokenize(tokenizer, [c for _, c in flat], settings.max_text_length)
    owner = np.array([i for i, _ in flat])
    first_phrasing = np.searchsorted(owner, np.arange(len(train.captions)))
    phrasings = np.bincount(owner, minlength=len(train.captions))
    canonical = [c[0] for c in train.captions]
    key_ids = {c: k for k, c in enumerate(sorted(set(canonical)))}
    keys = torch.tensor([key_ids[c] for c in canonical])
    pixels = image_data.pixel_values(train.images, IMAGE_MEAN, IMAGE_STD)
    # Generated scenes also give each image hard negatives: its caption with one attribute or
    # one order changed (NegCLIP), without which random batches never ask "circle or square?".
    negatives = [image_data.hard_negatives(scene) for scene in train.scenes] if train.scenes is not None else None

    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(settings.warmup_fraction * settings.steps), settings.steps)
    run_settings = {"data": data, "preset": dataclasses.asdict(settings), "seed": seed}
    work = out.parent / f".{out.name}.training"
    state_dir = work / "state"
    start, log = resume_or_start(work, resume=resume, settings=run_settings, model=model, optimizer=optimizer,
                                 scheduler=scheduler)
    generator = torch.Generator()
    eval_every = max(1, settings.steps // settings.evaluations)
    n = len(train.captions)
    began = time.perf_counter()
    model.train()
    with progress_bar(f"multimodal train-clip ({preset})", total=settings.steps) as advance:
        advance(start)
        for step in range(start + 1, settings.steps + 1):
            rng = np.random.default_rng([seed, step])
            per_epoch = max(1, n // settings.batch_size)
            epoch, position = divmod(step - 1, per_epoch)
            index = np.random.default_rng([seed, epoch]).permutation(n)[position * settings.batch_size : (position + 1) * settings.batch_size]
            rows = torch.from_numpy(first_phrasing[index] + rng.integers(0, phrasings[index]))
            input_ids, attention_mask = tokens["input_ids"][rows], tokens["attention_mask"][rows]
            image_keys = keys[torch.from_numpy(index)]
            text_keys = image_keys
            if negatives is not None:
                chosen = [negatives[i][rng.integers(len(negatives[i]))].captions() for i in index]
                extra = tokenize(tokenizer, [c[rng.integers(len(c))] for c in chosen], settings.max_text_length)
                input_ids = torch.cat([input_ids, extra["input_ids"]])
                attention_mask = torch.cat([attention_mask, extra["attention_mask"]])
                # a negative of one image may be the very caption of another in the batch
                text_keys = torch.cat([image_keys, torch.tensor([key_ids.get(c[0], -1 - j) for j, c in enumerate(chosen)])])
            width = int(attention_mask.sum(1).max())  # no step pays for padding past its longest text
            generator.manual_seed(seed * 1_000_003 + step)
            output = model(
                input_ids=input_ids[:, :width],
                attention_mask=attention_mask[:, :width],
                pixel_values=image_data.augment(pixels[torch.from_numpy(index)], generator, shift=0.05, degrees=5, zoom=0.05),
            )
            loss = contrastive_loss(output.logits_per_image, image_keys, text_keys)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if step % eval_every == 0 or step == settings.steps:
                metrics = retrieval_metrics(model, tokenizer, split.test, settings.max_text_length)
                model.train()
                log.log(step=step, train_loss=loss.item(), lr=scheduler.get_last_lr()[0], **metrics)
            if step % settings.checkpoint_every == 0 and step < settings.steps:
                save_training_state(state_dir, model=model, optimizer=optimizer, scheduler=scheduler, step=step,
                                    extra={"settings": run_settings})
            advance(1, loss=loss.item())
    seconds = time.perf_counter() - began

    metrics: dict[str, Any] = {f"test_{k}": v for k, v in retrieval_metrics(model, tokenizer, split.test, settings.max_text_length).items()}
    if split.held_out is not None:
        metrics.update({f"held_out_{k}": v for k, v in retrieval_metrics(model, tokenizer, split.held_out, settings.max_text_length).items()})
    if data == "digits":
        metrics["zero_shot_accuracy"] = zero_shot_accuracy(
            model, tokenizer, split.test.images, split.test.labels, image_data.digit_prompts(), settings.max_text_length
        )
    metrics.update(train_seconds=round(seconds, 1),
                   train_pairs_per_second=round((settings.steps - start) * settings.batch_size / seconds, 1))

    card = checkpoint.ModelCard(
        family="multimodal",
        task="image-text-retrieval",
        input_modalities=["image", "text"],
        output_modalities=["embedding"],
        parameters=sum(p.numel() for p in model.parameters()),
        architecture="CLIPModel",
        data=[split.provenance],
        metrics=metrics,
        extra={"preset": preset, "image_size": settings.image_size, "max_text_length": settings.max_text_length,
               "steps": settings.steps, "seed": seed},
    )
    size = settings.image_size
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessorPil(  # saved as CLIPImageProcessor; needs no torchvision
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}, resample=2,  # bilinear, as in training
            image_mean=IMAGE_MEAN, image_std=IMAGE_STD,
        ),
        tokenizer=tokenizer,
    )
    with checkpoint.writing(out) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        shutil.copy(work / "metrics.jsonl", tmp / "metrics.jsonl")
        plot_metrics(tmp / "metrics.jsonl", tmp / "curves.png",
                     panels={"loss": ["train_loss"], "recall@1": ["image_to_text_r1", "text_to_image_r1"]},
                     title=f"CLIP on {split.provenance['name']}")
        checkpoint.write_card(tmp, card)
        examples = split.held_out if split.held_out is not None else split.test
        write_report(tmp, card, split.provenance["name"], examples, model, tokenizer, settings.max_text_length)
    shutil.rmtree(work, ignore_errors=True)
    return card


def write_report(
    model_dir: Path, card: checkpoint.ModelCard, data_name: str, examples: image_data.CaptionedImages,
    model: Any, tokenizer: Any, max_length: int, count: int = 3,
) -> None:
    """REPORT.md: metrics, and three example images each with the caption the model retrieves
    for it among all of the examples' captions (images saved under examples/)."""
    texts = sorted({c[0] for c in examples.captions})
    chosen = np.random.default_rng(0).choice(len(examples.captions), size=min(count, len(examples.captions)), replace=False)
    similarity = embed_images(model, image_data.pixel_values(examples.images[chosen], IMAGE_MEAN, IMAGE_STD)) @ embed_texts(
        model, tokenizer, texts, max_length
    ).T
    rows = []
    for index, best in zip(chosen, similarity.argmax(1)):
        truth, found = examples.captions[index][0], texts[int(best)]
        rows.append((examples.images[index], [truth, found, "yes" if found == truth else "no"]))
    write_examples_report(
        model_dir, card,
        f"CLIP dual encoder (`CLIPModel`, {card.parameters:,} parameters, preset `{card.extra['preset']}`) trained "
        f"with the contrastive loss on `{data_name}` for {card.extra['steps']} steps.",
        f"Example retrievals: the caption the model picks for each image among {len(texts)} captions.",
        ["true caption", "retrieved caption", "match"], rows, stem="example",
    )


def write_examples_report(model_dir: Path, card: checkpoint.ModelCard, intro: str, caption: str, columns: list[str],
                          rows: list[tuple[np.ndarray, list[str]]], *, stem: str) -> None:
    """REPORT.md of an image-text model: what it is, its metrics, example images (enlarged 4×,
    saved as examples/<stem>-N.png) with a cell per column, and the training curves."""
    from PIL import Image

    (model_dir / "examples").mkdir()
    lines = []
    for number, (pixels, cells) in enumerate(rows, start=1):
        name = f"examples/{stem}-{number}.png"
        image = Image.fromarray(pixels)
        image.resize((image.width * 4, image.height * 4), Image.Resampling.NEAREST).save(model_dir / name)
        lines.append(f"| ![example {number}](./{name}) | " + " | ".join(cells) + " |")
    metrics = "\n".join(f"| {k} | {v} |" for k, v in card.metrics.items())
    (model_dir / "REPORT.md").write_text(
        f"{intro}\n\n| metric | value |\n| --- | --- |\n{metrics}\n\n{caption}\n\n"
        f"| image | {' | '.join(columns)} |\n|" + " --- |" * (len(columns) + 1) + "\n" + "\n".join(lines) + "\n\n"
        "![training curves](./curves.png)\n",
        encoding="utf-8",
    )


@dataclasses.dataclass
class DualEncoder:
    """A loaded dual encoder, ready to embed images (files) and texts."""

    model: Any
    tokenizer: Any
    image_size: int
    max_length: int

    def images(self, paths: list[Path]) -> torch.Tensor:
        pixels = image_data.pixel_values(np.stack([image_data.load_image(p, self.image_size) for p in paths]), IMAGE_MEAN, IMAGE_STD)
        return embed_images(self.model, pixels)

    def texts(self, texts: list[str]) -> torch.Tensor:
        return embed_texts(self.model, self.tokenizer, texts, self.max_length)

    def rank_images(self, text: str, images: list[Path], top_k: int = 5) -> list[dict[str, Any]]:
        """The images that best match `text`, best first, with cosine similarities."""
        similarity = (self.images(images) @ self.texts([text]).T)[:, 0]
        order = similarity.argsort(descending=True)[:top_k]
        return [{"image": str(images[i]), "similarity": round(similarity[i].item(), 4)} for i in order]

    def rank_texts(self, image: Path, texts: list[str]) -> list[dict[str, Any]]:
        """The texts ranked for `image`, with probabilities (softmax over the model's scaled
        similarities): zero-shot classification when the texts are label prompts."""
        similarity = (self.images([image]) @ self.texts(texts).T)[0]
        probabilities = (similarity * self.model.logit_scale.exp()).softmax(-1)
        order = probabilities.argsort(descending=True)
        return [
            {"text": texts[i], "probability": round(probabilities[i].item(), 4), "similarity": round(similarity[i].item(), 4)}
            for i in order
        ]


def load_multimodal(model_dir: Path, task: str, model_class: Any, what: str, train_command: str) -> tuple[Any, Any, Any]:
    """(model, tokenizer, card) of a multimodal model directory of the given task, checked first."""
    from transformers import AutoTokenizer

    checkpoint.require_family(model_dir, {"multimodal"}, what)
    card = checkpoint.read_card(model_dir)
    if card is not None and card.task != task:
        raise BigModelError(f"{model_dir} is not {what} (its task is {card.task}); train one with `multimodal {train_command}`")
    try:
        model = model_class.from_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError) as err:
        raise BigModelError(f"{model_dir}: cannot load {what} ({str(err).splitlines()[0]})") from None
    return model, tokenizer, card


def load_dual_encoder(model_dir: Path) -> DualEncoder:
    from transformers import CLIPModel

    model, tokenizer, _ = load_multimodal(model_dir, "image-text-retrieval", CLIPModel, "an image–text dual encoder", "train-clip")
    return DualEncoder(model, tokenizer, model.config.vision_config.image_size, model.config.text_config.max_position_embeddings)


def rank_images(model_dir: Path, text: str, images: list[Path], top_k: int = 5) -> list[dict[str, Any]]:
    """The images that best match `text`, best first, with cosine similarities."""
    if not images:
        raise BigModelError("no images to search (expected .png/.jpg files)")
    return load_dual_encoder(model_dir).rank_images(text, images, top_k)


def rank_texts(model_dir: Path, image: Path, texts: list[str]) -> list[dict[str, Any]]:
    """The texts ranked for `image` (zero-shot classification when they are label prompts)."""
    if not texts:
        raise BigModelError("no texts to rank (give --texts or --labels)")
    return load_dual_encoder(model_dir).rank_texts(image, texts)
