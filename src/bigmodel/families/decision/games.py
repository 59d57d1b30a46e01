"""Two-player, zero-sum, perfect-information board games behind one `Game` interface.

A state is immutable and knows how the game stands for the player to move: `state.value` is
None while the game goes on, -1.0 when the player who just moved has won, 0.0 for a draw.
Positions are written as text, top row first, rows separated by "/", with "x" for the first
player's stones, "o" for the second's and "." for empty points (Connect Four: "......./..." ).
The player to move follows from the stone counts.

Grid games (tic-tac-toe, Gomoku) store the board as bytes and look for a line only around the
last stone; Connect Four uses bitboards (one bit per cell, a sentinel bit on top of each column)
so that moves, legality and wins are a few integer operations, which the exact solver shares.
"""

from __future__ import annotations

import dataclasses
import string
from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence

import numpy as np

from bigmodel.errors import BigModelError

STONE_CHARS = ".xo"  # empty, first player, second player
INPUT_PLANES = 3  # the mover's stones, the opponent's stones, a plane of ones (marks the board edge)


@dataclasses.dataclass(frozen=True, slots=True)
class GridState:
    board: bytes  # one byte per point, row-major from the top: 0 empty, 1 first player, 2 second
    moves: int  # plies played; the first player moves when it is even
    value: float | None  # for the player to move: None while playing, -1.0 lost, 0.0 draw


@dataclasses.dataclass(frozen=True, slots=True)
class BitState:
    current: int  # bitboard of the stones of the player to move
    mask: int  # bitboard of all stones
    moves: int
    value: float | None


State = GridState | BitState


