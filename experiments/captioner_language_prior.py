"""Is it the eyes or the language? For a shapes captioner, the probability of each shape word
right after "a SIZE COLOUR", on single-object scenes, when the prefix names the object's true
colour, another colour (red, or blue for red objects), or no colour ("a SIZE").

If the vision side saw a held-out pair's shape, the shape word would win whatever colour comes
before it; if only the true colour hides it, the language side's learned "yellow is never
followed by triangle" is what suppresses it. The README's multimodal section quotes the output.

    .venv/bin/python experiments/captioner_language_prior.py zoo/captioner-shapes
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import LlavaForConditionalGeneration

from bigmodel.data import images as image_data
from bigmodel.errors import BigModelError
from bigmodel.families.multimodal.captioner import caption_batch
from bigmodel.families.multimodal.clip import IMAGE_MEAN, IMAGE_STD, load_multimodal

PREFIXES = ("true colour", "other colour", "no colour")


def prefix(obj: image_data.ShapeObject, mode: str) -> str:
    if mode == "true colour":
        return f"a {obj.size} {obj.colour}"
    if mode == "other colour":
        return f"a {obj.size} {'blue' if obj.colour == 'red' else 'red'}"
    return f"a {obj.size}"


@torch.no_grad()
def shape_probabilities(model, tokenizer, images: np.ndarray, prefixes: list[str]) -> np.ndarray:
    """[n, 3] probabilities of the first token of " circle", " square", " triangle" after each prefix."""
    first = [tokenizer(" " + s, add_special_tokens=False)["input_ids"][0] for s in image_data.SHAPES]
    pixels = image_data.pixel_values(images, IMAGE_MEAN, IMAGE_STD)
    rows = []
    for start in range(0, len(prefixes), 64):
        ids, mask, _ = caption_batch(tokenizer, prefixes[start:start + 64], model.config.image_seq_length, 40)
        last = mask.sum(1) - 2  # the prefix's last token (the eos caption_batch appends follows it)
        logits = model(input_ids=ids, attention_mask=mask, pixel_values=pixels[start:start + 64]).logits
        probs = torch.softmax(logits[torch.arange(len(last)), last], -1)
        rows.append(probs[:, first].numpy())
    return np.concatenate(rows)


def load(model_dir: Path) -> tuple[LlavaForConditionalGeneration, object, image_data.Split]:
    """The captioner, its tokenizer and the shapes split it was trained on, rebuilt from its card."""
    model, tokenizer, card = load_multimodal(model_dir, "image-captioning", LlavaForConditionalGeneration,
                                             "a captioner", "train-captioner")
    data = card.data[0] if card is not None and card.data else {}
    if data.get("name") != "shapes":
        raise BigModelError(f"{model_dir} was not trained on --data shapes ({data.get('name')!r}); "
                            "this experiment needs the shapes scenes")
    split = image_data.shapes(card.extra["image_size"], train=data["train"], test=data["test"], seed=data["seed"])
    return model.eval(), tokenizer, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("captioner", type=Path, help="a captioner trained on --data shapes")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        model, tokenizer, split = load(args.captioner)
    except BigModelError as err:
        sys.exit(f"error: {err}")
    table = []
    for name, part in (("test", split.test), ("held_out", split.held_out)):
        single = [i for i, scene in enumerate(part.scenes) if len(scene.objects) == 1]
        objects = [part.scenes[i].objects[0] for i in single]
        for mode in PREFIXES:
            probs = shape_probabilities(model, tokenizer, part.images[single], [prefix(o, mode) for o in objects])
            groups = collections.defaultdict(list)
            for obj, row in zip(objects, probs):
                groups[(obj.colour, obj.shape)].append(row)
            for (colour, shape), rows in sorted(groups.items()):
                rows = np.array(rows)
                table.append({
                    "split": name, "prefix": mode, "object": f"{colour} {shape}", "n": len(rows),
                    "shape_right": round(float(np.mean(rows.argmax(1) == image_data.SHAPES.index(shape))), 3),
                    "p_true_shape_given_shape_word": round(float(np.mean(
                        rows[:, image_data.SHAPES.index(shape)] / rows.sum(1))), 3),
                })
    if args.json:
        print(json.dumps(table, indent=2))
        return
    print(f"{'split':9} {'prefix':13} {'object':16} {'n':>3}  shape right  P(true shape | a shape word)")
    for row in table:
        print(f"{row['split']:9} {row['prefix']:13} {row['object']:16} {row['n']:3d}  {row['shape_right']:11.0%}  "
              f"{row['p_true_shape_given_shape_word']:.2f}")


if __name__ == "__main__":
    main()
