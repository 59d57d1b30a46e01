"""experiments/decision_int8_search.py: the int8 copy of the search network computes what the
float32 network does, within quantisation's error, and is timed against it batch by batch."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import torch

from bigmodel.families.decision.alphazero import torch_threads
from bigmodel.families.decision.games import get_game
from bigmodel.families.decision.network import AlphaZeroNet, NetConfig

SCRIPT = Path(__file__).parents[2] / "experiments" / "decision_int8_search.py"


def load_script():
    spec = importlib.util.spec_from_file_location("decision_int8_search", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_int8_copy_keeps_the_float32_networks_moves_and_values():
    script = load_script()
    game = get_game("connect4")
    torch.manual_seed(3)
    net = AlphaZeroNet(NetConfig.from_preset(game, "tiny")).eval()
    states = script.random_play_positions(game, 60, seed=4)
    result = script.fidelity(net, game, states, reduce_range=True)
    assert result["positions"] == 60
    for name in ("int8", "bfloat16"):
        assert result[name]["same_move"] >= 0.85, result
        assert result[name]["policy_total_variation"] < 0.05, result
        assert result[name]["value_mean_abs_error"] < 0.05, result
    # quantised to 8 bits, int8 is further from float32 than bfloat16's 8-bit mantissa
    assert result["int8"]["value_mean_abs_error"] > result["bfloat16"]["value_mean_abs_error"]

    with torch_threads(1):  # the search's small batches, as the script runs them
        games = script.strength(net, game, reduce_range=True, games=2)
    assert games["int8_wins"] + games["draws"] + games["int8_losses"] == 2


def test_the_speed_table_times_both_copies_at_every_batch():
    run = subprocess.run([sys.executable, str(SCRIPT), "--seconds", "0.01"], capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    speed = json.loads(run.stdout)["speed"]
    assert set(speed) == {"tiny", "small"}
    for rows in speed.values():
        assert [int(b) for b in rows] == [1, 2, 4, 8, 16, 32, 64]
        for row in rows.values():
            assert row["float32"] > 0 and row["int8"] > 0
            assert abs(row["speedup"] - row["int8"] / row["float32"]) < 0.02


def test_a_wrong_model_path_is_one_line_before_any_timing(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "nowhere")], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.strip() == f"error: {tmp_path / 'nowhere'}: no such model directory"
