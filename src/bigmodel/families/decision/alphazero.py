"""The AlphaZero loop: self-play -> replay buffer -> training -> arena gating -> repeat.

Self-play games are played by the best network so far, all games of a generation together
(their leaves share one network batch), or shared by `workers` processes, one core each. A candidate network keeps training on the replay buffer
(every position in a random symmetry); after each generation it plays the best network in an
arena and replaces it when it scores at least `gate`. Each generation gets an Elo from that
arena, relative to the untrained network (Elo 0).

The output directory is a model directory (the best network) that also holds metrics.jsonl,
elo.png and training-state/ (candidate, optimiser, replay buffer, best network, generation,
random states). It is rewritten atomically after every generation, so a run stopped or killed at
any point resumes from the last finished generation and continues exactly as if never stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bigmodel import checkpoint
from bigmodel.errors import BigModelError
from bigmodel.families.decision.games import Game, get_game
from bigmodel.families.decision.mcts import (
    AGENT_IN_FLIGHT,
    Evaluator,
    MCTSAgent,
    NetEvaluator,
    Node,
    SearchConfig,
    pick_move,
    play_games,
    search,
)
from bigmodel.families.decision.model import write_model_files
from bigmodel.families.decision.network import (
    AlphaZeroNet,
    NetConfig,
    bfloat16_pays,
    network_from_weights,
    network_weights,
)
from bigmodel.families.decision.workers import GamePool, shard_sizes
from bigmodel.train.metrics import MetricsLog, plot_metrics
from bigmodel.train.state import load_training_state, save_training_state
from bigmodel.ui import console, progress_bar

STATE_DIR = "training-state"
METRICS_NAME = "metrics.jsonl"
ELO_PNG = "elo.png"


@dataclasses.dataclass
class Settings:
    game: str
    preset: str = "tiny"
    generations: int = 10
    minutes: float | None = None  # stop starting generations once this much time is spent
    games_per_generation: int = 64
    simulations: int = 50
    c_puct: float = 1.5
    noise: float = 0.25
    temperature_moves: int = 3  # self-play plies played with temperature 1, then greedily
    # Share of the search's value of a position in its value target; the rest is the game's
    # result, which a later mistake in the game can flip (0: AlphaZero's target, the result alone).
    search_value_share: float = 0.0
    train_steps: int = 100
    batch_size: int = 128
    learning_rate: float = 2e-3
    # Where the learning rate ends, reached by a cosine over the run's budget (its generations or
    # its minutes, whichever binds first); None keeps it constant.
    learning_rate_end: float | None = None
    weight_decay: float = 1e-4
    buffer_size: int = 20_000
    # Training samples the most recent positions only, a window that grows with the positions
    # played so far from this many (KataGo's shuffle window), so early games of weak networks
    # leave it sooner; 0 samples the whole buffer.
    window_start: int = 0
    arena_games: int = 20
    arena_temperature_moves: int = 2  # the arena opens with sampled moves so its games differ
    # The arena score a candidate needs to replace the best network (AlphaGo Zero's 0.55); 0
    # accepts every candidate, as AlphaZero does, and the arena then only measures Elo.
    gate: float = 0.55
    seed: int = 0
    workers: int = 1  # processes that play self-play and arena games, one core each


# What suits each game when no option says otherwise (sizes of the search and of the data).
GAME_DEFAULTS: dict[str, dict[str, Any]] = {
    # Good tic-tac-toe players draw every game, so a candidate that holds the best one to a draw
    # (score 1/2) is accepted; gating still refuses one that scores less.
    "tictactoe": {"simulations": 50, "temperature_moves": 3, "buffer_size": 20_000, "train_steps": 100, "gate": 0.5},
    # Connect Four's value learns better with half of its target from the search (measured at 8
    # minutes and at an hour: better moves on the same positions, more wins; README). Fresh data
    # won the most in an hour of `small` and no less in the zoo's 8 minutes: self-play always
    # takes up the newest network (no gate), training samples a growing window of recent
    # positions, half as long per generation so more of the time goes to self-play, and the
    # learning rate decays over the budget.
    "connect4": {"simulations": 100, "temperature_moves": 8, "buffer_size": 100_000, "train_steps": 100,
                 "search_value_share": 0.5, "window_start": 20_000, "learning_rate_end": 2e-4, "gate": 0.0},
    "gomoku9": {"simulations": 100, "temperature_moves": 8, "buffer_size": 100_000, "train_steps": 200, "games_per_generation": 32},
    "gomoku15": {"simulations": 200, "temperature_moves": 12, "buffer_size": 200_000, "train_steps": 200, "games_per_generation": 16},
}


def default_settings(game: str, **overrides: Any) -> Settings:
    """A game's settings; `overrides` that are None keep the default. Checks every number."""
    get_game(game)
    values = {**GAME_DEFAULTS[game], **{k: v for k, v in overrides.items() if v is not None}}
    settings = Settings(game=game, **values)
    for field in dataclasses.fields(Settings):
        value = getattr(settings, field.name)
        floor = 0 if field.name in ("generations", "seed", "noise", "temperature_moves", "arena_temperature_moves", "weight_decay",
                                      "search_value_share", "window_start", "gate") else 1e-12
        if isinstance(value, (int, float)) and value < floor:
            raise BigModelError(f"setting {field.name.replace('_', '-')} is {value}; it must be {'0 or more' if floor == 0 else 'positive'}")
    for name in ("search_value_share", "gate"):
        if getattr(settings, name) > 1:
            raise BigModelError(f"setting {name.replace('_', '-')} is {getattr(settings, name)}; it must be between 0 and 1")
    return settings


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Search evaluates small batches, where extra OpenMP threads only spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def sampling_window(positions: int, start: int) -> int:
    """How many of the most recent `positions` training samples from: all of them up to `start`,
    then a window that grows as positions**0.75 (KataGo's shuffle window, alpha 0.75, beta 0.4);
    `start` 0 means all of them."""
    if start == 0 or positions <= start:
        return positions
    alpha, beta = 0.75, 0.4
    return min(positions, int(start * (1 + beta * ((positions / start) ** alpha - 1) / alpha)))


