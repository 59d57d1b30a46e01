"""PUCT Monte Carlo tree search with batched leaf evaluation.

Many trees (one per game being played) search together: each round every tree descends to
`in_flight` leaves, and all those leaves go through the evaluator in one batch. When several
simulations of one tree are in flight at once, each edge they pass takes a virtual loss (a visit
that counts as a loss until the real value arrives), so they spread over different leaves.

Values are always from the point of view of the player to move at the node: an edge's value sum
is what the player choosing that edge has gained from it.

The search also proves what it can (MCTS-Solver, Winands et al. 2008): a finished game is proven,
a position with a move to a proven loss for the opponent is a proven win, and one whose every
move leads to a proven win for the opponent is a proven loss (all proven, best a draw: a proven
draw). A proven position is not expanded again; its exact value is backed up instead, a proven
losing move is never chosen while another is left, and a proven winning move is always played.
Pure MCTS, the fixed-strength reference the agents are measured against, searches without proofs
(`SearchConfig.prove`), as classic MCTS does.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Hashable, Sequence
from typing import Protocol

import numpy as np
import torch

from bigmodel.families.decision.games import Game, State
from bigmodel.families.decision.network import AlphaZeroNet, inference_network

VIRTUAL_LOSS = 1.0
# Simulations of one tree in flight (one batch) when a trained agent plays or analyses a position.
AGENT_IN_FLIGHT = 8
# Positions an evaluator remembers (about 65 MB for Connect Four, 300 MB for Gomoku 15×15); more
# than a worker's share of a generation's self-play meets.
CACHE_LIMIT = 200_000


class Evaluator(Protocol):
    def __call__(self, states: Sequence[State]) -> tuple[np.ndarray, np.ndarray]:
        """(priors (B, actions), values (B,)) for the player to move in each state."""


class NetEvaluator:
    """Evaluates positions with the policy-value network, a whole batch in one forward pass;
    batches large enough to gain go through a bfloat16 copy of the network, made with the
    evaluator, where the CPU has bfloat16 (`network.inference_network`).

    Positions evaluated before are looked up instead of run again: a search reaches one position
    by several move orders, each move's search meets the tree of the one before, and a
    generation's games share their openings. The evaluator runs a copy of the network made when
    it was created, so a position's evaluation never changes and a lookup is exact."""

    def __init__(self, net: AlphaZeroNet, game: Game, cache_limit: int | None = None) -> None:
        self.net = inference_network(net)
        self.game = game
        self.cache: dict[Hashable, tuple[np.ndarray, float]] = {}
        self.cache_limit = CACHE_LIMIT if cache_limit is None else cache_limit  # 0: remember nothing
        self.batches = 0  # forward passes run
        self.lookups = self.hits = 0  # positions asked for, and of those found in the cache

    def __call__(self, states: Sequence[State]) -> tuple[np.ndarray, np.ndarray]:
        keys = [self.game.key(state) for state in states]
        found: dict[Hashable, tuple[np.ndarray, float]] = {}
        missing: dict[Hashable, State] = {}  # each new position once, however often the batch holds it
        for key, state in zip(keys, states):
            if key not in found and key not in missing:
                entry = self.cache.get(key)
                if entry is None:
                    missing[key] = state
                else:
                    found[key] = entry
        self.lookups += len(keys)
        self.hits += len(keys) - len(missing)
        if missing:
            planes = torch.from_numpy(self.game.canonical_batch(list(missing.values())))
            with torch.inference_mode():
                logits, values = self.net(planes)
            self.batches += 1
            new = dict(zip(missing, zip(torch.softmax(logits, dim=-1).numpy(), values.tolist())))
            found.update(new)
            if len(self.cache) + len(new) > self.cache_limit:
                self.cache.clear()  # starting over is cheap next to tracking which entries are old
            if len(new) <= self.cache_limit:
                self.cache.update(new)
        rows = [found[key] for key in keys]
        return np.stack([priors for priors, _ in rows]), np.array([value for _, value in rows], dtype=np.float32)


class RolloutEvaluator:
    """Pure MCTS's evaluation: uniform priors and the result of one random playout."""

    def __init__(self, game: Game, seed: int) -> None:
        self.game = game
        self.random = random.Random(seed)

    def __call__(self, states: Sequence[State]) -> tuple[np.ndarray, np.ndarray]:
        priors = np.full((len(states), self.game.action_size), 1.0 / self.game.action_size)
        return priors, np.array([self._rollout(s) for s in states])

    def _rollout(self, state: State) -> float:
        game, sign = self.game, 1.0
        while state.value is None:
            state = game.apply(state, self.random.choice(game.legal_moves(state)))
            sign = -sign
        return sign * state.value


