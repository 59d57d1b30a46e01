"""Using a trained agent: the best move for a position, and a game against a human."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bigmodel.errors import BigModelError
from bigmodel.families.decision.games import STONE_CHARS, Game, State
from bigmodel.families.decision.mcts import (
    AGENT_IN_FLIGHT,
    MCTSAgent,
    NetEvaluator,
    SearchConfig,
)
from bigmodel.families.decision.network import AlphaZeroNet

PROVEN = {1.0: "win", 0.0: "draw", -1.0: "loss"}  # a proven value, for the player to move


def analyse(game: Game, evaluator: NetEvaluator, state: State, simulations: int, top: int = 5) -> dict[str, Any]:
    """Search a position with a model's evaluator (made once per model, not per position): the
    move to play, the value for the player to move (and whether the search proved it: "win",
    "draw", "loss", or None), the top moves."""
    if state.value is not None:
        outcome = "a draw" if state.value == 0 else f"won by {STONE_CHARS[2 - game.current_player(state)]}"
        raise BigModelError(f"position {game.format_position(state)!r} is over ({outcome}); there is no move")
    agent = MCTSAgent(game, evaluator, SearchConfig(simulations, in_flight=AGENT_IN_FLIGHT))
    root = agent.search([state])[0]
    weights = root.move_weights()
    order = sorted(game.legal_moves(state), key=lambda a: (-weights[a], -root.visits[a], -root.priors[a]))
    total = root.visits.sum()
    return {
        "game": game.name,
        "position": game.format_position(state),
        "to_move": STONE_CHARS[1 + game.current_player(state)],
        "move": game.format_move(order[0]),
        "action": order[0],
        "value": round(root.value(), 4),
        "proven": PROVEN.get(root.proven),
        "simulations": simulations,
        "top_moves": [
            {
                "move": game.format_move(a),
                "visits": int(root.visits[a]),
                "share": round(float(root.visits[a] / total), 4),
                "prior": round(float(root.priors[a]), 4),
            }
            for a in order[:top]
        ],
    }


def explain(analysis: dict[str, Any]) -> str:
    moves = "  ".join(f"{m['move']} {m['share']:.0%} (prior {m['prior']:.0%})" for m in analysis["top_moves"])
    proof = f" (a proven {analysis['proven']})" if analysis["proven"] else ""
    return f"value for {analysis['to_move']}: {analysis['value']:+.2f}{proof}   top moves: {moves}"


def play_terminal(
    game: Game,
    net: AlphaZeroNet,
    simulations: int,
    human_first: bool,
    show_explanation: bool,
    read: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
) -> str:
    """A human plays the model; moves are read from `read`. Returns "human", "model" or "draw"."""
    state = game.initial_state()
    evaluator = NetEvaluator(net, game)
    human = 0 if human_first else 1
    write(f"{game.title}: you play {STONE_CHARS[1 + human]}; moves like {game.move_example()}; q quits.")
    while state.value is None:
        write("")
        write(game.render(state))
        if game.current_player(state) == human:
            while True:
                try:
                    text = read(f"your move ({STONE_CHARS[1 + human]}): ")
                except EOFError:
                    raise BigModelError("input ended before the game did") from None
                if text.strip().lower() in ("q", "quit", "exit"):
                    write("you resigned")
                    return "model"
                try:
                    action = game.parse_move(text, state)
                    break
                except BigModelError as err:
                    write(f"{err}; try again")
        else:
            analysis = analyse(game, evaluator, state, simulations)
            action = analysis["action"]
            write(f"model plays {analysis['move']}")
            if show_explanation:
                write(explain(analysis))
        state = game.apply(state, action)
    write("")
    write(game.render(state))
    if state.value == 0:
        write("draw")
        return "draw"
    winner = 1 - game.current_player(state)
    write("you win" if winner == human else "the model wins")
    return "human" if winner == human else "model"
