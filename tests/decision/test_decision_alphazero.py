"""The AlphaZero loop end to end: strength against perfect play, the model directory, resume."""

import json
import math
import multiprocessing

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bigmodel import checkpoint
from bigmodel.families.decision.alphazero import ReplayBuffer, Settings, resume, sampling_window, torch_threads, train
from bigmodel.families.decision.evaluate import exhaustive_results
from bigmodel.families.decision.games import get_game
from bigmodel.families.decision.mcts import MCTSAgent, NetEvaluator, SearchConfig
from bigmodel.families.decision.model import load_model
from bigmodel.families.decision.workers import GamePool, shard_sizes
from bigmodel.train.metrics import read_metrics


def test_trained_agent_never_loses_to_perfect_play(tictactoe_model):
    """Exhaustive: every reply a perfect minimax player may choose, the agent first and second.
    The test's brief training is compensated by a deeper search (800 simulations per move, as the zoo measures);
    the zoo checks its 2-minute run the same way (and against every legal reply)."""
    game, net, _ = load_model(tictactoe_model)
    agent = MCTSAgent(game, NetEvaluator(net, game), SearchConfig(800, in_flight=8))
    with torch_threads(1):
        results = exhaustive_results(game, agent, replies="optimal")
    assert results["first"]["losses"] == 0 and results["second"]["losses"] == 0, results
    assert results["first"]["games"] > 0 and results["second"]["games"] > 0


def test_model_directory_card_metrics_and_plot(tictactoe_model):
    card = checkpoint.read_card(tictactoe_model)
    assert card.family == "decision" and card.task == "game-playing"
    assert card.input_modalities == ["game-state"] and card.output_modalities == ["action"]
    assert card.extra["game"] == "tictactoe" and card.extra["generation"] == 6
    assert {"simulations", "elo", "best_generation"} <= set(card.extra)
    config = checkpoint.read_config(tictactoe_model)
    assert config["architectures"] == ["AlphaZeroNet"] and config["game"] == "tictactoe"
    assert card.parameters == sum(t.numel() for n, t in load_file(tictactoe_model / "model.safetensors").items() if "num_batches" not in n and "running_" not in n)
    rows = read_metrics(tictactoe_model / "metrics.jsonl")
    assert [r["generation"] for r in rows] == [1, 2, 3, 4, 5, 6] and all("elo" in r for r in rows)
    phases = [[r["self_play_seconds"], r["train_seconds"], r["arena_seconds"]] for r in rows]
    assert all(min(p) > 0 and sum(p) <= r["seconds"] + 0.02 for p, r in zip(phases, rows))
    assert (tictactoe_model / "elo.png").stat().st_size > 1000
    assert checkpoint.is_complete(tictactoe_model)


def small_settings(**overrides) -> Settings:
    values = dict(
        game="tictactoe", generations=2, games_per_generation=8, simulations=8, train_steps=5, batch_size=16,
        buffer_size=300, arena_games=2, seed=3,
    )
    return Settings(**{**values, **overrides})


