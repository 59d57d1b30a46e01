"""Does taking the language side's prior out at decoding time name held-out shapes?

Visual contrastive decoding (Leng et al., 2023): at each step of a greedy caption, the
captioner's next-token log-probabilities given the scene are set against those given an empty
scene (the background alone, the same for every scene):

    score(w) = (1 + alpha) * log p(w | scene, words so far) - alpha * log p(w | empty, words so far)

among the tokens whose p(w | scene) is at least `beta` times the most likely one's (so a token
the scene makes unlikely cannot win on the contrast alone). What the empty scene predicts as
well, the language side's prior (after "yellow", never "triangle"), then counts for less.
alpha 0 is plain greedy decoding. Prints, for test and held-out scenes, the caption metrics of
each alpha and shape accuracy by true colour+shape.

    .venv/bin/python experiments/captioner_contrastive_decoding.py zoo/captioner-shapes --alphas 0 1 3
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

import numpy as np
import torch

from transformers import LlavaForConditionalGeneration

from bigmodel.data import images as image_data
from bigmodel.errors import BigModelError
from bigmodel.families.multimodal.captioner import caption_metrics, caption_prompt
from bigmodel.families.multimodal.clip import IMAGE_MEAN, IMAGE_STD, load_multimodal

from captioner_clip_rerank import shape_hits_by_pair  # a sibling experiment (this folder is on sys.path)


@torch.no_grad()
def contrastive_captions(
    model, tokenizer, pixels: torch.Tensor, empty: torch.Tensor, max_tokens: int, alpha: float, beta: float,
    batch_size: int = 64,
) -> list[str]:
    """Greedy captions scored against the empty scene `empty` (one image's pixel values)."""
    prompt, mask = caption_prompt(model, tokenizer)
    captions = []
    for start in range(0, len(pixels), batch_size):
        chunk = pixels[start : start + batch_size]
        ids = prompt.expand(len(chunk), -1).clone()
        finished = torch.zeros(len(chunk), dtype=torch.bool)
        for _ in range(max_tokens):
            attention = torch.ones_like(ids)
            seen = torch.log_softmax(model(input_ids=ids, attention_mask=attention, pixel_values=chunk).logits[:, -1], -1)
            score = seen
            if alpha:
                prior = torch.log_softmax(
                    model(input_ids=ids, attention_mask=attention, pixel_values=empty.expand(len(chunk), -1, -1, -1)).logits[:, -1], -1
                )
                score = (1 + alpha) * seen - alpha * prior
                plausible = seen >= seen.max(-1, keepdim=True).values + math.log(beta)
                score = score.masked_fill(~plausible, -math.inf)
            token = torch.where(finished, tokenizer.pad_token_id, score.argmax(-1))
            ids = torch.cat([ids, token[:, None]], 1)
            finished |= token == tokenizer.eos_token_id
            if finished.all():
                break
        captions.extend(t.strip() for t in tokenizer.batch_decode(ids[:, prompt.shape[1] :], skip_special_tokens=True))
    return captions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("captioner", type=Path, help="a captioner trained on --data shapes")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 1.0, 3.0])
    parser.add_argument("--beta", type=float, default=0.1, help="plausibility: share of the top token's probability")
    parser.add_argument("--scenes", type=int, default=400, help="scenes of each split")
    args = parser.parse_args()
    torch.set_num_threads(2)
    try:
        model, tokenizer, card = load_multimodal(args.captioner, "image-captioning", LlavaForConditionalGeneration,
                                                 "a captioner", "train-captioner")
        data = card.data[0] if card is not None and card.data else {}
        if data.get("name") != "shapes":
            raise BigModelError(f"{args.captioner} was not trained on --data shapes; this experiment needs the shapes scenes")
    except BigModelError as err:
        sys.exit(f"error: {err}")
    model.eval()
    image_size, max_tokens = model.config.vision_config.image_size, card.extra.get("max_caption_tokens", 40)
    split = image_data.shapes(image_size, train=data["train"], test=data["test"], seed=data["seed"])
    blank = image_data.render_scene(image_data.Scene(()), image_size, random.Random(0))
    empty = image_data.pixel_values(blank[None], IMAGE_MEAN, IMAGE_STD)
    for name, part in (("test", split.test), ("held_out", split.held_out)):
        part = part.subset(np.arange(min(args.scenes, len(part.captions))))
        pixels = image_data.pixel_values(part.images, IMAGE_MEAN, IMAGE_STD)
        print(f"{name}: {len(pixels)} scenes")
        for alpha in args.alphas:
            captions = contrastive_captions(model, tokenizer, pixels, empty, max_tokens, alpha, args.beta)
            print(f"  alpha {alpha:g}: {caption_metrics(captions, part)}")
            print(f"    shape right by true pair: {shape_hits_by_pair(captions, part.scenes)}")


if __name__ == "__main__":
    main()
