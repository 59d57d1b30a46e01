"""An exact Connect Four solver: negamax with alpha-beta, bitboards, a transposition table and
move ordering, after Pascal Pons' solver (http://blog.gamesolver.org).

Scores follow Pons: positive when the player to move can force a win (1 when it wins with its
last possible stone, 2 with the one before, and so on), negative likewise for a forced loss, 0 for
a draw. A "weak" solve only tells win (+1), draw (0) or loss (-1), and is much faster.
"""

from __future__ import annotations

from bigmodel.families.decision.games import (
    C4_BOARD,
    C4_BOTTOM,
    C4_COLS,
    C4_COLUMN,
    C4_COLUMN_BOTTOM,
    C4_ROWS,
    C4_STRIDE,
    C4_TOP,
    BitState,
    c4_has_four,
)

CELLS = C4_ROWS * C4_COLS
COLUMN_ORDER = sorted(range(C4_COLS), key=lambda c: abs(c - C4_COLS // 2))  # centre first
TABLE_LIMIT = 4_000_000  # entries; the table is cleared when full, which only costs speed


def _winning_cells(position: int, mask: int) -> int:
    """Empty cells that would complete four in a row for `position`'s owner."""
    s = C4_STRIDE
    r = (position << 1) & (position << 2) & (position << 3)  # vertical
    for shift in (s, s - 1, s + 1):  # horizontal and both diagonals
        p = (position << shift) & (position << 2 * shift)
        r |= p & (position << 3 * shift)
        r |= p & (position >> shift)
        p = (position >> shift) & (position >> 2 * shift)
        r |= p & (position << shift)
        r |= p & (position >> 3 * shift)
    return r & (C4_BOARD ^ mask)


class Solver:
    """Solves positions exactly; keeps its transposition table between calls."""

    def __init__(self) -> None:
        self.table: dict[int, int] = {}
        self.nodes = 0

    def score(self, state: BitState, weak: bool = False) -> int:
        """The exact score of a position for the player to move (weak: its sign only)."""
        if state.value is not None:
            return 0 if state.value == 0 else -((CELLS + 2 - state.moves) // 2)
        current, mask, moves = state.current, state.mask, state.moves
        if _winning_cells(current, mask) & ((mask + C4_BOTTOM) & C4_BOARD):
            return 1 if weak else (CELLS + 1 - moves) // 2
        low, high = (-1, 1) if weak else (-((CELLS - moves) // 2), (CELLS + 1 - moves) // 2)
        while low < high:  # null-window searches narrow [low, high] onto the score
            middle = low + (high - low) // 2
            if middle <= 0 and int(low / 2) < middle:
                middle = int(low / 2)
            elif middle >= 0 and int(high / 2) > middle:
                middle = int(high / 2)
            result = self._negamax(current, mask, moves, middle, middle + 1)
            if result <= middle:
                high = result
            else:
                low = result
        return (low > 0) - (low < 0) if weak else low

    def move_scores(self, state: BitState, weak: bool = False) -> dict[int, int]:
        """The score of each legal move, for the player making it."""
        scores = {}
        for col in range(C4_COLS):
            if state.mask & C4_TOP[col] == 0:
                opponent = state.current ^ state.mask
                mask = state.mask | (state.mask + C4_COLUMN_BOTTOM[col])
                if c4_has_four(opponent ^ mask):
                    scores[col] = 1 if weak else (CELLS + 1 - state.moves) // 2
                else:
                    value = 0.0 if state.moves + 1 == CELLS else None
                    scores[col] = -self.score(BitState(opponent, mask, state.moves + 1, value), weak)
        return scores

    def best_moves(self, state: BitState, weak: bool = True) -> set[int]:
        """The moves that keep the best reachable result (weak: win > draw > loss)."""
        scores = self.move_scores(state, weak)
        best = max(scores.values())
        return {col for col, score in scores.items() if score == best}

    def _negamax(self, current: int, mask: int, moves: int, alpha: int, beta: int) -> int:
        """Score within (alpha, beta) of a position where the player to move cannot win at once."""
        self.nodes += 1
        possible = (mask + C4_BOTTOM) & C4_BOARD
        opponent_wins = _winning_cells(current ^ mask, mask)
        forced = possible & opponent_wins
        if forced:
            if forced & (forced - 1):  # two threats to block: lost
                return -((CELLS - moves) // 2)
            possible = forced
        candidates = possible & ~(opponent_wins >> 1)  # never play under an opponent's threat
        if not candidates:
            return -((CELLS - moves) // 2)
        if moves >= CELLS - 2:
            return 0
        low = -((CELLS - 2 - moves) // 2)  # the opponent cannot win on their next move
        if alpha < low:
            alpha = low
            if alpha >= beta:
                return alpha
        high = (CELLS - 1 - moves) // 2  # we cannot win at once
        key = current + mask
        stored = self.table.get(key)
        if stored is not None:
            high = stored
        if beta > high:
            beta = high
            if alpha >= beta:
                return beta
        ordered = []
        for col in COLUMN_ORDER:
            move = candidates & C4_COLUMN[col]
            if move:
                threats = _winning_cells(current | move, mask).bit_count()
                ordered.append((-threats, len(ordered), move))
        ordered.sort()
        for _, _, move in ordered:
            new_mask = mask | move
            score = -self._negamax(current ^ mask, new_mask, moves + 1, -beta, -alpha)
            if score >= beta:
                return score
            alpha = max(alpha, score)
        if len(self.table) >= TABLE_LIMIT:
            self.table.clear()
        self.table[key] = alpha  # an upper bound: every move scored at most alpha
        return alpha
