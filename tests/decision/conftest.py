"""The decision family's shared fixtures: a tic-tac-toe AlphaZero trained once per session, and
unfinished positions reached by random play."""

import random
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tictactoe_model(tmp_path_factory) -> Path:
    """Six generations of the default tic-tac-toe loop: as briefly as the strength tests allow on
    any CPU (three lost one game of 47 where training runs in bfloat16; six lost none in eight
    runs, seeds 0-3, bfloat16 and float32)."""
    from bigmodel.families.decision.alphazero import default_settings, train

    out = tmp_path_factory.mktemp("decision") / "alphazero-tictactoe"
    train(default_settings("tictactoe", generations=6, seed=0), out)
    return out


@pytest.fixture
def random_positions():
    """random_positions(game, count, seed, fewest, most): unfinished positions after `fewest` to
    `most` random legal moves."""

    def make(game, count: int, seed: int, fewest: int, most: int) -> list:
        rng = random.Random(seed)
        found = []
        while len(found) < count:
            state = game.initial_state()
            for _ in range(rng.randint(fewest, most)):
                if state.value is not None:
                    break
                state = game.apply(state, rng.choice(game.legal_moves(state)))
            if state.value is None:
                found.append(state)
        return found

    return make
