"""Vision speed: bigmodel's ViT training and classification against a plain PyTorch loop over the
same `transformers` model, measured in the same run (images per second, and the ratio).

  training   bigmodel `train_classifier` (augmentation, grad clipping, cosine schedule, periodic
             test evaluation and resumable state, as a real run does) vs a plain loop: DataLoader
             over the same tensors, AdamW, forward/backward/step, nothing else.
  inference  bigmodel `classify_images` on PNG files (decode, checks, processor, top-k) vs a plain
             loop doing the same work: PIL-decode the same PNG files, normalise, model, softmax,
             top-k, no_grad (`infer_ratio`). The plain model on ready tensors (no decoding) is also
             reported (`infer_ratio_vs_ready_tensors`): the upper bound, not a like-for-like figure.

Usage: python benchmarks/vision_speed.py [--preset small] [--steps N] [--images 512] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=None, help="default: the preset's (its evaluation cadence is per run)")
    parser.add_argument("--images", type=int, default=512, help="images classified in the inference test")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from bigmodel.data import images as image_data
    from bigmodel.families.vision.classify import classify_images
    from bigmodel.families.vision.presets import preset
    from bigmodel.families.vision.train import (
        IMAGE_MEAN,
        IMAGE_STD,
        new_model,
        train_classifier,
    )

    settings = preset(args.preset)
    args.steps = args.steps or settings.steps
    split = image_data.digits(settings.image_size, seed=0)
    x = image_data.pixel_values(split.train.images, IMAGE_MEAN, IMAGE_STD)
    y = torch.from_numpy(split.train.labels)
    results: dict[str, float] = {}

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "vit"
        card = train_classifier("digits", out, preset=args.preset, steps=args.steps, seed=0)
        results["bigmodel_train_images_per_s"] = card.metrics["train_images_per_second"]

        torch.manual_seed(0)
        model = new_model(settings, split.train.names)
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=settings.batch_size,
                                             shuffle=True, drop_last=True)
        model.train()
        done, start = 0, time.perf_counter()
        while done < args.steps:
            for xb, yb in loader:
                model(pixel_values=xb, labels=yb).loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                done += 1
                if done == args.steps:
                    break
        results["plain_train_images_per_s"] = round(args.steps * settings.batch_size / (time.perf_counter() - start), 1)

        rng = np.random.default_rng(0)
        picks = rng.integers(0, len(split.test.labels), args.images)
        files = []
        for i, index in enumerate(picks):
            path = Path(tmp) / f"img-{i}.png"
            Image.fromarray(split.test.images[index]).save(path)
            files.append(path)
        classify_images(out, files[:8])  # warm-up: first-call costs are not throughput
        start = time.perf_counter()
        classify_images(out, files, top_k=3)
        results["bigmodel_infer_images_per_s"] = round(args.images / (time.perf_counter() - start), 1)

        model.eval()
        tensors = image_data.pixel_values(split.test.images[picks], IMAGE_MEAN, IMAGE_STD)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(tensors), batch_size=64)
        start = time.perf_counter()
        with torch.no_grad():
            for (xb,) in loader:
                model(pixel_values=xb).logits.softmax(-1)
        results["plain_infer_ready_tensors_images_per_s"] = round(args.images / (time.perf_counter() - start), 1)

        start = time.perf_counter()
        with torch.no_grad():
            for first in range(0, len(files), 64):
                decoded = []
                for path in files[first : first + 64]:
                    with Image.open(path) as image:
                        decoded.append(np.asarray(image.convert("RGB")))
                xb = image_data.pixel_values(np.stack(decoded), IMAGE_MEAN, IMAGE_STD)
                model(pixel_values=xb).logits.softmax(-1).topk(3, dim=-1)
        results["plain_infer_images_per_s"] = round(args.images / (time.perf_counter() - start), 1)

    results["train_ratio"] = round(results["bigmodel_train_images_per_s"] / results["plain_train_images_per_s"], 3)
    results["infer_ratio"] = round(results["bigmodel_infer_images_per_s"] / results["plain_infer_images_per_s"], 3)
    results["infer_ratio_vs_ready_tensors"] = round(
        results["bigmodel_infer_images_per_s"] / results["plain_infer_ready_tensors_images_per_s"], 3
    )
    print(json.dumps({"preset": args.preset, "steps": args.steps, "threads": args.threads, **results}, indent=2))


if __name__ == "__main__":
    main()
