"""experiments/vision_colour_shortcut.py: a vision tower learning each slot's attributes from the
shapes training scenes, scored on seen pairs and on the held-out pairs it never saw."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "experiments" / "vision_colour_shortcut.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, check=False)


def test_it_scores_the_held_out_pairs_objects_apart_from_the_seen_ones() -> None:
    from bigmodel.data import images

    result = run("--preset", "tiny", "--steps", "3", "--train-scenes", "60", "--test-scenes", "20",
                 "--grey-share", "0.5", "--learn", "all", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads(result.stdout)
    split = images.shapes(16, train=60, test=20, seed=0, grey_share=0.5)
    held_pairs = [o for s in split.held_out.scenes for o in s.objects if (o.colour, o.shape) in images.HELD_OUT]
    assert row["held_out_pair_objects"] == len(held_pairs) > 0
    assert row["test_objects"] == sum(len(s.objects) for s in split.test.scenes)
    assert all(0 <= row[k] <= 1 for k in ("test_shape_accuracy", "held_out_pair_shape_accuracy", "held_out_colour_accuracy"))
    assert row["grey_share"] == 0.5 and row["learn"] == "all"


def test_a_grey_share_out_of_range_is_refused_plainly() -> None:
    result = run("--grey-share", "1.5")
    assert result.returncode != 0
    assert "--grey-share must be between 0 and 1, not 1.5" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_preset_is_refused_with_the_known_ones() -> None:
    result = run("--preset", "huge")
    assert result.returncode == 2
    assert "invalid choice: 'huge' (choose from 'tiny', 'small', 'base')" in result.stderr
    assert "Traceback" not in result.stderr
