"""Train a ViT image classifier: from a preset, or fine-tuned from a user's Hugging Face ViT.

The run keeps its resumable state and metrics in `.OUT.training/` beside the output; the model
directory appears at OUT only when training and evaluation are complete (then the state goes).
Batches are a pure function of (seed, step), so a resumed run is the run that never stopped.
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

from bigmodel import checkpoint
from bigmodel.data import images as image_data
from bigmodel.errors import BigModelError
from bigmodel.families.vision.plots import plot_confusion
from bigmodel.families.vision.presets import VisionPreset
from bigmodel.families.vision.presets import preset as get_preset
from bigmodel.train.metrics import plot_metrics
from bigmodel.train.state import resume_or_start, save_training_state
from bigmodel.ui import progress_bar

DATASETS = ("digits", "shapes")
IMAGE_MEAN = [0.5, 0.5, 0.5]
IMAGE_STD = [0.5, 0.5, 0.5]


def load_dataset(data: str, size: int, seed: int) -> image_data.Split:
    """`digits`, `shapes` (shape of single-object scenes) or a folder of class folders."""
    if data == "digits":
        return image_data.digits(size, seed=seed)
    if data == "shapes":
        split = image_data.shapes(size, seed=seed)
        return image_data.Split(
            image_data.shape_labels(split.train),
            image_data.shape_labels(split.test),
            {**split.provenance, "task": "shape of single-object scenes"},
            held_out=image_data.shape_labels(split.held_out),
        )
    if not Path(data).is_dir():
        raise BigModelError(f"--data {data}: expected digits, shapes or a folder of class folders")
    return image_data.image_folder(data, size, seed=seed)


def new_model(settings: VisionPreset, names: list[str]) -> "torch.nn.Module":
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(
        image_size=settings.image_size,
        patch_size=settings.patch_size,
        hidden_size=settings.hidden_size,
        num_hidden_layers=settings.layers,
        num_attention_heads=settings.heads,
        intermediate_size=settings.intermediate_size,
        hidden_dropout_prob=settings.dropout,
        attention_probs_dropout_prob=0.0,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
    )
    return ViTForImageClassification(config)


def base_image_size(base: Path) -> int:
    """The image size of a user's ViT checkpoint; anything that is not a ViT is refused."""
    config = checkpoint.read_config(base)  # one clear line for a folder that is not a model
    if config.get("model_type") != "vit":
        raise BigModelError(f"{base}: a ViT checkpoint is needed for --base; this one is {config.get('model_type')!r}")
    return int(config.get("image_size", 224))


def base_model(base: Path, names: list[str]) -> tuple["torch.nn.Module", list[float], list[float]]:
    """A user's ViT checkpoint with a new head for `names` (the old head is dropped if it differs)."""
    from transformers import AutoImageProcessor, ViTForImageClassification

    model = ViTForImageClassification.from_pretrained(
        base,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        ignore_mismatched_sizes=True,
    )
    mean, std = IMAGE_MEAN, IMAGE_STD
    if (base / "preprocessor_config.json").is_file():
        processor = AutoImageProcessor.from_pretrained(base, backend="pil")
        mean, std = list(processor.image_mean), list(processor.image_std)
    return model, mean, std


