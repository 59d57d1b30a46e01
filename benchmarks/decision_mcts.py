"""Decision family speed: batched MCTS against one leaf at a time, self-play, the exact solver.

    .venv/bin/python benchmarks/decision_mcts.py [--quick] [--json results.json]

- MCTS simulations/s on Connect Four with the policy-value network: 64 trees searching together
  (their leaves in one batch of 64) against the same search evaluating one leaf at a time, in the
  same run, for the tiny and small presets. Goal: >= 10x at batch 64 on CPU.
- Self-play games/minute of the training loop's self-play (tic-tac-toe and Connect Four), and
  Connect Four's with the games shared by 2 worker processes against 1 (`--workers`).
- The exact Connect Four solver's speed in positions (negamax nodes) per second.
- bfloat16 against float32 (where the CPU has bfloat16): the search's network at batch 1, 8 and
  64, a training step (batch 128, autocast), and Connect Four self-play with the `small` network,
  the same code with `network.BFLOAT16` off as the baseline.
- The evaluator's memory of positions it has evaluated against none: Connect Four self-play
  (`small`, 100 simulations) and an arena match, games/minute, seconds and the share of
  positions answered from memory.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import random
import time

import numpy as np
import torch

from bigmodel.families.decision import network
from bigmodel.families.decision.alphazero import (
    ReplayBuffer,
    default_settings,
    self_play,
    self_play_shard,
    torch_threads,
    train_network,
)
from bigmodel.families.decision.games import GAMES
from bigmodel.families.decision.mcts import AGENT_IN_FLIGHT, MCTSAgent, NetEvaluator, Node, SearchConfig, play_games, search
from bigmodel.families.decision.network import AlphaZeroNet, NetConfig, network_weights
from bigmodel.families.decision.solver import Solver
from bigmodel.families.decision.workers import GamePool, shard_sizes


def start_positions(game, count: int, plies: int, seed: int) -> list:
    rng = random.Random(seed)
    states = []
    while len(states) < count:
        state = game.initial_state()
        for _ in range(plies):
            if state.value is None:
                state = game.apply(state, rng.choice(game.legal_moves(state)))
        if state.value is None:
            states.append(state)
    return states


def mcts_rates(preset: str, trees: int, simulations: int) -> dict:
    game = GAMES["connect4"]
    torch.manual_seed(0)
    # No memory of positions (cache limit 0): the runs below share positions, and this measures the batching.
    evaluator = NetEvaluator(AlphaZeroNet(NetConfig.from_preset(game, preset)), game, cache_limit=0)
    positions = start_positions(game, trees, 4, seed=0)

    def rate(batched: bool, in_flight: int = 1, count: int = trees) -> float:
        roots = [Node(s) for s in positions[:count]]
        start = time.perf_counter()
        if batched:
            search(game, roots, evaluator, SearchConfig(simulations, in_flight=in_flight))
        else:
            for root in roots:
                search(game, [root], evaluator, SearchConfig(simulations))
        return count * simulations / (time.perf_counter() - start)

    rate(True, count=2)  # warm-up
    one_leaf = rate(False, count=max(2, trees // 8))
    batched = rate(True)
    virtual_loss = rate(True, in_flight=trees, count=1)
    return {
        "preset": preset,
        "simulations_per_tree": simulations,
        "one_leaf_at_a_time_sims_per_s": round(one_leaf),
        f"batched_{trees}_trees_sims_per_s": round(batched),
        "speedup": round(batched / one_leaf, 2),
        f"one_tree_{trees}_in_flight_sims_per_s": round(virtual_loss),
        "speedup_virtual_loss": round(virtual_loss / one_leaf, 2),
    }


def self_play_rate(name: str, games: int, cache_limit: int | None = None, **overrides) -> dict:
    game = GAMES[name]
    settings = default_settings(name, **overrides)
    torch.manual_seed(0)
    evaluator = NetEvaluator(AlphaZeroNet(NetConfig.from_preset(game, settings.preset)), game, cache_limit)
    start = time.perf_counter()
    samples = self_play(game, evaluator, settings, np.random.default_rng(0), games)
    seconds = time.perf_counter() - start
    return {
        "game": name,
        "games": games,
        "simulations": settings.simulations,
        "games_per_minute": round(games * 60 / seconds, 1),
        "positions": len(samples),
        "cache_hit_rate": round(evaluator.hits / evaluator.lookups, 3),
    }


def cache_rates(quick: bool) -> dict:
    """The evaluator's memory of positions against none (cache limit 0), same run: Connect Four
    self-play with `small` at its default 100 simulations, and an arena match (two agents, 8
    simulations in flight, a new tree every move, as in training's arena)."""
    game = GAMES["connect4"]
    settings = default_settings("connect4", preset="small")
    games = 8 if quick else 32
    results: dict = {"self_play_games_per_minute": {}, "arena_seconds": {}, "hit_rate": {}}
    for label, limit in (("no_cache", 0), ("cache", None)):
        play = self_play_rate("connect4", games, cache_limit=limit, preset="small")
        results["self_play_games_per_minute"][label] = play["games_per_minute"]
        results["hit_rate"][f"self_play_{label}"] = play["cache_hit_rate"]
        torch.manual_seed(1)
        nets = [AlphaZeroNet(NetConfig.from_preset(game, "small")) for _ in range(2)]
        evaluators = [NetEvaluator(net, game, limit) for net in nets]
        config = SearchConfig(settings.simulations, in_flight=AGENT_IN_FLIGHT)
        agents = tuple(MCTSAgent(game, e, config, settings.arena_temperature_moves) for e in evaluators)
        start = time.perf_counter()
        play_games(game, agents, games // 4, np.random.default_rng(0))
        results["arena_seconds"][label] = round(time.perf_counter() - start, 1)
        results["hit_rate"][f"arena_{label}"] = round(sum(e.hits for e in evaluators) / sum(e.lookups for e in evaluators), 3)
    plays, arenas = results["self_play_games_per_minute"], results["arena_seconds"]
    results["self_play_speedup"] = round(plays["cache"] / plays["no_cache"], 2)
    results["arena_speedup"] = round(arenas["no_cache"] / arenas["cache"], 2)
    return results


def worker_rates(name: str, games: int, workers: int, **overrides) -> dict:
    """Self-play games/minute with the games shared by `workers` processes against one, same games."""
    game = GAMES[name]
    torch.manual_seed(0)
    rates = {}
    for count in (1, workers):
        settings = default_settings(name, workers=count, **overrides)
        weights = network_weights(AlphaZeroNet(NetConfig.from_preset(game, settings.preset)))
        shards = [(settings, weights, seed, size) for seed, size in enumerate(shard_sizes(games, count))]
        with GamePool(count) as pool:
            pool.run("warm-up", self_play_shard, [(settings, weights, 0, 1)] * count, count)  # start the processes
            start = time.perf_counter()
            pool.run("self-play", self_play_shard, shards, games)
            rates[count] = games * 60 / (time.perf_counter() - start)
    return {
        "game": name,
        "games": games,
        "simulations": overrides.get("simulations"),
        "games_per_minute_1_worker": round(rates[1], 1),
        f"games_per_minute_{workers}_workers": round(rates[workers], 1),
        "speedup": round(rates[workers] / rates[1], 2),
    }


def solver_rate(positions: int, plies: int) -> dict:
    game = GAMES["connect4"]
    solver = Solver()
    states = start_positions(game, positions, plies, seed=1)
    start = time.perf_counter()
    for state in states:
        solver.best_moves(state)
    seconds = time.perf_counter() - start
    return {
        "positions": positions,
        "plies_played": plies,
        "nodes_per_second": round(solver.nodes / seconds),
        "seconds_per_position_best_moves": round(seconds / positions, 3),
    }


@contextlib.contextmanager
def bfloat16(enabled: bool):
    saved, network.BFLOAT16 = network.BFLOAT16, network.BFLOAT16 and enabled
    try:
        yield
    finally:
        network.BFLOAT16 = saved


def precision_rates(quick: bool) -> dict:
    """bfloat16 (where the CPU has it, and the batch gains) against float32, same run."""
    game = GAMES["connect4"]
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig.from_preset(game, "small")).eval()
    states = start_positions(game, 64, 6, seed=2)
    results: dict = {"cpu_has_bfloat16": network.BFLOAT16, "network_positions_per_s": {}}
    for batch in (1, 8, 64):
        rates = {}
        for label, enabled in (("float32", False), ("bfloat16", True)):
            with bfloat16(enabled):
                evaluator = NetEvaluator(net, game, cache_limit=0)  # the same batch again and again
            evaluator(states[:batch])
            start, calls = time.perf_counter(), 0
            while time.perf_counter() - start < (0.5 if quick else 2):
                evaluator(states[:batch])
                calls += 1
            rates[label] = round(calls * batch / (time.perf_counter() - start))
        results["network_positions_per_s"][batch] = {**rates, "speedup": round(rates["bfloat16"] / rates["float32"], 2)}
    buffer = ReplayBuffer(game, 1000)
    for state in states:
        buffer.add(game.canonical(state), np.full(game.action_size, 1 / game.action_size, np.float32), 0.0)
    settings = default_settings("connect4", train_steps=5 if quick else 20, batch_size=128)
    step_ms = {}
    for label, enabled in (("float32", False), ("bfloat16", True)):
        train_net = AlphaZeroNet(NetConfig.from_preset(game, "small"))
        optimizer = torch.optim.AdamW(train_net.parameters(), lr=1e-3)
        with bfloat16(enabled):
            train_network(train_net, optimizer, buffer, dataclasses.replace(settings, train_steps=1), np.random.default_rng(0))
            start = time.perf_counter()
            train_network(train_net, optimizer, buffer, settings, np.random.default_rng(0))
        step_ms[label] = round((time.perf_counter() - start) * 1000 / settings.train_steps, 1)
    results["train_step_ms_batch_128"] = {**step_ms, "speedup": round(step_ms["float32"] / step_ms["bfloat16"], 2)}
    games = {}
    for label, enabled in (("float32", False), ("bfloat16", True)):
        with bfloat16(enabled):
            games[label] = self_play_rate("connect4", 8 if quick else 32, preset="small", simulations=50)["games_per_minute"]
    results["self_play_small_games_per_minute"] = {**games, "speedup": round(games["bfloat16"] / games["float32"], 2)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer simulations and games")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    simulations = 16 if args.quick else 64
    results: dict = {"threads": 1}
    with torch_threads(1):
        results["mcts"] = [mcts_rates(preset, 64, simulations) for preset in ("tiny", "small")]
        results["self_play"] = [
            self_play_rate("tictactoe", 16 if args.quick else 64),
            self_play_rate("connect4", 8 if args.quick else 32, simulations=50),
        ]
        results["self_play_workers"] = worker_rates("connect4", 8 if args.quick else 64, 2, simulations=50)
        results["solver"] = solver_rate(5 if args.quick else 20, 16)
        results["precision"] = precision_rates(args.quick)
        results["evaluation_cache"] = cache_rates(args.quick)
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
