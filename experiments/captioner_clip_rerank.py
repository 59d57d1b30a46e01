"""Does CLIP, choosing among the captioner's beam-search captions, name held-out shapes?

The zoo's captioner proposes `--beams` captions per scene (beam search, all returned); the zoo's
CLIP dual encoder picks the one closest to the image, alone or added to the captioner's own
beam score. Prints, for test and held-out scenes, how often the true caption is among the
proposals, the caption metrics of each choice, and shape accuracy by true colour+shape.

    .venv/bin/python experiments/captioner_clip_rerank.py zoo --beams 16 --scenes 200
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from bigmodel.data import images as image_data
from bigmodel.families.multimodal.captioner import caption_metrics, caption_prompt, load_captioner, parse_scene
from bigmodel.families.multimodal.clip import IMAGE_MEAN, IMAGE_STD, embed_images, embed_texts, load_captioned, load_dual_encoder
from bigmodel.families.multimodal.presets import captioner_preset


def shape_hits_by_pair(captions: list[str], scenes: list[image_data.Scene]) -> str:
    right, total = Counter(), Counter()
    for caption, scene in zip(captions, scenes):
        named, _ = parse_scene(caption)
        for i, obj in enumerate(scene.objects):
            pair = f"{obj.colour} {obj.shape}"
            total[pair] += 1
            right[pair] += i < len(named) and named[i][2] == obj.shape
    return ", ".join(f"{pair} {right[pair]}/{total[pair]}" for pair in sorted(total))


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo", type=Path, help="a zoo with captioner-shapes and clip-shapes")
    parser.add_argument("--beams", type=int, default=16)
    parser.add_argument("--scenes", type=int, default=200, help="scenes of each split")
    args = parser.parse_args()
    captioner = load_captioner(args.zoo / "captioner-shapes")
    clip = load_dual_encoder(args.zoo / "clip-shapes")
    model, tokenizer = captioner.model, captioner.tokenizer
    model.eval()
    prompt, mask = caption_prompt(model, tokenizer)
    split = load_captioned("shapes", captioner.image_size, 0, captioner_preset("small").scenes)  # the zoo's seed and scenes
    for name, part in (("test", split.test), ("held_out", split.held_out)):
        part = part.subset(np.arange(min(args.scenes, len(part.captions))))
        pixels = image_data.pixel_values(part.images, IMAGE_MEAN, IMAGE_STD)
        images = embed_images(clip.model, pixels)
        chosen: dict[str, list[str]] = {"beam search's best": [], "CLIP's pick": [], "CLIP + beam score": []}
        covered = 0
        for i in range(len(pixels)):
            out = model.generate(
                input_ids=prompt, attention_mask=mask, pixel_values=pixels[i : i + 1], max_new_tokens=captioner.max_tokens,
                num_beams=args.beams, num_return_sequences=args.beams, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id, output_scores=True, return_dict_in_generate=True,
            )
            proposals = [c.strip() for c in tokenizer.batch_decode(out.sequences[:, prompt.shape[1] :], skip_special_tokens=True)]
            similarity = embed_texts(clip.model, clip.tokenizer, proposals, clip.max_length) @ images[i]
            chosen["beam search's best"].append(proposals[0])
            chosen["CLIP's pick"].append(proposals[int(similarity.argmax())])
            chosen["CLIP + beam score"].append(proposals[int((similarity * clip.model.logit_scale.exp() + out.sequences_scores).argmax())])
            covered += part.captions[i][0] in proposals
        print(f"{name}: {len(pixels)} scenes; the true caption among the {args.beams} proposals for {covered / len(pixels):.1%}")
        for how, captions in chosen.items():
            print(f"  {how}: {caption_metrics(captions, part)}")
            print(f"    shape right by true pair: {shape_hits_by_pair(captions, part.scenes)}")


if __name__ == "__main__":
    main()