class Game(ABC):
    """The rules of one game. Actions are integers in [0, action_size)."""

    name: str
    title: str
    rows: int
    cols: int
    action_size: int
    dirichlet_alpha: float  # root noise concentration, about 10 / typical number of legal moves

    @abstractmethod
    def initial_state(self) -> State: ...

    @abstractmethod
    def legal_mask(self, state: State) -> np.ndarray:
        """Boolean array of shape (action_size,)."""

    @abstractmethod
    def apply(self, state: State, action: int) -> State:
        """The state after `action`, which must be legal."""

    @abstractmethod
    def board(self, state: State) -> np.ndarray:
        """(rows, cols) int8 array, top row first: 0 empty, 1 first player, 2 second player."""

    @abstractmethod
    def from_board(self, board: np.ndarray) -> State:
        """The state of a validated board (raises BigModelError on an impossible one)."""

    @abstractmethod
    def symmetries(self, planes: np.ndarray, policy: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every symmetry of a batch: planes (B, C, rows, cols), policy (B, action_size)."""

    @abstractmethod
    def format_move(self, action: int) -> str: ...

    @abstractmethod
    def parse_move_text(self, text: str) -> int:
        """The action a move's text names, or BigModelError; legality is checked by parse_move."""

    @abstractmethod
    def move_example(self) -> str: ...

    # -- shared behaviour ------------------------------------------------------------------

    def legal_moves(self, state: State) -> list[int]:
        return np.flatnonzero(self.legal_mask(state)).tolist()

    def current_player(self, state: State) -> int:
        """0 for the first player (x), 1 for the second (o)."""
        return state.moves % 2

    @abstractmethod
    def key(self, state: State) -> Hashable:
        """A hashable identity of the position (for memoising searches)."""

    def canonical(self, state: State) -> np.ndarray:
        """Network input from the mover's point of view: (INPUT_PLANES, rows, cols) float32."""
        return self.canonical_batch([state])[0]

    def canonical_batch(self, states: Sequence[State]) -> np.ndarray:
        """`canonical` of each state, stacked: (B, INPUT_PLANES, rows, cols) float32."""
        boards = np.stack([self.board(s) for s in states])
        mine = 1 + np.array([self.current_player(s) for s in states], dtype=np.int8)[:, None, None]
        planes = np.empty((len(states), INPUT_PLANES, self.rows, self.cols), dtype=np.float32)
        planes[:, 0] = boards == mine
        planes[:, 1] = boards == 3 - mine
        planes[:, 2] = 1.0
        return planes

    def render(self, state: State) -> str:
        board = self.board(state)
        width = len(str(self.rows))
        lines = [
            f"{self.rows - r:>{width}} " + " ".join(STONE_CHARS[v] for v in board[r]) for r in range(self.rows)
        ]
        lines.append(" " * (width + 1) + " ".join(string.ascii_lowercase[: self.cols]))
        return "\n".join(lines)

    def format_position(self, state: State) -> str:
        return "/".join("".join(STONE_CHARS[v] for v in row) for row in self.board(state))

    def parse_position(self, text: str) -> State:
        """A state from its text (see the module docstring); BigModelError names what is wrong."""
        rows = text.strip().lower().split("/")
        if len(rows) != self.rows:
            raise BigModelError(
                f"position {text!r}: {self.title} has {self.rows} rows separated by '/', found {len(rows)}"
            )
        for number, row in enumerate(rows, 1):
            if len(row) != self.cols:
                raise BigModelError(f"position {text!r}: row {number} has {len(row)} cells, expected {self.cols}")
            bad = sorted(set(row) - set(STONE_CHARS))
            if bad:
                raise BigModelError(f"position {text!r}: unexpected {bad[0]!r} in row {number}; use x, o or .")
        board = np.array([[STONE_CHARS.index(c) for c in row] for row in rows], dtype=np.int8)
        x, o = int((board == 1).sum()), int((board == 2).sum())
        if x not in (o, o + 1):
            raise BigModelError(
                f"position {text!r}: {x} x and {o} o stones; x moves first, so x must equal o or o + 1"
            )
        return self.from_board(board)

    def parse_move(self, text: str, state: State) -> int:
        """A legal action from a move's text, or BigModelError saying why not."""
        action = self.parse_move_text(text.strip().lower())
        if state.value is not None:
            raise BigModelError("the game is over; there is no move to make")
        if not self.legal_mask(state)[action]:
            raise BigModelError(f"move {text.strip()!r} is not legal here (that point is taken or full)")
        return action

    def _check_winners(self, board: np.ndarray, moves: int) -> float | None:
        """The value for the player to move of a parsed board, refusing impossible wins."""
        mover_won = [self._has_line(board, stone) for stone in (1, 2)]
        just_moved = 2 - moves % 2  # stone of the player who made the last move
        if mover_won[2 - just_moved]:
            raise BigModelError("position: the player to move already has a winning line; the game ended earlier")
        if mover_won[just_moved - 1]:
            return -1.0
        return 0.0 if moves == self.rows * self.cols else None

    def _has_line(self, board: np.ndarray, stone: int) -> bool:
        raise NotImplementedError


class GridGame(Game):
    """Place a stone on any empty point; `win_length` in a row (or more) wins."""

    win_length: int

    def __init__(self, name: str, title: str, size: int, win_length: int, dirichlet_alpha: float) -> None:
        self.name, self.title = name, title
        self.rows = self.cols = size
        self.action_size = size * size
        self.win_length = win_length
        self.dirichlet_alpha = dirichlet_alpha

    def initial_state(self) -> GridState:
        return GridState(bytes(self.action_size), 0, None)

    def legal_mask(self, state: GridState) -> np.ndarray:
        if state.value is not None:
            return np.zeros(self.action_size, dtype=bool)
        return np.frombuffer(state.board, dtype=np.uint8) == 0

    def key(self, state: GridState) -> Hashable:
        return state.board

    def board(self, state: GridState) -> np.ndarray:
        return np.frombuffer(state.board, dtype=np.uint8).reshape(self.rows, self.cols).astype(np.int8)

    def apply(self, state: GridState, action: int) -> GridState:
        stone = 1 + state.moves % 2
        board = state.board[:action] + bytes((stone,)) + state.board[action + 1 :]
        moves = state.moves + 1
        if self._line_through(board, action, stone):
            value: float | None = -1.0
        else:
            value = 0.0 if moves == self.action_size else None
        return GridState(board, moves, value)

    def _line_through(self, board: bytes, action: int, stone: int) -> bool:
        size, need = self.cols, self.win_length
        row, col = divmod(action, size)
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
            count = 1
            for sign in (1, -1):
                r, c = row + sign * dr, col + sign * dc
                while 0 <= r < size and 0 <= c < size and board[r * size + c] == stone:
                    count += 1
                    r, c = r + sign * dr, c + sign * dc
            if count >= need:
                return True
        return False

    def _has_line(self, board: np.ndarray, stone: int) -> bool:
        flat = board.astype(np.uint8).tobytes()
        return any(flat[a] == stone and self._line_through(flat, a, stone) for a in range(self.action_size))

    def from_board(self, board: np.ndarray) -> GridState:
        moves = int((board != 0).sum())
        value = self._check_winners(board, moves)
        return GridState(board.astype(np.uint8).tobytes(), moves, value)

    def symmetries(self, planes: np.ndarray, policy: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        grid = policy.reshape(len(policy), self.rows, self.cols)
        out = []
        for flip in (False, True):
            p, g = (planes[..., ::-1], grid[..., ::-1]) if flip else (planes, grid)
            for turns in range(4):
                out.append(
                    (
                        np.ascontiguousarray(np.rot90(p, turns, axes=(2, 3))),
                        np.ascontiguousarray(np.rot90(g, turns, axes=(1, 2))).reshape(len(policy), -1),
                    )
                )
        return out

    def format_move(self, action: int) -> str:
        row, col = divmod(action, self.cols)
        return f"{string.ascii_lowercase[col]}{self.rows - row}"

    def parse_move_text(self, text: str) -> int:
        letters = string.ascii_lowercase[: self.cols]
        if len(text) < 2 or text[0] not in letters or not text[1:].isdigit():
            raise BigModelError(
                f"move {text!r}: expected a column letter a-{letters[-1]} and a row number 1-{self.rows}, "
                f"e.g. {self.move_example()}"
            )
        row_number = int(text[1:])
        if not 1 <= row_number <= self.rows:
            raise BigModelError(f"move {text!r}: row {row_number} is out of range 1-{self.rows}")
        return (self.rows - row_number) * self.cols + letters.index(text[0])

    def move_example(self) -> str:
        return f"{string.ascii_lowercase[self.cols // 2]}{self.rows // 2 + 1}"


# Connect Four bitboards (the layout of Pascal Pons' solver): bit (col * 7 + row), row 0 at the
# bottom, row 6 of every column a sentinel that is never set, so shifted lines never wrap.
C4_ROWS, C4_COLS = 6, 7
C4_STRIDE = C4_ROWS + 1
C4_BOTTOM = sum(1 << (col * C4_STRIDE) for col in range(C4_COLS))
C4_BOARD = C4_BOTTOM * ((1 << C4_ROWS) - 1)
C4_TOP = [1 << (C4_ROWS - 1 + col * C4_STRIDE) for col in range(C4_COLS)]
C4_COLUMN_BOTTOM = [1 << (col * C4_STRIDE) for col in range(C4_COLS)]
C4_COLUMN = [((1 << C4_ROWS) - 1) << (col * C4_STRIDE) for col in range(C4_COLS)]


def c4_has_four(position: int) -> bool:
    """Whether a bitboard holds four in a row (vertical, horizontal or either diagonal)."""
    for shift in (1, C4_STRIDE, C4_STRIDE - 1, C4_STRIDE + 1):
        pairs = position & (position >> shift)
        if pairs & (pairs >> (2 * shift)):
            return True
    return False


def c4_bits_to_boards(bitboards: Sequence[int] | Sequence[Sequence[int]]) -> np.ndarray:
    """(..., 6, 7) 0/1 arrays, top row first, of bitboards given as nested sequences of ints:
    all unpacked in one call (the search's leaves arrive 64 at a time)."""
    bits = np.asarray(bitboards, dtype="<u8")
    cells = np.unpackbits(bits[..., None].view(np.uint8), axis=-1, bitorder="little")
    cells = cells[..., : C4_COLS * C4_STRIDE].reshape(*bits.shape, C4_COLS, C4_STRIDE)[..., :C4_ROWS]
    return np.swapaxes(cells, -1, -2)[..., ::-1, :]  # (col, row from the bottom) -> rows from the top


class ConnectFour(Game):
    """Drop a stone into one of 7 columns of a 6-row board; four in a row wins."""

    name, title = "connect4", "Connect Four"
    rows, cols, action_size = C4_ROWS, C4_COLS, C4_COLS
    dirichlet_alpha = 1.0

    def initial_state(self) -> BitState:
        return BitState(0, 0, 0, None)

    def legal_mask(self, state: BitState) -> np.ndarray:
        if state.value is not None:
            return np.zeros(C4_COLS, dtype=bool)
        return np.array([state.mask & top == 0 for top in C4_TOP])

    def key(self, state: BitState) -> Hashable:
        return state.current + state.mask  # unique per position (Pons)

    def apply(self, state: BitState, action: int) -> BitState:
        opponent = state.current ^ state.mask  # the player to move next
        mask = state.mask | (state.mask + C4_COLUMN_BOTTOM[action])
        moves = state.moves + 1
        if c4_has_four(opponent ^ mask):  # the mover's stones, the new one included
            value: float | None = -1.0
        else:
            value = 0.0 if moves == C4_ROWS * C4_COLS else None
        return BitState(opponent, mask, moves, value)

    def canonical_batch(self, states: Sequence[BitState]) -> np.ndarray:
        planes = np.empty((len(states), INPUT_PLANES, C4_ROWS, C4_COLS), dtype=np.float32)
        planes[:, :2] = c4_bits_to_boards([(s.current, s.current ^ s.mask) for s in states])
        planes[:, 2] = 1.0
        return planes

    def board(self, state: BitState) -> np.ndarray:
        mine, theirs = c4_bits_to_boards([state.current, state.current ^ state.mask]).astype(np.int8)
        me = 1 + self.current_player(state)
        return mine * me + theirs * (3 - me)

    def from_board(self, board: np.ndarray) -> BitState:
        first = second = 0
        for col in range(C4_COLS):
            column = board[::-1, col]  # bottom first
            height = int((column != 0).sum())
            if (column[height:] != 0).any():
                raise BigModelError(f"position: column {col + 1} has a stone floating above an empty cell")
            for row in range(height):
                bit = 1 << (col * C4_STRIDE + row)
                if column[row] == 1:
                    first |= bit
                else:
                    second |= bit
        moves = int((board != 0).sum())
        value = self._check_winners(board, moves)
        current = first if moves % 2 == 0 else second
        return BitState(current, first | second, moves, value)

    def _has_line(self, board: np.ndarray, stone: int) -> bool:
        bits = 0
        for col in range(C4_COLS):
            for row in range(C4_ROWS):
                if board[C4_ROWS - 1 - row, col] == stone:
                    bits |= 1 << (col * C4_STRIDE + row)
        return c4_has_four(bits)

    def symmetries(self, planes: np.ndarray, policy: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(planes, policy), (np.ascontiguousarray(planes[..., ::-1]), np.ascontiguousarray(policy[:, ::-1]))]

    def format_move(self, action: int) -> str:
        return str(action + 1)

    def parse_move_text(self, text: str) -> int:
        if not text.isdigit():
            raise BigModelError(f"move {text!r}: expected a column number 1-{C4_COLS}, e.g. 4")
        if not 1 <= int(text) <= C4_COLS:
            raise BigModelError(f"move {text!r}: column {int(text)} is out of range 1-{C4_COLS}")
        return int(text) - 1

    def move_example(self) -> str:
        return "4"

    def render(self, state: BitState) -> str:
        board = self.board(state)
        lines = [" ".join(STONE_CHARS[v] for v in row) for row in board]
        lines.append(" ".join(str(c + 1) for c in range(C4_COLS)))
        return "\n".join(lines)


GAMES: dict[str, Game] = {
    "tictactoe": GridGame("tictactoe", "tic-tac-toe", 3, 3, dirichlet_alpha=1.0),
    "connect4": ConnectFour(),
    "gomoku9": GridGame("gomoku9", "Gomoku 9x9", 9, 5, dirichlet_alpha=0.15),
    "gomoku15": GridGame("gomoku15", "Gomoku 15x15", 15, 5, dirichlet_alpha=0.05),
}


def get_game(name: str) -> Game:
    if name not in GAMES:
        raise BigModelError(f"unknown game {name!r}; choose one of {', '.join(GAMES)}")
    return GAMES[name]
