"""A tiny ViT trained once through the CLI, shared by the vision tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def vit_dir(tmp_path_factory, cli) -> Path:
    out = tmp_path_factory.mktemp("vision") / "vit-digits"
    cli("vision", "train", "--data", "digits", "--preset", "tiny", "--out", str(out), "--seed", "0")
    return out


@pytest.fixture(scope="session")
def digit_pngs(tmp_path_factory) -> list[tuple[Path, int]]:
    """Real test digits written as PNG files, with their labels."""
    from sklearn.datasets import load_digits

    folder = tmp_path_factory.mktemp("digit-pngs")
    bunch = load_digits()
    files = []
    for i in range(1700, 1720):
        path = folder / f"digit-{i}.png"
        Image.fromarray((bunch.images[i] / 16 * 255).astype(np.uint8)).resize((32, 32)).save(path)
        files.append((path, int(bunch.target[i])))
    return files
