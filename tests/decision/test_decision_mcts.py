"""The search on its own: tactics with random rollouts, virtual loss, proofs, match bookkeeping."""

import numpy as np
import pytest

from bigmodel.families.decision.evaluate import Minimax, MinimaxAgent, exhaustive_results
from bigmodel.families.decision.games import GAMES
from bigmodel.families.decision.mcts import (
    MCTSAgent,
    Node,
    RandomAgent,
    RolloutEvaluator,
    SearchConfig,
    expand_all,
    play_games,
    search,
)

C4 = GAMES["connect4"]


def test_a_batch_of_leaves_is_expanded_over_each_ones_legal_moves():
    """Priors on full columns are dropped and the rest renormalised, row by row; a network that
    gives every legal move 0 leaves them an even share. Each node's statistics are its own."""
    full_first = C4.parse_position("x....../o....../x....../o....../x....../o......")
    nodes = [Node(C4.initial_state()), Node(full_first), Node(full_first)]
    priors = np.array([[0.5, 0.5, 0, 0, 0, 0, 0], [0.5, 0.25, 0.25, 0, 0, 0, 0], [1.0, 0, 0, 0, 0, 0, 0]])
    expand_all(C4, nodes, priors)
    assert np.allclose(nodes[0].priors, [0.5, 0.5, 0, 0, 0, 0, 0])
    assert np.allclose(nodes[1].priors, [0, 0.5, 0.5, 0, 0, 0, 0])
    assert np.allclose(nodes[2].priors, [0] + [1 / 6] * 6)
    assert nodes[1].penalty[0] == -np.inf and np.isfinite(nodes[1].penalty[1:]).all()
    nodes[1].visits[3] += 1
    assert nodes[0].visits.sum() == nodes[2].visits.sum() == 0


@pytest.mark.parametrize(
    "position, expected",
    [
        ("......./......./......./...x.../...xo../...xoo.", 3),  # x wins at once in column 4
        ("......./......./......./......./......./xxx.oo.", 3),  # o must block column 4
    ],
)
def test_pure_mcts_finds_the_win_and_the_block(position, expected):
    agent = MCTSAgent(C4, RolloutEvaluator(C4, seed=0), SearchConfig(400))
    assert agent.choose([C4.parse_position(position)], np.random.default_rng(0)) == [expected]


def test_virtual_loss_spreads_simulations_of_one_tree_and_counts_them_all():
    evaluated = []

    def uniform(states):
        evaluated.append(len(states))
        return np.full((len(states), 7), 1 / 7), np.zeros(len(states))

    root = Node(C4.initial_state())
    search(C4, [root], uniform, SearchConfig(64, in_flight=8))
    assert root.visits.sum() == 64 and root.total == 64
    assert max(evaluated) == 8  # eight leaves of one tree in one batch
    assert (root.visits > 0).all()  # virtual loss pushed the in-flight simulations apart
    assert abs(root.values).max() < 1e-9  # every virtual loss was taken back


def _uniform(action_size):
    """An evaluator that knows nothing: equal priors, every position a draw."""
    return lambda states: (np.full((len(states), action_size), 1 / action_size), np.zeros(len(states)))


def test_the_search_proves_the_exact_value_of_every_small_endgame():
    """Every tic-tac-toe position with at most four empty squares (3,430 of them): with an
    evaluator that knows nothing, the search proves the minimax value, and plays a minimax move.
    Classic MCTS (`prove=False`) proves nothing."""
    game = GAMES["tictactoe"]
    minimax = Minimax(game)
    positions, frontier = {}, [game.initial_state()]
    while frontier:
        frontier = [after for state in frontier for after in map(lambda a: game.apply(state, a), game.legal_moves(state))
                    if after.value is None and game.key(after) not in positions]
        positions.update((game.key(state), state) for state in frontier)
    endgames = [state for state in positions.values() if state.moves >= 5]
    assert len(endgames) == 3430
    agent = MCTSAgent(game, _uniform(9), SearchConfig(400))
    roots = agent.search(endgames)
    assert [root.proven for root in roots] == [minimax.value(state) for state in endgames]
    moves = agent.choose(endgames, np.random.default_rng(0))
    assert all(move in minimax.optimal_moves(state) for state, move in zip(endgames, moves))
    assert {-1.0, 0.0, 1.0} <= {root.proven for root in roots}
    classic = MCTSAgent(game, _uniform(9), SearchConfig(400, prove=False)).search(endgames[:100])
    assert {root.proven for root in classic} == {None}  # the pure-MCTS reference searches without proofs


def test_a_proven_win_is_played_though_the_priors_and_visits_favour_another_move():
    """x wins at once in column 4, but the evaluator puts 90% of the prior on column 1."""
    state = C4.parse_position("......./......./......./...x.../...xo../...xoo.")

    def misleading(states):
        priors = np.full((len(states), 7), 0.1 / 6)
        priors[:, 0] = 0.9
        return priors, np.zeros(len(states))

    root = Node(state)
    search(C4, [root], misleading, SearchConfig(200))
    assert root.proven == 1.0 and root.value() == 1.0
    assert root.visits[0] > root.visits[3]  # the search stopped once it proved the win
    assert root.move_weights().tolist() == [0, 0, 0, 1, 0, 0, 0]


def test_root_noise_and_batched_trees_are_deterministic_per_seed():
    def visits(seed):
        roots = [Node(C4.initial_state()) for _ in range(4)]
        search(C4, roots, RolloutEvaluator(C4, 1), SearchConfig(50, noise=0.25), np.random.default_rng(seed))
        return np.stack([r.visits for r in roots])

    assert np.array_equal(visits(5), visits(5))
    assert not np.array_equal(visits(5), visits(6))


def test_minimax_never_loses_and_match_results_are_from_the_first_agents_side():
    game = GAMES["tictactoe"]
    rng = np.random.default_rng(0)
    results = play_games(game, (MinimaxAgent(game), RandomAgent(game)), 20, rng)
    assert -1.0 not in results and results.count(1.0) >= 10
    flipped = play_games(game, (RandomAgent(game), MinimaxAgent(game)), 20, rng)
    assert 1.0 not in flipped and flipped.count(-1.0) >= 10  # results stay on the random agent's side
    walk = exhaustive_results(game, MinimaxAgent(game), replies="all")
    assert walk["first"]["losses"] == walk["second"]["losses"] == 0