def cosine_learning_rate(settings: Settings, progress: float) -> float:
    """The learning rate once `progress` (0-1) of the budget is spent."""
    if settings.learning_rate_end is None:
        return settings.learning_rate
    weight = (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0))) / 2
    return settings.learning_rate_end + (settings.learning_rate - settings.learning_rate_end) * weight


class ReplayBuffer:
    """The most recent `capacity` positions: stones (uint8), search policy, game result."""

    def __init__(self, game: Game, capacity: int) -> None:
        self.game = game
        self.capacity = capacity
        self.stones = np.zeros((capacity, 2, game.rows, game.cols), dtype=np.uint8)
        self.policy = np.zeros((capacity, game.action_size), dtype=np.float32)
        self.value = np.zeros(capacity, dtype=np.float32)
        self.added = 0

    def __len__(self) -> int:
        return min(self.added, self.capacity)

    def add(self, planes: np.ndarray, policy: np.ndarray, value: float) -> None:
        slot = self.added % self.capacity
        self.stones[slot] = planes[:2]
        self.policy[slot] = policy
        self.value[slot] = value
        self.added += 1

    def sample(self, rng: np.random.Generator, size: int, window: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A batch of the most recent `window` positions (default: all held), each in a random
        symmetry of the board."""
        window = len(self) if window is None else min(window, len(self))
        index = (self.added - 1 - rng.integers(0, window, size)) % self.capacity
        planes = np.ones((size, 3, self.game.rows, self.game.cols), dtype=np.float32)
        planes[:, :2] = self.stones[index]
        variants = self.game.symmetries(planes, self.policy[index])
        which = rng.integers(0, len(variants), size)
        rows = np.arange(size)
        planes = np.stack([v[0] for v in variants])[which, rows]
        policy = np.stack([v[1] for v in variants])[which, rows]
        return planes, policy, self.value[index]

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "buffer.stones": torch.from_numpy(self.stones),
            "buffer.policy": torch.from_numpy(self.policy),
            "buffer.value": torch.from_numpy(self.value),
        }

    def restore(self, tensors: dict[str, torch.Tensor], added: int) -> None:
        self.stones = tensors["buffer.stones"].numpy().copy()
        self.policy = tensors["buffer.policy"].numpy().copy()
        self.value = tensors["buffer.value"].numpy().copy()
        self.added = added


def self_play(
    game: Game, evaluator: Evaluator, settings: Settings, rng: np.random.Generator, games: int,
    advance: Callable[..., None] | None = None,
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Play `games` games of the network (behind `evaluator`) against itself, all at once; return the positions seen
    with their search policies and the final result for the player to move. `advance(n)` is told
    of finished games. Each move's search starts from the subtree the previous search built
    below the move played, so its visits are not thrown away. A position's value target is the
    game's result, mixed with the search's value by `settings.search_value_share`."""
    config = SearchConfig(settings.simulations, settings.c_puct, noise=settings.noise)
    roots = [Node(game.initial_state()) for _ in range(games)]
    histories: list[list[tuple[np.ndarray, np.ndarray, int, float]]] = [[] for _ in range(games)]
    while True:
        active = [i for i, root in enumerate(roots) if root.state.value is None]
        if not active:
            break
        search(game, [roots[i] for i in active], evaluator, config, rng)
        for i in active:
            root, state = roots[i], roots[i].state
            weights = root.move_weights()
            histories[i].append((game.canonical(state), weights / weights.sum(), game.current_player(state), root.value()))
            temperature = 1.0 if state.moves < settings.temperature_moves else 0.0
            move = pick_move(weights, temperature, rng)
            roots[i] = root.children.get(move) or Node(game.apply(state, move))
            if roots[i].state.value is not None and advance is not None:
                advance(1)
    samples = []
    share = settings.search_value_share
    for root, history in zip(roots, histories):
        winner = None if root.state.value == 0 else 1 - game.current_player(root.state)
        for planes, policy, player, searched in history:
            result = 0.0 if winner is None else (1.0 if player == winner else -1.0)
            samples.append((planes, policy, (1 - share) * result + share * searched))
    return samples


def self_play_shard(
    settings: Settings, weights: dict[str, np.ndarray], seed: int, games: int, advance: Callable[..., None]
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """One worker's part of a generation's self-play (see `GamePool`)."""
    game = get_game(settings.game)
    evaluator = NetEvaluator(network_from_weights(NetConfig.from_preset(game, settings.preset), weights), game)
    return self_play(game, evaluator, settings, np.random.default_rng(seed), games, advance)


def train_network(
    net: AlphaZeroNet, optimizer: torch.optim.Optimizer, buffer: ReplayBuffer, settings: Settings, rng: np.random.Generator
) -> tuple[float, float]:
    """`train_steps` steps on batches from the buffer's sampling window (`sampling_window`);
    returns mean (policy loss, value loss).
    The network trains channels-last, oneDNN's fastest layout for its convolutions (a `small`
    step at batch 128: 1.2× on two cores), and is handed back in the default layout, because
    safetensors writes only contiguous tensors."""
    net.train().to(memory_format=torch.channels_last)
    policy_total = value_total = 0.0
    window = sampling_window(buffer.added, settings.window_start)
    with progress_bar("train", total=settings.train_steps) as advance:
        for _ in range(settings.train_steps):
            planes, policy, value = (torch.from_numpy(a) for a in buffer.sample(rng, settings.batch_size, window))
            planes = planes.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16_pays(net.config, len(planes))):
                logits, predicted = net(planes)
            logits, predicted = logits.float(), predicted.float()
            policy_loss = -(policy * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()
            value_loss = torch.nn.functional.mse_loss(predicted, value)
            optimizer.zero_grad(set_to_none=True)
            (policy_loss + value_loss).backward()
            optimizer.step()
            policy_total += policy_loss.item()
            value_total += value_loss.item()
            advance(1, loss=policy_loss.item() + value_loss.item())
    net.eval().to(memory_format=torch.contiguous_format)
    return policy_total / settings.train_steps, value_total / settings.train_steps


def arena_shard(
    settings: Settings, candidate: dict[str, np.ndarray], best: dict[str, np.ndarray], seed: int, games: int,
    advance: Callable[..., None],
) -> list[float]:
    """One worker's part of the arena: the candidate's results (1, 0, -1) against the best network,
    colours alternating. Each agent moves in only half of the worker's games at a time, so each
    search keeps several simulations in flight (as a trained agent does when it plays) to fill the
    network's batches."""
    game = get_game(settings.game)
    net_config = NetConfig.from_preset(game, settings.preset)
    config = SearchConfig(settings.simulations, settings.c_puct, in_flight=AGENT_IN_FLIGHT)
    agents = tuple(
        MCTSAgent(game, NetEvaluator(network_from_weights(net_config, w), game), config, settings.arena_temperature_moves)
        for w in (candidate, best)
    )
    return play_games(game, agents, games, np.random.default_rng(seed), on_finished=advance)


def elo_difference(score: float, games: int) -> float:
    """Elo gap implied by a score, clipped as if half a game had gone the other way."""
    score = min(max(score, 0.5 / games), 1 - 0.5 / games)
    return 400 * math.log10(score / (1 - score))


class AlphaZero:
    """One training run. `run()` continues until `settings.generations` (or the time budget)."""

    def __init__(self, settings: Settings, out: Path) -> None:
        self.settings = settings
        self.out = Path(out)
        self.game = get_game(settings.game)
        torch.manual_seed(settings.seed)
        self.candidate = AlphaZeroNet(NetConfig.from_preset(self.game, settings.preset))
        self.best = copy.deepcopy(self.candidate).eval()
        self.optimizer = torch.optim.AdamW(
            self.candidate.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        self.buffer = ReplayBuffer(self.game, settings.buffer_size)
        self.rng = np.random.default_rng(settings.seed)
        self.generation = 0
        self.best_generation = 0
        self.elo = [0.0]  # by generation; generation 0 is the untrained network
        self.history: list[dict[str, Any]] = []
        self.seconds = 0.0

    @classmethod
    def resume(cls, out: Path, game: str | None = None) -> AlphaZero:
        """The run saved in `out`, ready to continue from its last finished generation."""
        state_file = Path(out) / STATE_DIR / "state.json"
        if not state_file.is_file():
            raise BigModelError(f"{out}: nothing to resume (no {STATE_DIR}/state.json); train without --resume")
        try:
            extra = json.loads(state_file.read_text(encoding="utf-8"))["extra"]
            settings = Settings(**extra["settings"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise BigModelError(f"{state_file}: not a decision training state ({err})") from None
        if game is not None and game != settings.game:
            raise BigModelError(f"{out} plays {settings.game}, not {game}")
        run = cls(settings, out)
        _, extra, tensors = load_training_state(out / STATE_DIR, model=run.candidate, optimizer=run.optimizer)
        run.best.load_state_dict({k.removeprefix("best."): v for k, v in tensors.items() if k.startswith("best.")})
        run.buffer.restore(tensors, extra["buffer_added"])
        run.rng.bit_generator.state = extra["rng"]
        run.generation, run.best_generation = extra["generation"], extra["best_generation"]
        run.elo, run.history, run.seconds = extra["elo"], extra["history"], extra["seconds"]
        return run

    def run(self) -> None:
        settings, game = self.settings, self.game
        todo = settings.generations - self.generation
        if todo <= 0:
            console.print(f"{self.out}: already trained {self.generation} generations")
            return
        with GamePool(settings.workers) as pool, progress_bar(f"alphazero {game.name}", total=todo) as advance:
            while self.generation < settings.generations:
                spent = self.seconds
                last = self.history[-1]["seconds"] if self.history else 0.0
                if settings.minutes is not None and spent + last > settings.minutes * 60:
                    console.print(f"time budget of {settings.minutes:g} min reached after generation {self.generation}")
                    break
                row = self._generation(pool)
                advance(1, elo=row["elo"], loss=row["policy_loss"] + row["value_loss"])
                self.write()

    def progress(self) -> float:
        """The share of the budget spent: of its generations or of its minutes, the larger."""
        spent = self.generation / self.settings.generations if self.settings.generations else 1.0
        if self.settings.minutes is not None:
            spent = max(spent, self.seconds / (self.settings.minutes * 60))
        return min(spent, 1.0)

    def _shards(self, games: int) -> list[tuple[int, int]]:
        """(seed, games) for each worker's part of `games`."""
        sizes = shard_sizes(games, self.settings.workers)
        return list(zip(self.rng.integers(0, 2**63, len(sizes)).tolist(), sizes))

    def _generation(self, pool: GamePool) -> dict[str, Any]:
        start = time.perf_counter()
        settings = self.settings
        best = network_weights(self.best)
        shards = [(settings, best, seed, games) for seed, games in self._shards(settings.games_per_generation)]
        samples = [sample for part in pool.run("self-play", self_play_shard, shards, settings.games_per_generation) for sample in part]
        for planes, policy, value in samples:
            self.buffer.add(planes, policy, value)
        played = time.perf_counter()
        learning_rate = cosine_learning_rate(settings, self.progress())
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        policy_loss, value_loss = train_network(self.candidate, self.optimizer, self.buffer, settings, self.rng)
        trained = time.perf_counter()
        candidate = network_weights(self.candidate)
        shards = [(settings, candidate, best, seed, games) for seed, games in self._shards(settings.arena_games)]
        results = [r for part in pool.run("arena", arena_shard, shards, settings.arena_games) for r in part]
        score = sum((r + 1) / 2 for r in results) / len(results)
        self.generation += 1
        elo = self.elo[self.best_generation] + elo_difference(score, settings.arena_games)
        self.elo.append(elo)
        accepted = score >= settings.gate
        if accepted:
            self.best.load_state_dict(self.candidate.state_dict())
            self.best_generation = self.generation
        self.seconds += time.perf_counter() - start
        row = {
            "step": self.generation,
            "generation": self.generation,
            "elo": round(elo, 1),
            "best_elo": round(self.elo[self.best_generation], 1),
            "best_generation": self.best_generation,
            "arena_score": score,
            "accepted": accepted,
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "positions": len(samples),
            "buffer": len(self.buffer),
            "window": sampling_window(self.buffer.added, settings.window_start),
            "learning_rate": learning_rate,
            "seconds": round(time.perf_counter() - start, 2),
            # Where the generation's time went: the phases, so a slow one shows.
            "self_play_seconds": round(played - start, 2),
            "train_seconds": round(trained - played, 2),
            "arena_seconds": round(time.perf_counter() - trained, 2),
        }
        self.history.append(row)
        return row

    def card_extra(self) -> dict[str, Any]:
        return {
            "game": self.settings.game,
            "preset": self.settings.preset,
            "simulations": self.settings.simulations,
            "generation": self.generation,
            "best_generation": self.best_generation,
            "elo": round(self.elo[self.best_generation], 1),
            "training_seconds": round(self.seconds, 1),
        }

    def write(self, metrics: dict[str, Any] | None = None, report: str | None = None) -> None:
        """Rewrite the output directory atomically: model, metrics, Elo plot, training state;
        `report` (Markdown linking ./elo.png) becomes REPORT.md."""
        with checkpoint.writing(self.out) as tmp:
            write_model_files(tmp, self.best, self.card_extra(), metrics or {})
            log = MetricsLog(tmp / METRICS_NAME)
            for row in self.history:
                log.log(**row)
            if self.history:
                plot_metrics(
                    tmp / METRICS_NAME,
                    tmp / ELO_PNG,
                    panels={"Elo by generation": ["elo", "best_elo"], "loss": ["policy_loss", "value_loss"]},
                    x="generation",
                    title=f"AlphaZero {self.game.title}",
                )
            save_training_state(
                tmp / STATE_DIR,
                model=self.candidate,
                optimizer=self.optimizer,
                step=self.generation,
                extra={
                    "settings": dataclasses.asdict(self.settings),
                    "generation": self.generation,
                    "best_generation": self.best_generation,
                    "elo": self.elo,
                    "history": self.history,
                    "seconds": self.seconds,
                    "buffer_added": self.buffer.added,
                    "rng": self.rng.bit_generator.state,
                },
                tensors={**self.buffer.tensors(), **{f"best.{k}": v for k, v in self.best.state_dict().items()}},
            )
            if report is not None:
                (tmp / "REPORT.md").write_text(report, encoding="utf-8")


def train(settings: Settings, out: Path, threads: int = 1) -> AlphaZero:
    """Train a new AlphaZero agent into the model directory `out` (replacing what is there)."""
    with torch_threads(threads):
        run = AlphaZero(settings, out)
        run.write()  # generation 0: the untrained network, so even a stopped run leaves a model
        run.run()
    return run


def resume(
    out: Path, game: str | None = None, generations: int | None = None, minutes: float | None = None, threads: int = 1,
    workers: int | None = None,
) -> AlphaZero:
    """Continue the run saved in `out` up to `generations` (default: the saved target); `workers`
    replaces the run's own number of worker processes (the games then differ from an unstopped run)."""
    with torch_threads(threads):
        run = AlphaZero.resume(out, game)
        if generations is not None:
            run.settings.generations = generations
        if workers is not None:
            run.settings = default_settings(**{**dataclasses.asdict(run.settings), "workers": workers})
        run.settings.minutes = minutes
        run.run()
    return run
