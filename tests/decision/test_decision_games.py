"""Rules of the games: wins, draws, legality, positions as text, symmetries."""

import numpy as np
import pytest

from bigmodel.errors import BigModelError
from bigmodel.families.decision.games import GAMES, get_game


def play(game, moves):
    state = game.initial_state()
    for move in moves:
        state = game.apply(state, game.parse_move(move, state))
    return state


@pytest.mark.parametrize(
    "name, moves, value",
    [
        ("tictactoe", ["a3", "a2", "b3", "b2", "c3"], -1.0),  # top row
        ("tictactoe", ["a1", "b1", "a2", "b2", "c3", "b3"], -1.0),  # o completes column b
        ("tictactoe", ["b2", "a1", "c3", "a3", "a2", "c2", "b1", "b3", "c1"], 0.0),  # full board, no line
        ("connect4", ["4", "5", "4", "5", "4", "5", "4"], -1.0),  # vertical
        ("connect4", ["1", "1", "2", "2", "3", "3", "4"], -1.0),  # horizontal
        ("connect4", ["1", "2", "2", "3", "3", "4", "3", "4", "4", "7", "4"], -1.0),  # diagonal /
        ("gomoku9", ["a1", "a2", "b1", "b2", "c1", "c2", "d1", "d2", "e1"], -1.0),
    ],
)
def test_games_end_with_the_right_result(name, moves, value):
    game = GAMES[name]
    state = play(game, moves[:-1])
    assert state.value is None
    assert play(game, moves).value == value


def test_connect4_full_column_and_gomoku15_size():
    game = GAMES["connect4"]
    state = play(game, ["1"] * 6)
    assert not game.legal_mask(state)[0] and game.legal_mask(state)[1:].all()
    with pytest.raises(BigModelError, match="not legal"):
        game.parse_move("1", state)
    assert GAMES["gomoku15"].action_size == 225


@pytest.mark.parametrize("name", list(GAMES))
def test_position_text_round_trips_and_canonical_planes(name):
    game = GAMES[name]
    rng = np.random.default_rng(0)
    state = game.initial_state()
    for _ in range(5):
        state = game.apply(state, int(rng.choice(game.legal_moves(state))))
    again = game.parse_position(game.format_position(state))
    assert game.key(again) == game.key(state) and again.moves == state.moves
    planes = game.canonical(state)
    assert planes.shape == (3, game.rows, game.cols)
    assert planes[0].sum() == 2 and planes[1].sum() == 3  # o to move: 2 of its stones, 3 of x's
    assert game.render(state).count("x") == 3


def test_connect4_bitboards_unpack_to_the_stones_dropped_for_a_whole_batch():
    """The search's leaves are unpacked from bitboards 64 at a time; each must show the stones
    the moves dropped (counted here by hand), from the mover's side, as must the board."""
    game, rng = GAMES["connect4"], np.random.default_rng(1)
    states, dropped = [], []
    for plies in range(0, 40, 3):
        state, board = game.initial_state(), np.zeros((6, 7), dtype=np.int8)
        for ply in range(plies):
            if state.value is None:
                column = int(rng.choice(game.legal_moves(state)))
                board[5 - int((board[:, column] != 0).sum()), column] = 1 + ply % 2
                state = game.apply(state, column)
        states.append(state)
        dropped.append(board)
    planes = game.canonical_batch(states)
    assert planes.shape == (len(states), 3, 6, 7) and planes.dtype == np.float32
    for state, board, plane in zip(states, dropped, planes):
        mover = 1 + game.current_player(state)
        assert (game.board(state) == board).all()
        assert (plane[0] == (board == mover)).all() and (plane[1] == (board == 3 - mover)).all()
        assert (plane[2] == 1).all() and (game.canonical(state) == plane).all()


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("tictactoe", "xx./.../...", "x must equal o or o \\+ 1"),
        ("tictactoe", "x../...", "3 rows"),
        ("tictactoe", "xo/.../...", "row 1 has 2 cells"),
        ("tictactoe", "x?./.../...", "unexpected '\\?'"),
        ("tictactoe", "xxx/oo./oo.", "x must equal o"),
        ("tictactoe", "ooo/xx./xx.", "player to move already has a winning line"),
        ("connect4", "......./......./......./...x.../......./...o...", "floating"),
    ],
)
def test_bad_positions_are_refused_with_a_clear_message(name, text, message):
    with pytest.raises(BigModelError, match=message):
        GAMES[name].parse_position(text)


@pytest.mark.parametrize(
    "name, text, message",
    [("tictactoe", "d1", "column letter"), ("tictactoe", "a4", "out of range"), ("connect4", "8", "out of range"), ("connect4", "x", "column number")],
)
def test_bad_moves_are_refused(name, text, message):
    game = GAMES[name]
    with pytest.raises(BigModelError, match=message):
        game.parse_move(text, game.initial_state())
    with pytest.raises(BigModelError, match="unknown game"):
        get_game("chess")


@pytest.mark.parametrize("name", ["tictactoe", "connect4", "gomoku9"])
def test_symmetries_map_positions_and_policies_together(name):
    """A symmetric image of a position with one stone has its policy mass on that stone's image."""
    game = GAMES[name]
    state = game.apply(game.initial_state(), 0)
    planes = game.canonical(state)[None]
    policy = np.zeros((1, game.action_size), dtype=np.float32)
    policy[0, 0] = 1.0
    variants = game.symmetries(planes, policy)
    assert len(variants) == (2 if name == "connect4" else 8)
    for p, pi in variants:
        stone = np.argwhere(p[0, 1])[0]  # the x stone, seen from o's side
        target = stone[1] if name == "connect4" else stone[0] * game.cols + stone[1]
        assert pi[0].argmax() == target
