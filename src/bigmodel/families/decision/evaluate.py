"""Strength measured against references that do not learn.

- tic-tac-toe: a perfect minimax player; the agent's games against every possible reply are
  walked exhaustively, so "never loses" is proven for the deterministic agent, not sampled.
- Connect Four: the exact solver labels held-out self-play positions (move accuracy), and pure
  MCTS with random rollouts is an opponent of fixed strength (win rate).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bigmodel.eval.stats import wilson_interval
from bigmodel.families.decision.games import BitState, Game, State, get_game
from bigmodel.families.decision.mcts import (
    AGENT_IN_FLIGHT,
    Agent,
    MCTSAgent,
    NetEvaluator,
    RolloutEvaluator,
    SearchConfig,
    play_games,
)
from bigmodel.families.decision.network import (
    AlphaZeroNet,
    NetConfig,
    network_from_weights,
    network_weights,
)
from bigmodel.families.decision.solver import Solver
from bigmodel.families.decision.workers import GamePool, shard_sizes
from bigmodel.ui import progress_bar


class Minimax:
    """Exact values of every position of a small game (tic-tac-toe), memoised."""

    def __init__(self, game: Game) -> None:
        self.game = game
        self.value = functools.lru_cache(maxsize=None)(self._value)

    def _value(self, state: State) -> float:
        """The value for the player to move under perfect play."""
        if state.value is not None:
            return state.value
        return max(-self.value(self.game.apply(state, a)) for a in self.game.legal_moves(state))

    def optimal_moves(self, state: State) -> list[int]:
        values = {a: -self.value(self.game.apply(state, a)) for a in self.game.legal_moves(state)}
        best = max(values.values())
        return [a for a, v in values.items() if v == best]


class MinimaxAgent:
    """A perfect player; among equally good moves it picks at random."""

    def __init__(self, game: Game) -> None:
        self.minimax = Minimax(game)

    def choose(self, states: Sequence[State], rng: np.random.Generator) -> list[int]:
        return [int(rng.choice(self.minimax.optimal_moves(s))) for s in states]


def exhaustive_results(game: Game, agent: Agent, replies: str = "all") -> dict[str, dict[str, int]]:
    """Every game a deterministic agent can play, as first and as second player, against every
    reply of the opponent ("all" legal moves, or only minimax-"optimal" ones). Counts the games
    that end in a win, draw or loss for the agent. Positions are searched level by level, all the
    agent's positions of one level in one batched call."""
    minimax = Minimax(game)
    rng = np.random.default_rng(0)  # unused by a deterministic agent; the protocol wants one
    out = {}
    for role in ("first", "second"):
        counts = {"games": 0, "wins": 0, "draws": 0, "losses": 0}
        start = game.initial_state()
        to_reply = [start] if role == "second" else []
        to_move = {game.key(start): start} if role == "first" else {}
        while to_move or to_reply:
            agent_states = list(to_move.values())
            for state, move in zip(agent_states, agent.choose(agent_states, rng) if agent_states else []):
                to_reply.append(game.apply(state, move))
            to_move = {}
            for state in to_reply:
                if state.value is not None:  # the agent's move ended the game
                    counts["games"] += 1
                    counts["wins" if state.value < 0 else "draws"] += 1
                    continue
                moves = game.legal_moves(state) if replies == "all" else minimax.optimal_moves(state)
                for move in moves:
                    after = game.apply(state, move)
                    if after.value is not None:
                        counts["games"] += 1
                        counts["losses" if after.value < 0 else "draws"] += 1
                    else:
                        to_move[game.key(after)] = after
            to_reply = []
        out[role] = counts
    return out


def held_out_positions(
    game: Game, agent: MCTSAgent, games: int, min_moves: int, count: int, rng: np.random.Generator
) -> list[State]:
    """Up to `count` distinct undecided positions, at least `min_moves` plies in, drawn from
    fresh self-play games (so never trained on)."""
    states = [game.initial_state() for _ in range(games)]
    seen: dict[Any, State] = {}
    while True:
        active = [i for i, s in enumerate(states) if s.value is None]
        if not active:
            break
        for i, move in zip(active, agent.choose([states[i] for i in active], rng)):
            if states[i].moves >= min_moves:
                seen.setdefault(game.key(states[i]), states[i])
            states[i] = game.apply(states[i], move)
    found = list(seen.values())
    keep = rng.permutation(len(found))[:count]
    return [found[i] for i in sorted(keep)]


def solver_accuracy(game: Game, net: AlphaZeroNet, positions: Sequence[BitState]) -> dict[str, Any]:
    """How often the network's policy picks a move the solver proves best (win > draw > loss),
    over positions where that choice matters (some legal move is worse than another)."""
    import torch

    solver = Solver()
    informative = correct = 0
    with progress_bar("solver labels", total=len(positions)) as advance:
        for state in positions:
            best = solver.best_moves(state, weak=True)
            advance(1)
            if len(best) == len(game.legal_moves(state)):
                continue
            with torch.inference_mode():
                logits, _ = net(torch.from_numpy(game.canonical(state)[None]))
            logits = logits[0].numpy().copy()
            logits[~game.legal_mask(state)] = -np.inf
            informative += 1
            correct += int(int(logits.argmax()) in best)
    return {
        "positions": len(positions),
        "informative_positions": informative,
        "solver_move_accuracy": correct / informative if informative else None,
        "solver_move_accuracy_95": list(wilson_interval(correct, informative)) if informative else None,
        "solver_nodes": solver.nodes,
    }


