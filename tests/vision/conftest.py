"""A tiny ViT trained once through the CLI, shared by the vision tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
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
def vit_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vision") / "vit-digits"
    run_cli("vision", "train", "--data", "digits", "--preset", "tiny", "--out", str(out), "--seed", "0")
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
