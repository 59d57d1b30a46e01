"""Does the vision side itself take colour as a shortcut for shape? A CLIP vision tower of the
captioner's `small` size learns, from the shapes training scenes alone and with no language,
the shape of the object in each slot (left, middle, right; or none) through a linear head on its
pooled output. Its shape accuracy on test scenes (pairs seen in training) against objects of the
held-out pairs (green circle, yellow triangle, blue square) measures the shortcut.

`--grey-share` draws that share of training objects in a grey of random lightness (no palette
colour, so no held-out pair enters training); `--learn all` also teaches each slot's colour and
size through heads of their own, as a captioner's tower must know them. The README's multimodal
section quotes the output.

    .venv/bin/python experiments/vision_colour_shortcut.py --grey-share 0.7 --learn shape
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPVisionModel, get_cosine_schedule_with_warmup

from bigmodel.data import images as image_data
from bigmodel.families.multimodal.captioner import vision_config
from bigmodel.families.multimodal.clip import IMAGE_MEAN, IMAGE_STD
from bigmodel.families.multimodal.presets import CAPTIONER_PRESETS, captioner_preset
from bigmodel.ui import progress_bar

# Each slot's classes; index 0 means no object there.
ATTRIBUTES = {
    "shape": image_data.SHAPES,
    "colour": (*image_data.COLOURS, image_data.GREY),
    "size": image_data.SIZES,
}


def slot_labels(scenes: list[image_data.Scene], attribute: str) -> torch.Tensor:
    """[n, slots] class of each slot's object (1 + its index in ATTRIBUTES), 0 where empty."""
    labels = np.zeros((len(scenes), len(image_data.POSITIONS)), dtype=np.int64)
    for i, scene in enumerate(scenes):
        for obj in scene.objects:
            labels[i, image_data.POSITIONS.index(obj.position)] = 1 + ATTRIBUTES[attribute].index(getattr(obj, attribute))
    return torch.from_numpy(labels)


def shape_accuracy(predicted: torch.Tensor, scenes: list[image_data.Scene], held_out: bool) -> tuple[float, int]:
    """Accuracy and count over the objects whose colour+shape is (or is not) a held-out pair."""
    hits = [
        int(predicted[i, image_data.POSITIONS.index(obj.position)]) == 1 + image_data.SHAPES.index(obj.shape)
        for i, scene in enumerate(scenes) for obj in scene.objects
        if ((obj.colour, obj.shape) in image_data.HELD_OUT) == held_out
    ]
    return (round(float(np.mean(hits)), 4) if hits else float("nan")), len(hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grey-share", type=float, default=0.0, help="share of training objects drawn in grey")
    parser.add_argument("--learn", choices=("shape", "all"), default="shape", help="shape only, or shape, colour and size")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--train-scenes", type=int, default=9600)
    parser.add_argument("--test-scenes", type=int, default=800, help="and half as many with held-out pairs")
    parser.add_argument("--preset", choices=list(CAPTIONER_PRESETS), default="small",
                        help="the captioner preset whose vision tower size is used")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if not 0 <= args.grey_share <= 1:
        sys.exit(f"error: --grey-share must be between 0 and 1, not {args.grey_share}")
    if args.steps < 1 or args.train_scenes < 1 or args.test_scenes < 2:
        sys.exit("error: --steps and --train-scenes must be at least 1, --test-scenes at least 2")

    settings = captioner_preset(args.preset)
    torch.manual_seed(args.seed)
    split = image_data.shapes(settings.image_size, train=args.train_scenes, test=args.test_scenes, seed=args.seed,
                              grey_share=args.grey_share)
    learned = list(ATTRIBUTES) if args.learn == "all" else ["shape"]
    slots = len(image_data.POSITIONS)
    tower = CLIPVisionModel(vision_config(settings))
    heads = torch.nn.ModuleDict({a: torch.nn.Linear(settings.vision_hidden, slots * (1 + len(ATTRIBUTES[a]))) for a in learned})
    pixels = image_data.pixel_values(split.train.images, IMAGE_MEAN, IMAGE_STD)
    labels = {a: slot_labels(split.train.scenes, a) for a in learned}
    parameters = [*tower.parameters(), *heads.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(settings.warmup_fraction * args.steps), args.steps)
    batch = 96
    generator = torch.Generator().manual_seed(args.seed)
    began = time.perf_counter()
    with progress_bar(f"vision tower on shapes slots ({args.learn}, grey {args.grey_share:g})", total=args.steps) as advance:
        for _ in range(args.steps):
            index = torch.randint(0, len(pixels), (batch,), generator=generator)
            x = image_data.augment(pixels[index], generator, shift=0.05, degrees=5, zoom=0.05)
            pooled = tower(pixel_values=x).pooler_output
            loss = sum(F.cross_entropy(heads[a](pooled).view(batch * slots, -1), labels[a][index].view(-1)) for a in learned)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            scheduler.step()
            advance(1, loss=loss.item())
    seconds = time.perf_counter() - began

    tower.eval()
    with torch.no_grad():
        def predict(part: image_data.CaptionedImages) -> dict[str, torch.Tensor]:
            pooled = tower(pixel_values=image_data.pixel_values(part.images, IMAGE_MEAN, IMAGE_STD)).pooler_output
            return {a: heads[a](pooled).view(len(part.images), slots, -1).argmax(-1) for a in learned}

        test, held = predict(split.test), predict(split.held_out)
    seen_accuracy, seen_n = shape_accuracy(test["shape"], split.test.scenes, held_out=False)
    held_accuracy, held_n = shape_accuracy(held["shape"], split.held_out.scenes, held_out=True)
    result = {
        "grey_share": args.grey_share, "learn": args.learn, "steps": args.steps, "train_scenes": args.train_scenes,
        "test_objects": seen_n, "held_out_pair_objects": held_n,
        "test_shape_accuracy": seen_accuracy, "held_out_pair_shape_accuracy": held_accuracy,
        "train_seconds": round(seconds, 1),
    }
    if "colour" in held:
        truth = slot_labels(split.held_out.scenes, "colour")
        result["held_out_colour_accuracy"] = round(float((held["colour"] == truth)[truth > 0].float().mean()), 4)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"shape right, test scenes' objects (seen pairs): {seen_accuracy:.1%} of {seen_n}")
    print(f"shape right, objects of held-out pairs:         {held_accuracy:.1%} of {held_n}")
    if "held_out_colour_accuracy" in result:
        print(f"colour right, objects of held-out scenes:      {result['held_out_colour_accuracy']:.1%}")
    print(f"{args.steps} steps, {seconds:.0f} s")


if __name__ == "__main__":
    main()
