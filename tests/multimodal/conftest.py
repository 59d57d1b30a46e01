"""A tiny CLIP dual encoder trained once through the CLI, shared by the multimodal tests."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "bigmodel.cli", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"bigmodel {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="session")
def cli():
    return run_cli


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("multimodal") / "clip-shapes"
    run_cli("multimodal", "train-clip", "--data", "shapes", "--preset", "tiny", "--steps", "12", "--out", str(out))
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
