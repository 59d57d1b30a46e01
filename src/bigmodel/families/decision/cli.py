"""`bigmodel decision train|move|evaluate` and `bigmodel play`. Thin: the work is in the library."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from bigmodel import checkpoint
from bigmodel.ui import SEED_MAX

GAME_NAMES = "tictactoe, connect4, gomoku9, gomoku15"


def train(
    out: Path = typer.Option(..., "--out", help="Model directory to write (rewritten after every generation).", callback=checkpoint.model_out),
    game: str | None = typer.Option(None, "--game", help=f"One of {GAME_NAMES}; required unless --resume."),
    preset: str = typer.Option("tiny", "--preset", help="Network size: tiny, small, base, large."),
    generations: int | None = typer.Option(None, "--generations", help="Generations to reach (default 10)."),
    minutes: float | None = typer.Option(None, "--minutes", help="Time budget: start no generation past it."),
    games: int | None = typer.Option(None, "--games", help="Self-play games per generation (played together)."),
    simulations: int | None = typer.Option(None, "--simulations", help="MCTS simulations per move."),
    train_steps: int | None = typer.Option(None, "--train-steps", help="Training steps per generation (default 100; gomoku 200)."),
    arena_games: int | None = typer.Option(None, "--arena-games", help="Arena games per generation."),
    gate: float | None = typer.Option(
        None, "--gate", help="Arena score, 0-1, a candidate needs to replace the best network (default 0.55, tictactoe 0.5, connect4 0); 0 accepts every one (AlphaZero)."
    ),
    search_value_share: float | None = typer.Option(
        None, "--search-value-share", help="Share of the search's value in the value target, 0-1; the rest is the game's result (default 0.5 for connect4, else 0)."
    ),
    learning_rate_end: float | None = typer.Option(
        None, "--learning-rate-end", help="Decay the learning rate (2e-3) by a cosine over the budget to this (default 2e-4 for connect4, else constant)."
    ),
    window_start: int | None = typer.Option(
        None, "--window-start", help="Train on the most recent positions only, a window growing from this many (KataGo's; default 20000 for connect4, else 0: the whole buffer)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run saved in --out."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch threads for training the network."),
    workers: int | None = typer.Option(
        None, "--workers", help="Processes playing self-play and arena games, one core each (default 1; a run resumes with its own)."
    ),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
    json_output: bool = typer.Option(False, "--json", help="Print the card's facts as JSON."),
) -> None:
    """Train an AlphaZero agent by self-play: MCTS + a policy-value network, arena-gated, with Elo.

    Writes a model directory (family decision) with metrics.jsonl, elo.png and training-state/
    after every generation; --resume continues a stopped or killed run exactly (with the same
    --workers: each worker's games have their own seed).

    Example: bigmodel decision train --game tictactoe --preset tiny --minutes 2 --out models/ttt

    Example, both cores of a 2-core machine: bigmodel decision train --game connect4 --preset small --minutes 60 --workers 2 --threads 2 --out models/c4
    """
    from bigmodel.errors import BigModelError
    from bigmodel.families.decision import alphazero

    if resume:
        run = alphazero.resume(out, game, generations, minutes, threads, workers)
    else:
        if game is None:
            raise BigModelError(f"--game is needed to start training: one of {GAME_NAMES}")
        settings = alphazero.default_settings(
            game,
            preset=preset,
            generations=generations,
            minutes=minutes,
            games_per_generation=games,
            simulations=simulations,
            train_steps=train_steps,
            arena_games=arena_games,
            gate=gate,
            search_value_share=search_value_share,
            learning_rate_end=learning_rate_end,
            window_start=window_start,
            seed=seed,
            workers=workers,
        )
        run = alphazero.train(settings, out, threads)
    facts = run.card_extra()
    if json_output:
        print(json.dumps({"out": str(out), **facts}, indent=2))
    else:
        print(f"{out}: {facts['game']}, generation {facts['generation']}, best generation {facts['best_generation']}, "
              f"Elo {facts['elo']:+.0f}, {facts['training_seconds']:.0f} s")


def move(
    model_dir: Path = typer.Argument(..., help="A decision model directory."),
    position: str = typer.Option(..., "--position", help="Rows top first, '/' between, x o . e.g. 'x.o/.x./...'."),
    simulations: int | None = typer.Option(None, "--simulations", help="MCTS simulations (default 4x training's)."),
    game: str | None = typer.Option(None, "--game", help="Refuse a model of another game."),
    threads: int = typer.Option(1, "--threads", min=1),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
    json_output: bool = typer.Option(False, "--json", help="Print the analysis as JSON."),
) -> None:
    """The best move for a position, with the model's value estimate and its top moves.

    Example: bigmodel decision move models/ttt --position 'x.o/.x./...' --json
    """
    import torch

    from bigmodel.families.decision.alphazero import torch_threads
    from bigmodel.families.decision.model import load_model
    from bigmodel.families.decision.mcts import NetEvaluator
    from bigmodel.families.decision.play import analyse, explain

    torch.manual_seed(seed)
    rules, net, card = load_model(model_dir, game)
    state = rules.parse_position(position)
    with torch_threads(threads):
        analysis = analyse(rules, NetEvaluator(net, rules), state, _simulations(simulations, card))
    if json_output:
        print(json.dumps(analysis, indent=2))
    else:
        print(rules.render(state))
        print(f"best move for {analysis['to_move']}: {analysis['move']}")
        print(explain(analysis))


def evaluate(
    model_dir: Path = typer.Argument(..., help="A decision model directory."),
    simulations: int | None = typer.Option(
        None, "--simulations", help="The agent's MCTS simulations per move (default: as many as the opponent's)."
    ),
    opponent_simulations: int = typer.Option(1000, "--opponent-simulations", help="Pure MCTS (random rollouts) simulations per move."),
    games: int = typer.Option(10, "--games", help="Games against pure MCTS, both colours equally often."),
    positions: int = typer.Option(50, "--positions", help="Connect Four: held-out self-play positions labelled by the exact solver."),
    threads: int = typer.Option(1, "--threads", min=1),
    workers: int = typer.Option(1, "--workers", help="Processes sharing the games against pure MCTS, one core each."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
    json_output: bool = typer.Option(False, "--json", help="Print the measurements as JSON."),
) -> None:
    """Measure a decision model against references that do not learn.

    Tic-tac-toe: every game against a perfect minimax player and against any reply (exhaustive).
    Connect Four: the share of held-out positions where the network's move is solver-optimal, and
    wins against pure MCTS. Other games: wins against pure MCTS.

    Example: bigmodel decision evaluate models/c4 --games 40 --workers 2 --json
    """
    import torch

    from bigmodel.errors import BigModelError
    from bigmodel.families.decision.alphazero import torch_threads
    from bigmodel.families.decision.evaluate import StrengthTest, strength
    from bigmodel.families.decision.model import load_model

    for name, value in (("--simulations", simulations), ("--opponent-simulations", opponent_simulations),
                        ("--games", games), ("--positions", positions), ("--threads", threads), ("--workers", workers)):
        if value is not None and value <= 0:
            raise BigModelError(f"{name} must be positive, found {value}")
    torch.manual_seed(seed)
    rules, net, card = load_model(model_dir)
    test = StrengthTest(simulations, opponent_simulations, games, positions,
                        explorer_simulations=(card.extra.get("simulations") if card else None) or 100, seed=seed)
    with torch_threads(threads):
        measured = strength(rules, net, test, workers)
    if json_output:
        print(json.dumps(measured, indent=2))
        return
    print(f"{model_dir}: {rules.name}, agent at {test.agent_simulations} simulations per move")
    if "losses_vs_minimax" in measured:
        print(f"  losses against a perfect minimax player (every game, both colours): {measured['losses_vs_minimax']}")
        print(f"  losses against any legal reply: {measured['losses_vs_any_reply']}")
        return
    if measured.get("solver_move_accuracy") is not None:
        low, high = measured["solver_move_accuracy_95"]
        print(f"  solver-optimal moves: {measured['solver_move_accuracy']:.1%} (95% interval {low:.1%}-{high:.1%}) of "
              f"{measured['informative_positions']} held-out positions where the choice matters")
    versus = measured["vs_pure_mcts"]
    print(f"  against {opponent_simulations}-simulation pure MCTS: {versus['wins']} wins, {versus['draws']} draws, "
          f"{versus['losses']} losses in {versus['games']} games ({versus['win_rate']:.1%} wins, 95% interval "
          f"{versus['win_rate_95'][0]:.1%}-{versus['win_rate_95'][1]:.1%})")
    for role in ("first", "second"):
        side = versus[f"as_{role}"]
        print(f"    as the {role} player: {side['wins']} wins, {side['draws']} draws, {side['losses']} losses in {side['games']}")


def play(
    model_dir: Path = typer.Argument(..., help="A decision model directory."),
    second: bool = typer.Option(False, "--second", help="Let the model move first."),
    explain_moves: bool = typer.Option(False, "--explain", help="Show the model's top moves and value estimate."),
    simulations: int | None = typer.Option(None, "--simulations", help="MCTS simulations (default 4x training's)."),
    game: str | None = typer.Option(None, "--game", help="Refuse a model of another game."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
) -> None:
    """Play a decision model in the terminal (illegal moves are asked again).

    Example: bigmodel play models/ttt --explain
    """
    import torch

    from bigmodel.families.decision.alphazero import torch_threads
    from bigmodel.families.decision.model import load_model
    from bigmodel.families.decision.play import play_terminal

    torch.manual_seed(seed)
    rules, net, card = load_model(model_dir, game)
    with torch_threads(1):
        play_terminal(rules, net, _simulations(simulations, card), not second, explain_moves)


def _simulations(requested: int | None, card) -> int:
    from bigmodel.errors import BigModelError

    if requested is not None:
        if requested <= 0:
            raise BigModelError("--simulations must be positive")
        return requested
    trained = (card.extra.get("simulations") if card else None) or 50
    return 4 * int(trained)


def register(app: typer.Typer) -> None:
    decision = typer.Typer(
        help="Decision models (AlphaZero): search and self-play that learn to win board games.\n\n"
        "Example: bigmodel decision train --game tictactoe --preset tiny --minutes 2 --out models/ttt",
        no_args_is_help=True,
    )
    decision.command("train")(train)
    decision.command("move")(move)
    decision.command("evaluate")(evaluate)
    app.add_typer(decision, name="decision")
    app.command("play")(play)