class Node:
    __slots__ = ("children", "legal", "penalty", "priors", "proven", "state", "total", "values", "visits")

    def __init__(self, state: State) -> None:
        self.state = state
        self.priors: np.ndarray | None = None  # set when the node is expanded
        self.visits = self.values = self.penalty = self.legal = np.empty(0)
        self.children: dict[int, Node] = {}
        self.total = 0.0  # visits of all edges
        self.proven: float | None = state.value  # exact value for the player to move, once known

    def value(self) -> float:
        """The search's estimate of this position for the player to move (exact once proven)."""
        if self.proven is not None:
            return self.proven
        return float(self.values.sum() / self.total) if self.total else 0.0

    def move_weights(self) -> np.ndarray:
        """How much the search favours each move: its visits, corrected by what it proved. A
        proven win gets all the weight; a proven loss none while another move is left."""
        weights = self.visits.copy()
        wins = [a for a, child in self.children.items() if child.proven == -1]
        if wins:
            weights[:] = 0.0
            weights[wins] = 1.0
            return weights
        losses = [a for a, child in self.children.items() if child.proven == 1]
        if losses and len(losses) < self.legal.sum():
            weights[losses] = 0.0
            if not weights.sum():  # only losing moves were visited: fall back on the priors
                weights = np.where(self.legal, self.priors + 1e-9, 0.0)  # (a prior may round to 0)
                weights[losses] = 0.0
        return weights


def expand_all(game: Game, nodes: Sequence[Node], priors: np.ndarray) -> None:
    """Expand each node with its row of the evaluator's priors (B, actions), renormalised over
    its legal moves; the whole batch's arithmetic in one go, each node keeping its rows."""
    legal = np.stack([game.legal_mask(node.state) for node in nodes])
    priors = np.where(legal, priors, 0.0)
    mass = priors.sum(axis=1, keepdims=True)
    # A network may give every legal move a prior of 0: then they share it evenly.
    even = legal / np.maximum(legal.sum(axis=1, keepdims=True), 1)
    priors = np.where(mass > 0, priors / np.where(mass > 0, mass, 1.0), even)
    visits, values = np.zeros(priors.shape), np.zeros(priors.shape)
    # Keeps illegal moves (and, once proven, losing ones) from ever being chosen.
    penalty = np.where(legal, 0.0, -np.inf)
    for i, node in enumerate(nodes):
        node.legal, node.priors, node.visits, node.values, node.penalty = legal[i], priors[i], visits[i], values[i], penalty[i]


@dataclasses.dataclass
class SearchConfig:
    simulations: int
    c_puct: float = 1.5
    in_flight: int = 1  # simulations of one tree evaluated in the same batch
    noise: float = 0.0  # weight of Dirichlet noise on the root priors (0.25 in self-play)
    prove: bool = True  # carry proofs up the tree (MCTS-Solver); classic MCTS, the reference, does not


def search(
    game: Game,
    roots: Sequence[Node],
    evaluator: Evaluator,
    config: SearchConfig,
    rng: np.random.Generator | None = None,
) -> None:
    """Run `config.simulations` simulations from each (non-terminal) root, all trees together."""
    unexpanded = [root for root in roots if root.priors is None]
    if unexpanded:
        priors, _ = evaluator([root.state for root in unexpanded])
        expand_all(game, unexpanded, priors)
    if config.noise > 0:
        assert rng is not None, "root noise needs a random generator"
        for root in roots:
            legal = np.isfinite(root.penalty)
            noise = np.zeros(game.action_size)
            noise[legal] = rng.dirichlet(np.full(int(legal.sum()), game.dirichlet_alpha))
            root.priors = (1 - config.noise) * root.priors + config.noise * noise
    # A proven root has nothing left to search.
    remaining = [0 if root.proven is not None else config.simulations for root in roots]
    c_puct = config.c_puct
    while any(remaining):
        waiting: dict[int, tuple[Node, list[list[tuple[Node, int]]]]] = {}
        for index, root in enumerate(roots):
            for _ in range(min(config.in_flight, remaining[index])):
                remaining[index] -= 1
                path, leaf = _descend(game, root, c_puct)
                if leaf.proven is not None:
                    _backup(path, leaf.proven)
                    if config.prove:
                        _prove(path)
                        if root.proven is not None:
                            remaining[index] = 0
                elif id(leaf) in waiting:
                    waiting[id(leaf)][1].append(path)
                else:
                    waiting[id(leaf)] = (leaf, [path])
        if waiting:
            leaves = [leaf for leaf, _ in waiting.values()]
            priors, values = evaluator([leaf.state for leaf in leaves])
            expand_all(game, leaves, priors)
            for (_, paths), value in zip(waiting.values(), values.tolist()):
                for path in paths:
                    _backup(path, value)


