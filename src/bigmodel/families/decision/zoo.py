"""The decision family's zoo members: AlphaZero for tic-tac-toe and for Connect Four, each
trained by self-play on a fixed budget and measured against references that do not learn."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from bigmodel.zoo import ZooContext, ZooMember

MEMBERS = [
    ZooMember(
        name="alphazero-tictactoe",
        family="decision",
        builder="bigmodel.families.decision.zoo:build_tictactoe",
        description="AlphaZero (MCTS + policy-value net) for tic-tac-toe, proven against perfect play",
    ),
    ZooMember(
        name="alphazero-connect4",
        family="decision",
        builder="bigmodel.families.decision.zoo:build_connect4",
        description="AlphaZero for Connect Four, scored by an exact solver and against pure MCTS",
    ),
]

# Tic-tac-toe's generations fit its 2-minute budget on an idle 2-core CPU (`minutes` stops a
# slower machine there); Connect Four trains until its 8-minute budget is spent. Games are played
# by one worker process per core (two at most: the budgets are for two cores).
WORKERS = min(2, os.cpu_count() or 1)
TICTACTOE = {"full": {"generations": 30, "minutes": 2.0}, "quick": {"generations": 3, "minutes": 0.5}}
CONNECT4 = {
    "full": {"generations": 100, "minutes": 8.0, "simulations": 50, "arena_games": 10},
    "quick": {"generations": 2, "minutes": 0.5, "games_per_generation": 16, "simulations": 25, "train_steps": 30, "arena_games": 4},
}
# The trained agent's search when it is measured. Tic-tac-toe's proof of never losing is walked
# with a deep search: a 2-minute network still misjudges a rare line that 800 simulations see.
TICTACTOE_EVALUATION_SIMULATIONS = 800


def build_tictactoe(out: Path, ctx: ZooContext) -> None:
    from bigmodel.families.decision import alphazero
    from bigmodel.families.decision.evaluate import StrengthTest, strength

    budget = TICTACTOE["quick" if ctx.quick else "full"]
    settings = alphazero.default_settings("tictactoe", seed=ctx.seed, workers=WORKERS, **budget)
    with alphazero.torch_threads(1):
        run = alphazero.train(settings, out, threads=WORKERS)
        start = time.perf_counter()
        results = strength(run.game, run.best, StrengthTest(TICTACTOE_EVALUATION_SIMULATIONS, seed=ctx.seed))["exhaustive"]
        seconds = time.perf_counter() - start
    metrics: dict[str, Any] = {
        "generations": run.generation,
        "training_seconds": round(run.seconds, 1),
        "elo": run.card_extra()["elo"],
        "evaluation_simulations": TICTACTOE_EVALUATION_SIMULATIONS,
        "losses_vs_minimax_as_first": results["optimal"]["first"]["losses"],
        "losses_vs_minimax_as_second": results["optimal"]["second"]["losses"],
        "losses_vs_any_reply_as_first": results["all"]["first"]["losses"],
        "losses_vs_any_reply_as_second": results["all"]["second"]["losses"],
        "exhaustive": results,
    }
    lines = [
        (
            f"AlphaZero for tic-tac-toe, trained by self-play alone for {run.generation} generations "
            f"({run.seconds:.0f} s of training on this machine, preset {settings.preset})."
        ),
        "",
        (
            f"Every game the agent ({TICTACTOE_EVALUATION_SIMULATIONS} simulations per move) can play was walked, as first "
            "and as second player, against every reply of a perfect minimax player and against every legal "
            f"reply ({seconds:.0f} s):"
        ),
        "",
        "| opponent | agent plays | games | wins | draws | losses |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for replies, label in (("optimal", "perfect minimax"), ("all", "any legal reply")):
        for role in ("first", "second"):
            r = results[replies][role]
            lines.append(f"| {label} | {role} | {r['games']} | {r['wins']} | {r['draws']} | {r['losses']} |")
    lines += ["", "![Elo by generation](./elo.png)", ""]
    with alphazero.torch_threads(1):
        run.write(metrics, "\n".join(lines))


def build_connect4(out: Path, ctx: ZooContext) -> None:
    from bigmodel.families.decision import alphazero
    from bigmodel.families.decision.evaluate import StrengthTest, strength

    budget = CONNECT4["quick" if ctx.quick else "full"]
    settings = alphazero.default_settings("connect4", seed=ctx.seed, workers=WORKERS, **budget)
    test = StrengthTest(explorer_simulations=settings.simulations, seed=ctx.seed)
    if ctx.quick:
        test = dataclasses.replace(test, rollout_simulations=200, rollout_games=4, positions=8, position_games=8, min_moves=16)
    with alphazero.torch_threads(1):
        run = alphazero.train(settings, out, threads=WORKERS)
        measured = strength(run.game, run.best, test, WORKERS)
    versus = measured["vs_pure_mcts"]
    metrics = {
        "generations": run.generation,
        "training_seconds": round(run.seconds, 1),
        "elo": run.card_extra()["elo"],
        **{k: measured[k] for k in ("positions", "informative_positions", "solver_move_accuracy",
                                    "solver_move_accuracy_95", "solver_nodes", "solver_nodes_per_second")},
        "evaluation_simulations": test.agent_simulations,
        "vs_pure_mcts": versus,
    }
    share = measured["solver_move_accuracy"]
    lines = [
        (
            f"AlphaZero for Connect Four, trained by self-play alone for {run.generation} generations "
            f"({run.seconds:.0f} s on this machine, preset {settings.preset}, {settings.simulations} simulations "
            "per move). This is what that small budget reaches; the goal of at least 90% wins against pure MCTS "
            "and 60% solver-optimal moves is for `--preset small` trained for 60 minutes."
        ),
        "",
        "| measure | value |",
        "| --- | --- |",
        (
            f"| network's move is solver-optimal (win > draw > loss), on {measured['informative_positions']} "
            f"held-out self-play positions where the choice matters | {'n/a' if share is None else f'{share:.0%}'} |"
        ),
        (
            f"| wins against pure MCTS ({test.rollout_simulations} random-rollout simulations per move), both colours, "
            f"agent at {test.agent_simulations} simulations | {versus['wins']}/{versus['games']} "
            f"(draws {versus['draws']}, losses {versus['losses']}) |"
        ),
        f"| exact solver speed | {metrics['solver_nodes_per_second']:,} positions/s |",
        "",
        "![Elo by generation](./elo.png)",
        "",
    ]
    with alphazero.torch_threads(1):
        run.write(metrics, "\n".join(lines))
