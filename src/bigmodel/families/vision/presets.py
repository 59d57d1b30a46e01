"""Every size of the ViT classifier, in one place. `tiny` for tests, `small` for the CPU demo,
`base` is ViT-Base/16 (86M parameters, 224×224) for GPUs."""

from __future__ import annotations

import dataclasses

from bigmodel.errors import BigModelError


@dataclasses.dataclass(frozen=True)
class VisionPreset:
    image_size: int
    patch_size: int
    hidden_size: int
    layers: int
    heads: int
    intermediate_size: int
    steps: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    dropout: float = 0.0
    evaluations: int = 20  # test-set evaluations (metric rows) over a run
    checkpoint_every: int = 200  # steps between resumable training states


PRESETS: dict[str, VisionPreset] = {
    "tiny": VisionPreset(image_size=16, patch_size=2, hidden_size=32, layers=2, heads=2, intermediate_size=64,
                         steps=100, batch_size=32, learning_rate=3e-3, evaluations=4, checkpoint_every=30),
    # 36 patches of 4×4 (each 1.3×1.3 pixels of an 8×8 digit): cheap enough for a CPU, sharp enough for 97%+.
    "small": VisionPreset(image_size=24, patch_size=4, hidden_size=96, layers=4, heads=4, intermediate_size=192,
                          steps=1500, batch_size=64, learning_rate=1e-3, dropout=0.1),
    "base": VisionPreset(image_size=224, patch_size=16, hidden_size=768, layers=12, heads=12, intermediate_size=3072,
                         steps=10000, batch_size=256, learning_rate=3e-4, dropout=0.1, checkpoint_every=1000),
}


def preset(name: str) -> VisionPreset:
    if name not in PRESETS:
        raise BigModelError(f"unknown vision preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]
