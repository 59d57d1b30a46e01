"""`bigmodel serve` refuses bad arguments with one clear line and exit code 2, before binding."""

from __future__ import annotations

import subprocess
import sys


def serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bigmodel.cli", "serve", *args, "--port", "0"], capture_output=True,
                          text=True, timeout=120)


def test_missing_model_directory(tmp_path):
    result = serve(str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'}: no such model directory"


def test_nothing_to_serve(tmp_path):
    result = serve("--zoo", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no models to serve: give model directories or --zoo DIR"


def test_duplicate_names(tiny_zoo, tmp_path):
    result = serve(str(tiny_zoo / "general"), str(tiny_zoo / "general"))
    assert result.returncode == 2
    assert "two models are named 'general'" in result.stderr and "Traceback" not in result.stderr
