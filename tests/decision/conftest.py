"""The decision family's shared fixture: a tic-tac-toe AlphaZero trained once per session."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tictactoe_model(tmp_path_factory) -> Path:
    """Three generations of the default tic-tac-toe loop: as briefly as the strength tests allow."""
    from bigmodel.families.decision.alphazero import default_settings, train

    out = tmp_path_factory.mktemp("decision") / "alphazero-tictactoe"
    train(default_settings("tictactoe", generations=3, seed=0), out)
    return out