def rollout_match_shard(
    net_config: NetConfig, weights: dict[str, np.ndarray], test: StrengthTest, seed: int, games: int,
    advance: Callable[..., None],
) -> list[float]:
    """One worker's games of the agent against pure MCTS with random rollouts (see `GamePool`):
    the agent's results, 1 win, 0 draw, -1 loss, colours alternating."""
    game = get_game(net_config.game)
    agent = MCTSAgent(game, NetEvaluator(network_from_weights(net_config, weights), game), test.agent_search)
    reference = MCTSAgent(game, RolloutEvaluator(game, seed), test.reference_search)
    return play_games(game, (agent, reference), games, np.random.default_rng(seed), on_finished=advance)


@dataclasses.dataclass(frozen=True)
class StrengthTest:
    """How a trained agent is measured: its search, the opponents', and the sample sizes."""

    simulations: int | None = None  # the agent's MCTS simulations per move; None: as many as the opponent's
    rollout_simulations: int = 1000  # pure MCTS with random rollouts, the fixed-strength opponent
    rollout_games: int = 10  # against it, both colours equally often
    positions: int = 50  # held-out self-play positions labelled by the exact solver (Connect Four)
    position_games: int = 32  # fresh self-play games they are drawn from
    min_moves: int = 14  # plies into a game before its positions count (the opening is book-like)
    explorer_simulations: int = 100  # the self-play search that draws the positions
    seed: int = 0

    @property
    def agent_simulations(self) -> int:
        return self.rollout_simulations if self.simulations is None else self.simulations

    @property
    def agent_search(self) -> SearchConfig:
        return SearchConfig(self.agent_simulations, in_flight=AGENT_IN_FLIGHT)

    @property
    def reference_search(self) -> SearchConfig:
        return SearchConfig(self.rollout_simulations, c_puct=2.0, prove=False)


def strength(game: Game, net: AlphaZeroNet, test: StrengthTest, workers: int = 1) -> dict[str, Any]:
    """The agent (network + MCTS) against references that do not learn: for tic-tac-toe, every game
    against a perfect minimax player and against any reply (exhaustive); for Connect Four, the
    network's solver-optimal move rate on held-out positions and wins against pure MCTS (its games
    shared by `workers` processes); for other games, wins against pure MCTS."""
    evaluator = NetEvaluator(net, game)
    agent = MCTSAgent(game, evaluator, test.agent_search)
    result: dict[str, Any] = {"game": game.name, "simulations": test.agent_simulations}
    if game.name == "tictactoe":
        exhaustive = {replies: exhaustive_results(game, agent, replies) for replies in ("optimal", "all")}
        result.update(
            exhaustive=exhaustive,
            losses_vs_minimax=sum(exhaustive["optimal"][role]["losses"] for role in ("first", "second")),
            losses_vs_any_reply=sum(exhaustive["all"][role]["losses"] for role in ("first", "second")),
        )
        return result
    rng = np.random.default_rng(test.seed + 1)
    if game.name == "connect4":
        explorer = MCTSAgent(game, evaluator, SearchConfig(test.explorer_simulations, noise=0.25),
                             temperature_moves=test.min_moves)
        positions = held_out_positions(game, explorer, test.position_games, test.min_moves, test.positions, rng)
        start = time.perf_counter()
        accuracy = solver_accuracy(game, net, positions)
        result.update(accuracy, solver_nodes_per_second=round(accuracy["solver_nodes"] / max(time.perf_counter() - start, 1e-9)))
    weights = network_weights(net)
    sizes = shard_sizes(test.rollout_games, workers)
    shards = [(net.config, weights, test, int(seed), size)
              for seed, size in zip(rng.integers(0, 2**63, len(sizes)), sizes)]
    with GamePool(workers) as pool:
        parts = pool.run(f"games against {test.rollout_simulations}-simulation pure MCTS",
                         rollout_match_shard, shards, test.rollout_games)
    results = [r for part in parts for r in part]
    result["vs_pure_mcts"] = {
        "rollout_simulations": test.rollout_simulations,
        **_tally(results),
        "win_rate": results.count(1.0) / len(results),
        "win_rate_95": list(wilson_interval(results.count(1.0), len(results))),
        # Each worker's agent starts its even-numbered games (`play_games`).
        "as_first": _tally([r for part in parts for r in part[0::2]]),
        "as_second": _tally([r for part in parts for r in part[1::2]]),
    }
    return result


def _tally(results: Sequence[float]) -> dict[str, int]:
    return {"games": len(results), "wins": results.count(1.0), "draws": results.count(0.0), "losses": results.count(-1.0)}
