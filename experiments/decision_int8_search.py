"""Would an int8 search network make Connect Four's generations faster on CPUs without bfloat16?

The search's network (`network.inference_network`: batch norms folded, channels-last) against an
int8 copy of it, quantised after training by torch's FX graph mode (`torch.ao.quantization`:
oneDNN kernels, weights per channel, activations per tensor calibrated on random-play positions;
the two heads stay float32):

- speed, positions/s on one thread at batches 1 to 64, for `tiny` and `small`. Run it under
  `ONEDNN_MAX_CPU_ISA=AVX2` to see what a CPU with AVX2 only (no VNNI, no bfloat16) would get:
  oneDNN then uses only AVX2 kernels, for float32 and int8 alike;
- fidelity, given a trained model directory: how often the int8 and the bfloat16 copies pick the
  float32 network's move, their policies' total-variation distance from it, and their values'
  mean absolute error, on positions from the model's own self-play;
- strength, with `--games N`: the same weights searching through int8 against float32.

Activations use 7 of their 8 bits where the CPU lacks VNNI, as torch advises, so that AVX2's
8-bit multiply-adds cannot saturate (`--reduce-range` forces it, to see that case on any CPU).

    ONEDNN_MAX_CPU_ISA=AVX2 .venv/bin/python experiments/decision_int8_search.py models/c4 --reduce-range --games 100

The README's decision section quotes the output.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from bigmodel.errors import BigModelError
from bigmodel.families.decision.evaluate import held_out_positions
from bigmodel.families.decision.games import Game, get_game
from bigmodel.families.decision.mcts import AGENT_IN_FLIGHT, MCTSAgent, NetEvaluator, SearchConfig, play_games
from bigmodel.families.decision.model import load_model
from bigmodel.families.decision.network import AlphaZeroNet, NetConfig, fold_batch_norms

BATCHES = (1, 2, 4, 8, 16, 32, 64)


def random_play_positions(game: Game, count: int, seed: int) -> list:
    """Every position of random games, until `count`: the int8 copy's calibration set."""
    rng = random.Random(seed)
    positions: list = []
    while len(positions) < count:
        state = game.initial_state()
        while state.value is None:
            positions.append(state)
            state = game.apply(state, rng.choice(game.legal_moves(state)))
    return positions[:count]


