"""A tiny CLIP dual encoder trained once through the CLI, shared by the multimodal tests."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory, cli) -> Path:
    out = tmp_path_factory.mktemp("multimodal") / "clip-shapes"
    cli("multimodal", "train-clip", "--data", "shapes", "--preset", "tiny", "--steps", "12", "--out", str(out))
    return out


@pytest.fixture(scope="session")
def scene_folder(tmp_path_factory) -> tuple[Path, list[str]]:
    """Five rendered scenes as PNG files and their canonical captions, in file order."""
    from bigmodel.data.images import random_scene, render_scene

    folder = tmp_path_factory.mktemp("scenes")
    rng = random.Random(5)
    captions = []
    for i in range(5):
        scene = random_scene(rng)
        Image.fromarray(render_scene(scene, 32, rng)).save(folder / f"scene-{i}.png")
        captions.append(scene.captions()[0])
    return folder, captions
