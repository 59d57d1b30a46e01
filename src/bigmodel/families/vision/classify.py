"""Classify images with a vision model directory (ours or any Hugging Face image classifier)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bigmodel import checkpoint
from bigmodel.data import images as image_data
from bigmodel.errors import BigModelError


def load_classifier(model_dir: Path) -> tuple[Any, Any, int]:
    """(model, image processor, image size); refuses models of other families with one line."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    checkpoint.require_family(model_dir, {"vision"}, "a vision model")
    try:
        model = AutoModelForImageClassification.from_pretrained(model_dir)
    except (OSError, ValueError) as err:
        raise BigModelError(f"{model_dir}: cannot load an image classifier ({str(err).splitlines()[0]})") from None
    if (model_dir / "preprocessor_config.json").is_file():
        processor = AutoImageProcessor.from_pretrained(model_dir, backend="pil")
    else:  # a bare checkpoint: the ViT convention (resize, scale to [-1, 1])
        from transformers import ViTImageProcessorPil

        size = model.config.image_size
        processor = ViTImageProcessorPil(size={"height": size, "width": size})
    size = processor.size.get("height") or processor.size.get("shortest_edge") or model.config.image_size
    model.eval()
    return model, processor, int(size)


def classify_images(model_dir: Path, paths: list[Path], top_k: int = 3, batch_size: int = 64) -> list[dict[str, Any]]:
    """For each image: its top-k labels with probabilities, most likely first."""
    import torch

    if top_k < 1:
        raise BigModelError(f"--top-k must be at least 1, not {top_k}")
    model, processor, size = load_classifier(Path(model_dir))
    results = []
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        pixels = processor(images=[image_data.load_image(p, size) for p in batch], return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            probabilities = model(pixel_values=pixels).logits.softmax(-1)
        best = probabilities.topk(min(top_k, probabilities.shape[-1]), dim=-1)
        for path, values, indices in zip(batch, best.values, best.indices):
            results.append(
                {
                    "image": str(path),
                    "top": [
                        {"label": model.config.id2label[int(i)], "probability": round(float(v), 4)}
                        for v, i in zip(values, indices)
                    ],
                }
            )
    return results