def int8_copy(net: AlphaZeroNet, game: Game, reduce_range: bool) -> torch.nn.Module:
    """The network quantised to int8 (heads kept float32), calibrated on 256 random-play positions."""
    from torch.ao.quantization import QConfig, QConfigMapping
    from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "onednn"
    qconfig = QConfig(
        activation=MinMaxObserver.with_args(dtype=torch.quint8, reduce_range=reduce_range),
        weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric),
    )
    mapping = QConfigMapping().set_global(qconfig).set_module_name("policy_head", None).set_module_name("value_head", None)
    calibration = torch.from_numpy(game.canonical_batch(random_play_positions(game, 256, seed=1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        prepared = prepare_fx(fold_batch_norms(net), mapping, example_inputs=(calibration[:1],))
        with torch.inference_mode():
            prepared(calibration)
        return convert_fx(prepared)


def positions_per_second(model: torch.nn.Module, planes: torch.Tensor, seconds: float) -> float:
    with torch.inference_mode():
        for _ in range(3):
            model(planes)
        start, calls = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            model(planes)
            calls += 1
        return calls * len(planes) / (time.perf_counter() - start)


def speed(preset: str, reduce_range: bool, seconds: float) -> dict:
    game = get_game("connect4")
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig.from_preset(game, preset)).eval()
    float32 = fold_batch_norms(net).to(memory_format=torch.channels_last)
    int8 = int8_copy(net, game, reduce_range)
    states = random_play_positions(game, max(BATCHES), seed=2)
    planes = torch.from_numpy(game.canonical_batch(states)).contiguous(memory_format=torch.channels_last)
    rows = {}
    for batch in BATCHES:
        rates = {"float32": positions_per_second(float32, planes[:batch], seconds),
                 "int8": positions_per_second(int8, planes[:batch], seconds)}
        rows[batch] = {k: round(v) for k, v in rates.items()} | {"speedup": round(rates["int8"] / rates["float32"], 2)}
    return rows


def self_play_positions(net: AlphaZeroNet, game: Game, count: int) -> list:
    """Up to `count` distinct positions of 32 games the network plays against itself."""
    explorer = MCTSAgent(game, NetEvaluator(net, game), SearchConfig(100, noise=0.25), temperature_moves=14)
    return held_out_positions(game, explorer, 32, 0, count, np.random.default_rng(5))


def fidelity(net: AlphaZeroNet, game: Game, states: list, reduce_range: bool) -> dict:
    planes = torch.from_numpy(game.canonical_batch(states))
    illegal = ~torch.from_numpy(np.stack([game.legal_mask(s) for s in states]))
    bfloat16 = copy.deepcopy(fold_batch_norms(net)).to(torch.bfloat16)
    copies = {"int8": int8_copy(net, game, reduce_range), "bfloat16": lambda p: bfloat16(p.to(torch.bfloat16))}
    with torch.inference_mode():
        logits, values = net(planes)
        policy = torch.softmax(logits.masked_fill(illegal, -torch.inf), -1)
        result: dict = {"positions": len(states)}
        for name, model in copies.items():
            other_logits, other_values = (t.float() for t in model(planes))
            other = torch.softmax(other_logits.masked_fill(illegal, -torch.inf), -1)
            result[name] = {
                "same_move": round((policy.argmax(-1) == other.argmax(-1)).float().mean().item(), 4),
                "policy_total_variation": round(0.5 * (policy - other).abs().sum(-1).mean().item(), 4),
                "value_mean_abs_error": round((values - other_values).abs().mean().item(), 4),
            }
    return result


def strength(net: AlphaZeroNet, game: Game, reduce_range: bool, games: int) -> dict:
    """Games of the same weights searching through int8 against float32 (100 simulations, the
    arena's search), colours alternating."""
    int8 = int8_copy(net, game, reduce_range)
    quantised = NetEvaluator(net, game)
    quantised.net = int8
    float32 = NetEvaluator(net, game)
    config = SearchConfig(100, in_flight=AGENT_IN_FLIGHT)
    agents = (MCTSAgent(game, quantised, config, 4), MCTSAgent(game, float32, config, 4))
    results = play_games(game, agents, games, np.random.default_rng(0))
    wins, draws = results.count(1.0), results.count(0.0)
    return {"games": games, "int8_wins": wins, "draws": draws, "int8_losses": results.count(-1.0),
            "int8_score": round((wins + draws / 2) / games, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", type=Path, help="a trained Connect Four model directory (fidelity, strength)")
    parser.add_argument("--reduce-range", action="store_true", help="7-bit activations even where the CPU has VNNI")
    parser.add_argument("--positions", type=int, default=800, help="self-play positions for the fidelity check")
    parser.add_argument("--games", type=int, default=0, help="int8 against float32 games (0: none)")
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per batch size")
    args = parser.parse_args()
    reduce_range = args.reduce_range or not torch.cpu._is_vnni_supported()
    torch.set_num_threads(1)
    try:  # before the timings, so that a wrong path costs nothing
        game, net, _ = load_model(args.model, "connect4") if args.model is not None else (None, None, None)
    except BigModelError as err:
        sys.exit(f"error: {err}")
    results: dict = {"reduce_range": reduce_range,
                     "speed": {preset: speed(preset, reduce_range, args.seconds) for preset in ("tiny", "small")}}
    if net is not None:
        results["fidelity"] = fidelity(net.eval(), game, self_play_positions(net, game, args.positions), reduce_range)
        if args.games:
            results["strength"] = strength(net, game, reduce_range, args.games)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
