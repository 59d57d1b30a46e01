"""`bigmodel vision train` and `bigmodel classify`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from bigmodel import checkpoint
from bigmodel.ui import SEED_MAX


def quiet_transformers() -> None:
    """Our progress bars only: transformers' load/save bars would interleave with them."""
    from transformers.utils import logging

    logging.disable_progress_bar()

vision_app = typer.Typer(
    help="Vision models: a ViT image classifier.\n\nExample: bigmodel vision train --data digits --preset tiny --out models/vit",
    no_args_is_help=True,
)


@vision_app.command("train")
def train(
    data: str = typer.Option("digits", "--data", help="digits, shapes, or a folder of class folders (CLASS/*.png|jpg)."),
    preset: str = typer.Option("small", "--preset", help="tiny (tests), small (CPU demo) or base (ViT-Base/16)."),
    out: Path = typer.Option(..., "--out", help="Model directory to write.", callback=checkpoint.model_out),
    base: Path = typer.Option(None, "--base", help="Fine-tune this Hugging Face ViT checkpoint to the new labels."),
    steps: int = typer.Option(None, "--steps", help="Training steps (default: the preset's)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last saved state of an interrupted run."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
    json_output: bool = typer.Option(False, "--json", help="Print the model card as JSON."),
) -> None:
    """Train a ViT image classifier, evaluate it, and write a Hugging Face model directory.

    Writes config.json, model.safetensors, preprocessor_config.json, bigmodel.json,
    metrics.jsonl, curves.png and confusion_matrix.png.

    Example: bigmodel vision train --data digits --preset small --out models/vit-digits
    """
    from bigmodel.families.vision.train import train_classifier
    from bigmodel.ui import stdout

    quiet_transformers()

    card = train_classifier(data, out, preset=preset, seed=seed, steps=steps, resume=resume, base=base)
    if json_output:
        print(json.dumps(card.to_json(), indent=2))
    else:
        metrics = card.metrics
        stdout.print(f"{out}: test accuracy {metrics['test_accuracy']:.2%} ({card.parameters:,} parameters)")


def classify(
    model_dir: Path = typer.Argument(..., help="A vision model directory."),
    images: list[Path] = typer.Argument(..., help="Image files to classify."),
    top_k: int = typer.Option(3, "--top-k", help="How many labels to show per image."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX, help="Unused by inference; accepted like every command."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Classify images with a vision model: the top-k labels with their probabilities.

    Example: bigmodel classify models/vit-digits digit.png --top-k 3
    """
    from bigmodel.families.vision.classify import classify_images
    from bigmodel.ui import stdout

    quiet_transformers()

    results = classify_images(model_dir, images, top_k=top_k)
    if json_output:
        print(json.dumps(results, indent=2))
        return
    for result in results:
        best = "  ".join(f"{t['label']} {t['probability']:.1%}" for t in result["top"])
        stdout.print(f"{result['image']}: {best}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(vision_app, name="vision")
    app.command("classify")(classify)