def _descend(game: Game, root: Node, c_puct: float) -> tuple[list[tuple[Node, int]], Node]:
    """Follow the PUCT rule to a leaf, adding a virtual loss on every edge taken."""
    node, path = root, []
    while node.priors is not None and node.proven is None:
        visits = node.visits
        # U + Q (+ the penalty), in place: this runs once per tree level of every simulation.
        # An unvisited edge has value sum 0, so Q = values / max(visits, 1) is 0 there.
        scores = node.priors * (c_puct * math.sqrt(node.total + 1))
        scores /= visits + 1.0
        scores += node.values / np.maximum(visits, 1.0)
        scores += node.penalty
        action = int(scores.argmax())
        visits[action] += 1
        node.values[action] -= VIRTUAL_LOSS
        node.total += 1
        path.append((node, action))
        child = node.children.get(action)
        if child is None:
            child = node.children[action] = Node(game.apply(node.state, action))
        node = child
    return path, node


def _backup(path: list[tuple[Node, int]], value: float) -> None:
    """Replace the virtual losses on `path` with the leaf's value, sign flipping every ply."""
    for node, action in reversed(path):
        value = -value
        node.values[action] += value + VIRTUAL_LOSS


def _prove(path: list[tuple[Node, int]]) -> None:
    """Carry a proof at the end of `path` up it, as far as it decides the positions above."""
    for node, action in reversed(path):
        child = node.children[action]
        if child.proven is None:
            return
        if child.proven == -1:
            node.proven = 1.0
            continue
        if child.proven == 1:
            node.penalty[action] = -np.inf
        outcomes = [-c.proven for c in node.children.values() if c.proven is not None]
        if len(outcomes) < node.legal.sum():
            return
        node.proven = max(outcomes)


def pick_move(weights: np.ndarray, temperature: float, rng: np.random.Generator | None) -> int:
    """The heaviest move (temperature 0), else a move drawn with p ∝ weights^(1/T); the weights
    are visit counts or `Node.move_weights()`."""
    if temperature == 0:
        return int(weights.argmax())
    assert rng is not None
    weights = weights ** (1.0 / temperature)
    return int(rng.choice(len(weights), p=weights / weights.sum()))


class Agent(Protocol):
    def choose(self, states: Sequence[State], rng: np.random.Generator) -> list[int]:
        """One move for each (non-terminal) state."""


@dataclasses.dataclass
class MCTSAgent:
    """Plays the visit-count choice of a search; samples ∝ visits for the first plies."""

    game: Game
    evaluator: Evaluator
    config: SearchConfig
    temperature_moves: int = 0  # plies of the game played with temperature 1, the rest greedily

    def search(self, states: Sequence[State], rng: np.random.Generator | None = None) -> list[Node]:
        roots = [Node(s) for s in states]
        search(self.game, roots, self.evaluator, self.config, rng)
        return roots

    def choose(self, states: Sequence[State], rng: np.random.Generator) -> list[int]:
        roots = self.search(states, rng)
        return [
            pick_move(root.move_weights() if self.config.prove else root.visits,
                      1.0 if root.state.moves < self.temperature_moves else 0.0, rng)
            for root in roots
        ]


class RandomAgent:
    def __init__(self, game: Game) -> None:
        self.game = game

    def choose(self, states: Sequence[State], rng: np.random.Generator) -> list[int]:
        return [int(rng.choice(self.game.legal_moves(s))) for s in states]


def play_games(
    game: Game, agents: tuple[Agent, Agent], games: int, rng: np.random.Generator,
    on_finished: Callable[[int], None] | None = None,
) -> list[float]:
    """Play `games` games between two agents, alternating who starts, all games in lock-step so
    each agent decides for every game it has to move in at once. Returns results for agents[0]:
    1 win, 0 draw, -1 loss; agents[0] starts the even-numbered games. `on_finished(n)` is told
    of the n games that ended in each round (a progress bar)."""
    states = [game.initial_state() for _ in range(games)]
    running = games
    while True:
        active = [i for i, s in enumerate(states) if s.value is None]
        if on_finished is not None and len(active) < running:
            on_finished(running - len(active))
        running = len(active)
        if not active:
            break
        for side in (0, 1):
            mine = [i for i in active if states[i].value is None and (game.current_player(states[i]) + i) % 2 == side]
            if mine:
                for i, move in zip(mine, agents[side].choose([states[i] for i in mine], rng)):
                    states[i] = game.apply(states[i], move)
    results = []
    for i, state in enumerate(states):
        loser_is_first = game.current_player(state) == 0  # the player to move lost (value -1)
        agent0_first = i % 2 == 0
        results.append(0.0 if state.value == 0 else (-1.0 if loser_is_first == agent0_first else 1.0))
    return results
