"""Decision model directories: config.json (the network), model.safetensors, the card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bigmodel import checkpoint
from bigmodel.errors import BigModelError
from bigmodel.families.decision.games import Game, get_game
from bigmodel.families.decision.network import ARCHITECTURE, AlphaZeroNet, NetConfig


def write_model_files(directory: Path, net: AlphaZeroNet, extra: dict[str, Any], metrics: dict[str, Any]) -> None:
    """Weights, config and card of a decision model into `directory` (inside checkpoint.writing)."""
    checkpoint.save_tensors(directory, net.state_dict())
    checkpoint.write_json(directory / checkpoint.CONFIG_NAME, net.config.to_json())
    card = checkpoint.ModelCard(
        family="decision",
        task="game-playing",
        input_modalities=["game-state"],
        output_modalities=["action"],
        parameters=net.parameter_count(),
        architecture=ARCHITECTURE,
        data=[{"source": "self-play", "note": "no human games: trained only on its own games"}],
        metrics=metrics,
        extra=extra,
    )
    checkpoint.write_card(directory, card)


def load_model(model_dir: str | Path, game: str | None = None) -> tuple[Game, AlphaZeroNet, checkpoint.ModelCard | None]:
    """The game, network (in eval mode) and card of a decision model directory.

    `game`, when given, must be the game the model plays ("DIR plays connect4, not gomoku9")."""
    model_dir = Path(model_dir)
    checkpoint.require_family(model_dir, {"decision"}, "a decision (game-playing) model")
    config = NetConfig.from_json(checkpoint.read_config(model_dir), where=str(model_dir / checkpoint.CONFIG_NAME))
    if game is not None and config.game != game:
        get_game(game)  # an unknown name gets the list of games instead
        raise BigModelError(f"{model_dir} plays {config.game}, not {game}")
    rules = get_game(config.game)
    if (config.rows, config.cols, config.action_size) != (rules.rows, rules.cols, rules.action_size):
        raise BigModelError(f"{model_dir / checkpoint.CONFIG_NAME}: board shape does not match {config.game}")
    net = AlphaZeroNet(config)
    tensors = checkpoint.load_tensors(model_dir)
    try:
        net.load_state_dict(tensors)
    except RuntimeError as err:
        raise BigModelError(f"{model_dir}: weights do not fit config.json ({str(err).splitlines()[0]})") from None
    return rules, net.eval(), checkpoint.read_card(model_dir)
