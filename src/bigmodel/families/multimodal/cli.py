"""`bigmodel multimodal train-clip|train-captioner`, `bigmodel retrieve` and `bigmodel caption`."""

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

multimodal_app = typer.Typer(
    help="Multimodal models: a CLIP-style image–text dual encoder and a LLaVA-style captioner.\n\n"
    "Example: bigmodel multimodal train-clip --data shapes --preset tiny --out models/clip", no_args_is_help=True
)


@multimodal_app.command("train-clip")
def train_clip(
    data: str = typer.Option("shapes", "--data", help="shapes, digits, or a folder of images with captions.jsonl."),
    preset: str = typer.Option("small", "--preset", help="tiny (tests), small (CPU demo) or base (CLIP ViT-B/16 sizes)."),
    out: Path = typer.Option(..., "--out", help="Model directory to write.", callback=checkpoint.model_out),
    steps: int = typer.Option(None, "--steps", help="Training steps (default: the preset's)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last saved state of an interrupted run."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
    json_output: bool = typer.Option(False, "--json", help="Print the model card as JSON."),
) -> None:
    """Train a CLIP dual encoder with the contrastive loss; evaluate recall@1/@5 both ways.

    Writes config.json, model.safetensors, tokenizer and processor files (CLIPProcessor loads
    them), bigmodel.json, metrics.jsonl and curves.png.

    Example: bigmodel multimodal train-clip --data shapes --out models/clip-shapes
    """
    from bigmodel.families.multimodal.clip import train_clip as train
    from bigmodel.ui import stdout

    quiet_transformers()

    card = train(data, out, preset=preset, seed=seed, steps=steps, resume=resume)
    if json_output:
        print(json.dumps(card.to_json(), indent=2))
    else:
        m = card.metrics
        stdout.print(f"{out}: recall@1 image→text {m['test_image_to_text_r1']:.1%}, "
                     f"text→image {m['test_text_to_image_r1']:.1%} ({card.parameters:,} parameters)")


@multimodal_app.command("train-captioner")
def train_captioner(
    language_model: Path = typer.Option(..., "--language-model", help="A causal LM directory (LLaMA family) with its tokenizer."),
    data: str = typer.Option("shapes", "--data", help="shapes, digits, or a folder of images with captions.jsonl."),
    preset: str = typer.Option("small", "--preset", help="tiny (tests), small (CPU demo) or base (LLaVA-1.5 vision sizes)."),
    vision_encoder: Path = typer.Option(
        None, "--vision-encoder", help="A trained CLIP dual encoder whose vision tower to start from (as LLaVA starts from CLIP's)."
    ),
    out: Path = typer.Option(..., "--out", help="Model directory to write.", callback=checkpoint.model_out),
    steps: int = typer.Option(None, "--steps", help="Training steps (default: the preset's)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last saved state of an interrupted run."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
    json_output: bool = typer.Option(False, "--json", help="Print the model card as JSON."),
) -> None:
    """Train a LLaVA-style captioner: vision encoder + projector + the given language model.

    Saved as LlavaForConditionalGeneration with a LlavaProcessor, so transformers loads it.

    Example: bigmodel multimodal train-captioner --language-model zoo/general-llm --vision-encoder zoo/clip-shapes --out models/captioner
    """
    from bigmodel.families.multimodal.captioner import train_captioner as train
    from bigmodel.ui import stdout

    quiet_transformers()
    card = train(data, language_model, out, preset=preset, seed=seed, steps=steps, resume=resume, vision_encoder=vision_encoder)
    if json_output:
        print(json.dumps(card.to_json(), indent=2))
    else:
        m = card.metrics
        stdout.print(f"{out}: exact match {m['test_exact_match']:.1%}, BLEU-4 {m['test_bleu4']:.3f} "
                     f"({card.parameters:,} parameters)")


def caption(
    model_dir: Path = typer.Argument(..., help="A captioner directory (multimodal train-captioner)."),
    images: list[Path] = typer.Argument(..., help="Image files to caption."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX, help="Unused by greedy decoding; accepted like every command."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Caption images with a LLaVA-style captioner (greedy decoding).

    Example: bigmodel caption models/captioner scene.png
    """
    from bigmodel.families.multimodal.captioner import caption_images
    from bigmodel.ui import stdout

    quiet_transformers()
    results = caption_images(model_dir, images)
    if json_output:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            stdout.print(f"{result['image']}: {result['caption']}", highlight=False)


def retrieve(
    model_dir: Path = typer.Argument(..., help="A multimodal (CLIP) model directory."),
    text: str = typer.Option(None, "--text", help="Find the images that match this text (with --images)."),
    images: Path = typer.Option(None, "--images", help="Folder of images to search."),
    image: Path = typer.Option(None, "--image", help="Rank texts for this image (with --texts or --labels)."),
    texts: list[str] = typer.Option([], "--texts", help="A candidate text; repeatable."),
    labels: str = typer.Option(None, "--labels", help="Zero-shot classes, comma-separated (texts from --template)."),
    template: str = typer.Option("{}", "--template", help="Prompt for each label, e.g. 'a handwritten digit {}'."),
    top_k: int = typer.Option(5, "--top-k", min=1, help="How many images to show."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX, help="Unused by inference; accepted like every command."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Image–text retrieval both ways, and zero-shot classification from label prompts.

    Example: bigmodel retrieve models/clip-shapes --text "a small red circle on the left" --images pics/
    """
    from bigmodel.data.images import image_files
    from bigmodel.errors import BigModelError
    from bigmodel.families.multimodal.clip import rank_images, rank_texts
    from bigmodel.ui import stdout

    quiet_transformers()

    if (text is None) == (image is None):
        raise BigModelError("give either --text with --images, or --image with --texts/--labels")
    if text is not None:
        if images is None or not images.is_dir():
            raise BigModelError(f"--images: {images} is not a folder of images")
        results = rank_images(model_dir, text, image_files(images), top_k=top_k)
        rows = [f"{r['similarity']:+.3f}  {r['image']}" for r in results]
    else:
        candidates = list(texts)
        if labels and template.count("{}") != 1:
            raise BigModelError(f"--template {template!r} must hold '{{}}' once, where each label goes")
        if labels:
            candidates += [template.replace("{}", label.strip()) for label in labels.split(",") if label.strip()]
        results = rank_texts(model_dir, image, candidates)
        rows = [f"{r['probability']:6.1%}  {r['text']}" for r in results]
    if json_output:
        print(json.dumps(results, indent=2))
    else:
        for row in rows:
            stdout.print(row, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(multimodal_app, name="multimodal")
    app.command("retrieve")(retrieve)
    app.command("caption")(caption)