def evaluate(model: "torch.nn.Module", x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> tuple[float, float, np.ndarray]:
    """(mean loss, accuracy, predictions) without gradients."""
    model.eval()
    losses, predictions = [], []
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            out = model(pixel_values=x[start : start + batch_size], labels=y[start : start + batch_size])
            losses.append(out.loss.item() * len(y[start : start + batch_size]))
            predictions.append(out.logits.argmax(-1))
    model.train()
    predicted = torch.cat(predictions)
    return sum(losses) / len(y), (predicted == y).float().mean().item(), predicted.numpy()


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> np.ndarray:
    """The step's batch: epoch-wise shuffles drawn from (seed, epoch), so any step is reproducible."""
    per_epoch = max(1, n // batch_size)
    epoch, position = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return order[position * batch_size : (position + 1) * batch_size]


def train_classifier(
    data: str,
    out: Path,
    preset: str = "small",
    seed: int = 0,
    steps: int | None = None,
    resume: bool = False,
    base: Path | None = None,
) -> checkpoint.ModelCard:
    """Train (or fine-tune `base`), evaluate, and write the model directory `out` atomically."""
    from transformers import ViTImageProcessorPil, get_cosine_schedule_with_warmup

    settings = get_preset(preset)
    if steps is not None:
        if steps < 1:
            raise BigModelError(f"--steps must be at least 1, not {steps}")
        settings = dataclasses.replace(settings, steps=steps)
    torch.manual_seed(seed)
    image_size = base_image_size(base) if base is not None else settings.image_size
    split = load_dataset(data, image_size, seed)
    names = split.train.names
    if base is not None:
        model, mean, std = base_model(base, names)
    else:
        model, mean, std = new_model(settings, names), IMAGE_MEAN, IMAGE_STD
    x_train = image_data.pixel_values(split.train.images, mean, std)
    y_train = torch.from_numpy(split.train.labels)
    x_test = image_data.pixel_values(split.test.images, mean, std)
    y_test = torch.from_numpy(split.test.labels)

    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(settings.warmup_fraction * settings.steps), settings.steps)
    run_settings = {"data": data, "preset": dataclasses.asdict(settings), "seed": seed, "base": str(base) if base else None}
    work = out.parent / f".{out.name}.training"
    state_dir = work / "state"
    start, log = resume_or_start(work, resume=resume, settings=run_settings, model=model, optimizer=optimizer,
                                 scheduler=scheduler)
    generator = torch.Generator()
    eval_every = max(1, settings.steps // settings.evaluations)
    began = time.perf_counter()
    model.train()
    with progress_bar(f"vision train ({preset})", total=settings.steps) as advance:
        advance(start)
        for step in range(start + 1, settings.steps + 1):
            index = torch.from_numpy(batch_indices(len(y_train), settings.batch_size, step - 1, seed))
            generator.manual_seed(seed * 1_000_003 + step)
            x = image_data.augment(x_train[index], generator)
            output = model(pixel_values=x, labels=y_train[index])
            output.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            train_accuracy = (output.logits.argmax(-1) == y_train[index]).float().mean().item()
            if step % eval_every == 0 or step == settings.steps:
                test_loss, test_accuracy, _ = evaluate(model, x_test, y_test)
                log.log(step=step, train_loss=output.loss.item(), train_accuracy=train_accuracy, test_loss=test_loss,
                        test_accuracy=test_accuracy, lr=scheduler.get_last_lr()[0])
            if step % settings.checkpoint_every == 0 and step < settings.steps:
                save_training_state(state_dir, model=model, optimizer=optimizer, scheduler=scheduler, step=step,
                                    extra={"settings": run_settings})
            advance(1, loss=output.loss.item())
    seconds = time.perf_counter() - began

    test_loss, test_accuracy, predicted = evaluate(model, x_test, y_test)
    metrics: dict[str, Any] = {"test_accuracy": round(test_accuracy, 4), "test_loss": round(test_loss, 4),
                               "train_seconds": round(seconds, 1),
                               "train_images_per_second": round((settings.steps - start) * settings.batch_size / seconds, 1)}
    if split.held_out is not None:
        _, held_accuracy, _ = evaluate(model, image_data.pixel_values(split.held_out.images, mean, std),
                                       torch.from_numpy(split.held_out.labels))
        metrics["held_out_accuracy"] = round(held_accuracy, 4)
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(confusion, (split.test.labels, predicted), 1)

    card = checkpoint.ModelCard(
        family="vision",
        task="image-classification",
        input_modalities=["image"],
        output_modalities=["label"],
        parameters=sum(p.numel() for p in model.parameters()),
        architecture="ViTForImageClassification",
        base_model=str(base) if base else None,
        data=[split.provenance],
        metrics=metrics,
        extra={"preset": preset, "image_size": image_size, "labels": names, "steps": settings.steps, "seed": seed},
    )
    with checkpoint.writing(out) as tmp:
        model.save_pretrained(tmp)
        ViTImageProcessorPil(  # saved as ViTImageProcessor; the Pillow backend needs no torchvision
            do_resize=True, size={"height": image_size, "width": image_size}, resample=2,  # bilinear, as in training
            image_mean=mean, image_std=std,
        ).save_pretrained(tmp)
        shutil.copy(work / "metrics.jsonl", tmp / "metrics.jsonl")
        plot_metrics(tmp / "metrics.jsonl", tmp / "curves.png",
                     panels={"loss": ["train_loss", "test_loss"], "accuracy": ["train_accuracy", "test_accuracy"]},
                     title=f"ViT on {split.provenance['name']}")
        plot_confusion(confusion, names, tmp / "confusion_matrix.png",
                       title=f"test accuracy {test_accuracy:.1%} ({len(y_test)} images)")
        checkpoint.write_json(tmp / "eval.json", {"metrics": metrics, "confusion_matrix": confusion.tolist(), "labels": names})
        checkpoint.write_card(tmp, card)
        write_report(tmp, card, split.provenance["name"])
    shutil.rmtree(work, ignore_errors=True)
    return card


def write_report(model_dir: Path, card: checkpoint.ModelCard, data_name: str) -> None:
    """REPORT.md: what the model is and how well it does, with its pictures (paths `./`-relative)."""
    rows = "\n".join(f"| {name} | {value} |" for name, value in card.metrics.items())
    (model_dir / "REPORT.md").write_text(
        f"ViT image classifier (`ViTForImageClassification`, {card.parameters:,} parameters, preset "
        f"`{card.extra['preset']}`, {card.extra['image_size']}×{card.extra['image_size']} images) trained on "
        f"`{data_name}` for {card.extra['steps']} steps.\n\n"
        f"| metric | value |\n| --- | --- |\n{rows}\n\n"
        "![confusion matrix](./confusion_matrix.png)\n\n![training curves](./curves.png)\n",
        encoding="utf-8",
    )