@pytest.mark.parametrize("workers", [1, 2])
def test_resume_continues_exactly_as_an_uninterrupted_run(tmp_path, workers):
    """With two worker processes too: each shard of games has its own seed, so the games do not
    depend on which process finishes first."""
    stopped, straight = tmp_path / "stopped", tmp_path / "straight"
    train(small_settings(generations=2, workers=workers), stopped)
    resume(stopped, generations=3)
    train(small_settings(generations=3, workers=workers), straight)
    for name in ("model.safetensors", "training-state/model.safetensors", "training-state/optimizer.safetensors", "training-state/extra.safetensors"):
        a, b = load_file(stopped / name), load_file(straight / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    drop = lambda rows: [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in rows]
    assert drop(read_metrics(stopped / "metrics.jsonl")) == drop(read_metrics(straight / "metrics.jsonl"))
    state = json.loads((stopped / "training-state" / "state.json").read_text())
    assert state["extra"]["generation"] == 3 and state["extra"]["rng"] == json.loads((straight / "training-state" / "state.json").read_text())["extra"]["rng"]


def test_sampling_window_grows_slower_than_the_positions_played():
    assert [sampling_window(n, 0) for n in (1, 500, 10**6)] == [1, 500, 10**6]
    assert sampling_window(20_000, 20_000) == 20_000 and sampling_window(7, 20_000) == 7
    windows = [sampling_window(n, 20_000) for n in (40_000, 100_000, 400_000)]
    assert windows == sorted(windows) and 20_000 < windows[0] < 40_000
    assert windows[1] / 100_000 > windows[2] / 400_000  # a shrinking share of what was played
    assert abs(windows[1] - 20_000 * (1 + 0.4 * (5**0.75 - 1) / 0.75)) <= 1


def test_replay_buffer_samples_only_the_most_recent_window():
    rules = get_game("connect4")
    buffer = ReplayBuffer(rules, capacity=10)
    planes = rules.canonical(rules.initial_state())
    for i in range(15):  # wraps around: slots 0-4 hold positions 10-14
        buffer.add(planes, np.full(rules.action_size, 1 / rules.action_size, np.float32), float(i))
    _, _, values = buffer.sample(np.random.default_rng(0), 400, window=4)
    assert set(values.tolist()) == {11.0, 12.0, 13.0, 14.0}
    _, _, values = buffer.sample(np.random.default_rng(0), 400)
    assert set(values.tolist()) == {float(i) for i in range(5, 15)}


def test_learning_rate_decays_by_a_cosine_over_the_generations(tmp_path):
    run = train(small_settings(generations=3, learning_rate_end=2e-4), tmp_path / "decay")
    rates = [row["learning_rate"] for row in read_metrics(tmp_path / "decay" / "metrics.jsonl")]
    expected = [2e-4 + 1.8e-3 * (1 + math.cos(math.pi * g / 3)) / 2 for g in range(3)]
    assert rates == pytest.approx(expected) and rates[0] == 2e-3
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(expected[-1])
    constant = train(small_settings(generations=2), tmp_path / "constant")
    assert [row["learning_rate"] for row in constant.history] == [2e-3, 2e-3]


def test_gate_zero_accepts_every_candidate_and_still_measures_elo(tmp_path):
    run = train(small_settings(generations=3, gate=0.0), tmp_path / "ungated")
    assert [row["accepted"] for row in run.history] == [True, True, True]
    assert [row["best_generation"] for row in run.history] == [1, 2, 3]
    assert all(torch.equal(v, run.candidate.state_dict()[k]) for k, v in run.best.state_dict().items())
    assert len(run.elo) == 4 and all(isinstance(row["arena_score"], float) for row in run.history)


def test_games_are_split_into_even_shards():
    """Each shard alternates who starts, so even shards give both sides the first move equally."""
    assert shard_sizes(64, 2) == [32, 32]
    assert shard_sizes(20, 3) == [8, 6, 6]
    assert shard_sizes(7, 2) == [4, 3]
    assert shard_sizes(2, 4) == [2]
    assert shard_sizes(1, 2) == [1]
    assert shard_sizes(10, 1) == [10]


def test_a_failing_worker_raises_its_error_in_the_parent():
    """Weights of a tic-tac-toe network cannot play Connect Four: the worker's error reaches the
    caller as itself, and leaving the pool ends the workers."""
    from bigmodel.families.decision.alphazero import default_settings, self_play_shard
    from bigmodel.families.decision.games import GAMES
    from bigmodel.families.decision.network import AlphaZeroNet, NetConfig, network_weights

    wrong = network_weights(AlphaZeroNet(NetConfig.from_preset(GAMES["tictactoe"], "tiny")))
    settings = default_settings("connect4", simulations=2)
    with pytest.raises(RuntimeError, match="size mismatch"):
        with GamePool(2) as pool:
            pool.run("self-play", self_play_shard, [(settings, wrong, 0, 2), (settings, wrong, 1, 2)], 4)
    assert multiprocessing.active_children() == []


def test_value_targets_mix_the_game_result_with_the_search_value():
    """The same games (same seed) with search-value-share 0, 1 and 0.5: results only, the
    search's values only, and their average."""
    import numpy as np

    from bigmodel.families.decision.alphazero import default_settings, self_play
    from bigmodel.families.decision.games import GAMES
    from bigmodel.families.decision.network import AlphaZeroNet, NetConfig

    game = GAMES["tictactoe"]
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig.from_preset(game, "tiny"))

    def targets(share):
        samples = self_play(game, NetEvaluator(net, game), default_settings("tictactoe", simulations=16, search_value_share=share),
                            np.random.default_rng(0), games=4)
        return np.array([value for _, _, value in samples])

    results, searched, mixed = targets(0.0), targets(1.0), targets(0.5)
    assert set(results) <= {-1.0, 0.0, 1.0}
    assert np.abs(searched).max() <= 1.0 and not set(searched) <= {-1.0, 0.0, 1.0}
    assert np.allclose(mixed, (results + searched) / 2)


def test_a_search_value_share_or_gate_above_one_is_refused():
    from bigmodel.errors import BigModelError
    from bigmodel.families.decision.alphazero import default_settings

    with pytest.raises(BigModelError, match="search-value-share is 1.5; it must be between 0 and 1"):
        default_settings("connect4", search_value_share=1.5)
    with pytest.raises(BigModelError, match="gate is 1.2; it must be between 0 and 1"):
        default_settings("connect4", gate=1.2)
