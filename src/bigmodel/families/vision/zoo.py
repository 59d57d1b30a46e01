"""The vision family's zoo member: a ViT trained on the bundled handwritten digits."""

from __future__ import annotations

from pathlib import Path

from bigmodel.zoo import ZooContext, ZooMember


def build_vit_digits(out: Path, ctx: ZooContext) -> None:
    from bigmodel.families.vision.train import train_classifier

    train_classifier("digits", out, preset="tiny" if ctx.quick else "small", seed=ctx.seed)


MEMBERS = [
    ZooMember(
        name="vit-digits",
        family="vision",
        builder="bigmodel.families.vision.zoo:build_vit_digits",
        description="ViT image classifier on scikit-learn's handwritten digits",
    )
]
