"""The multimodal family's zoo members: a CLIP dual encoder trained on generated shapes scenes,
and (when asked for) a LLaVA-style captioner joining its vision tower to the zoo's general LLM."""

from __future__ import annotations

from pathlib import Path

from bigmodel.zoo import ZooContext, ZooMember

# The zoo's multimodal budget is 6 minutes on 2 cores: 1200 of the small preset's 2000 steps
# (both measured in the README).
ZOO_STEPS = 1200
# The captioner does not fit in that budget beside CLIP, so it is built only when asked for.
CAPTIONER_STEPS = 600


def build_clip_shapes(out: Path, ctx: ZooContext) -> None:
    from bigmodel.families.multimodal.clip import train_clip

    if ctx.quick:
        train_clip("shapes", out, preset="tiny", seed=ctx.seed)
    else:
        train_clip("shapes", out, preset="small", steps=ZOO_STEPS, seed=ctx.seed)


def build_captioner_shapes(out: Path, ctx: ZooContext) -> None:
    from bigmodel.families.multimodal.captioner import train_captioner

    train_captioner("shapes", ctx.member_dir("general-llm"), out, preset="tiny" if ctx.quick else "small",
                    steps=None if ctx.quick else CAPTIONER_STEPS, seed=ctx.seed,
                    vision_encoder=ctx.member_dir("clip-shapes"))


MEMBERS = [
    ZooMember(
        name="clip-shapes",
        family="multimodal",
        builder="bigmodel.families.multimodal.zoo:build_clip_shapes",
        description="CLIP image–text dual encoder on generated shapes scenes (retrieval, held-out compositions)",
    ),
    ZooMember(
        name="captioner-shapes",
        family="multimodal",
        builder="bigmodel.families.multimodal.zoo:build_captioner_shapes",
        needs=("general-llm", "clip-shapes"),
        description="LLaVA-style captioner: clip-shapes' vision tower joined to general-llm, captions scenes",
        default=False,
    ),
]
