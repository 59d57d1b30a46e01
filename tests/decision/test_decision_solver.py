"""The exact Connect Four solver against brute force and hand-made positions."""

import functools

from bigmodel.families.decision.games import GAMES
from bigmodel.families.decision.solver import CELLS, Solver

C4 = GAMES["connect4"]


@functools.cache
def brute_force(state):
    """Plain minimax with Pons' scores: no pruning, no table, no ordering."""
    if state.value is not None:
        return 0 if state.value == 0 else -((CELLS + 2 - state.moves) // 2)
    return max(-brute_force(C4.apply(state, a)) for a in C4.legal_moves(state))


def test_solver_matches_brute_force_on_endgames(random_positions):
    solver = Solver()
    for state in random_positions(C4, 40, seed=1, fewest=30, most=34):
        exact = brute_force(state)
        assert solver.score(state) == exact, C4.format_position(state)
        assert solver.score(state, weak=True) == (exact > 0) - (exact < 0)
        best = {a for a in C4.legal_moves(state) if -brute_force(C4.apply(state, a)) == exact}
        assert {a for a, s in solver.move_scores(state).items() if s == exact} == best


def test_solver_on_hand_made_positions():
    solver = Solver()
    # x to move wins at once in column 4, with its 4th stone: score (43 - 6) // 2 = 18.
    win_now = C4.parse_position("......./......./......./...x.../...xo../...xoo.")
    assert solver.score(win_now) == 18
    # o to move must block x's three in a row in column 4: every other move loses at once.
    must_block = C4.parse_position("......./......./......./......./......./xxx.oo.")
    for col in C4.legal_moves(must_block):
        if col != 3:
            assert solver.score(C4.apply(must_block, col)) == (CELLS + 1 - 6) // 2  # x wins next move


def test_double_threat_is_a_loss():
    # o has ".ooo." on the bottom row open at both ends and x cannot win at once: x loses.
    state = C4.parse_position("......./......./......./......./.xxx.../.ooo...")
    assert Solver().score(state, weak=True) == -1
