"""Classify images with a vision model directory (ours or any Hugging Face image classifier)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bigmodel import checkpoint
from bigmodel.data import images as image_data
from bigmodel.errors import BigModelError


@dataclasses.dataclass
class Classifier:
    """An image classifier loaded once: the CLI classifies a list of files, the server each upload."""

    model: Any
    processor: Any
    image_size: int

    def classify(self, paths: list[Path], top_k: int = 3, batch_size: int = 64) -> list[dict[str, Any]]:
        """For each image: its top-k labels with probabilities, most likely first."""
        import torch

        if top_k < 1:
            raise BigModelError(f"--top-k must be at least 1, not {top_k}")
        results = []
        for start in range(0, len(paths), batch_size):
            batch = paths[start : start + batch_size]
            images = [image_data.load_image(p, self.image_size) for p in batch]
            pixels = self.processor(images=images, return_tensors="pt")["pixel_values"]
            with torch.no_grad():
                probabilities = self.model(pixel_values=pixels).logits.softmax(-1)
            best = probabilities.topk(min(top_k, probabilities.shape[-1]), dim=-1)
            for path, values, indices in zip(batch, best.values, best.indices):
                results.append(
                    {
                        "image": str(path),
                        "top": [
                            {"label": self.model.config.id2label[int(i)], "probability": round(float(v), 4)}
                            for v, i in zip(values, indices)
                        ],
                    }
                )
        return results


def load_classifier(model_dir: Path) -> Classifier:
    """Refuses models of other families with one line."""
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
    return Classifier(model, processor, int(size))


def classify_images(model_dir: Path, paths: list[Path], top_k: int = 3, batch_size: int = 64) -> list[dict[str, Any]]:
    """For each image: its top-k labels with probabilities, most likely first."""
    if top_k < 1:
        raise BigModelError(f"--top-k must be at least 1, not {top_k}")
    return load_classifier(Path(model_dir)).classify(paths, top_k, batch_size)
