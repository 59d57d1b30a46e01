"""Every size of the CLIP dual encoder, in one place. `tiny` for tests, `small` for the CPU
demo, `base` has CLIP ViT-B/16's dimensions for GPUs."""

from __future__ import annotations

import dataclasses

from bigmodel.errors import BigModelError


@dataclasses.dataclass(frozen=True)
class ClipPreset:
    image_size: int
    patch_size: int
    vision_hidden: int
    vision_layers: int
    text_hidden: int
    text_layers: int
    heads: int
    projection_dim: int
    steps: int
    batch_size: int
    learning_rate: float
    scenes: int = 4000  # generated shapes scenes (train + test), when training on shapes
    vocab_size: int = 1000  # upper bound; the tokenizer learns what the captions need
    max_text_length: int = 48
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    evaluations: int = 10
    checkpoint_every: int = 200


PRESETS: dict[str, ClipPreset] = {
    "tiny": ClipPreset(image_size=16, patch_size=4, vision_hidden=32, vision_layers=1, text_hidden=32, text_layers=1,
                       heads=2, projection_dim=32, steps=40, batch_size=32, learning_rate=2e-3, evaluations=2,
                       checkpoint_every=20, scenes=500),
    # 16 patches of 12×12: a shape's outline fits in a patch, and a step stays cheap on a CPU.
    "small": ClipPreset(image_size=48, patch_size=12, vision_hidden=128, vision_layers=4, text_hidden=128,
                        text_layers=2, heads=4, projection_dim=128, steps=2000, batch_size=96, learning_rate=1e-3,
                        max_text_length=32),
    "base": ClipPreset(image_size=224, patch_size=16, vision_hidden=768, vision_layers=12, text_hidden=512,
                       text_layers=12, heads=8, projection_dim=512, steps=20000, batch_size=256, learning_rate=3e-4,
                       vocab_size=49408, max_text_length=77, checkpoint_every=1000),
}


def preset(name: str) -> ClipPreset:
    if name not in PRESETS:
        raise BigModelError(f"unknown multimodal preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]


@dataclasses.dataclass(frozen=True)
class CaptionerPreset:
    """The captioner's own vision encoder and schedule; its language side is the LLM it is given."""

    image_size: int
    patch_size: int
    vision_hidden: int
    vision_layers: int
    heads: int
    steps: int
    batch_size: int
    learning_rate: float
    scenes: int = 4000
    max_caption_tokens: int = 40
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    evaluations: int = 5
    checkpoint_every: int = 200


CAPTIONER_PRESETS: dict[str, CaptionerPreset] = {
    "tiny": CaptionerPreset(image_size=16, patch_size=4, vision_hidden=32, vision_layers=1, heads=2, steps=20,
                            batch_size=16, learning_rate=2e-3, scenes=200, evaluations=1, checkpoint_every=10),
    "small": CaptionerPreset(image_size=48, patch_size=12, vision_hidden=128, vision_layers=4, heads=4, steps=1200,
                             batch_size=48, learning_rate=1e-3),
    "base": CaptionerPreset(image_size=336, patch_size=14, vision_hidden=1024, vision_layers=24, heads=16, steps=20000,
                            batch_size=128, learning_rate=2e-5, checkpoint_every=1000),
}


def captioner_preset(name: str) -> CaptionerPreset:
    if name not in CAPTIONER_PRESETS:
        raise BigModelError(f"unknown captioner preset {name!r}; expected one of {', '.join(CAPTIONER_PRESETS)}")
    return CAPTIONER_PRESETS[name]
