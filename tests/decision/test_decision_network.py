"""The policy-value network in bfloat16 where the CPU has it, float32 otherwise."""

import numpy as np
import pytest
import torch

from bigmodel.families.decision import network
from bigmodel.families.decision.alphazero import (
    ReplayBuffer,
    default_settings,
    train_network,
)
from bigmodel.families.decision.games import GAMES
from bigmodel.families.decision.mcts import NetEvaluator
from bigmodel.families.decision.network import AlphaZeroNet, NetConfig, bfloat16_pays


def test_bfloat16_only_for_batches_with_enough_arithmetic(monkeypatch):
    game = GAMES["connect4"]
    small, tiny = (NetConfig.from_preset(game, p) for p in ("small", "tiny"))
    monkeypatch.setattr(network, "BFLOAT16", True)
    assert not bfloat16_pays(small, 1) and bfloat16_pays(small, 2)
    assert not bfloat16_pays(tiny, 16) and bfloat16_pays(tiny, 17)
    assert not bfloat16_pays(NetConfig.from_preset(GAMES["tictactoe"], "tiny"), 64)
    monkeypatch.setattr(network, "BFLOAT16", False)
    assert not bfloat16_pays(small, 4096)


def test_the_evaluator_agrees_with_the_float32_network_in_either_precision(random_positions):
    game = GAMES["connect4"]
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig.from_preset(game, "small"))
    with torch.no_grad():  # a trained network's batch statistics, not a fresh one's 0 and 1
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    net.eval()
    states = random_positions(game, 64, seed=1, fewest=0, most=19)
    planes = torch.from_numpy(np.stack([game.canonical(s) for s in states]))
    with torch.no_grad():
        logits, values = net(planes)
    exact_policy, exact_values = torch.softmax(logits, -1).numpy(), values.numpy()

    evaluator = NetEvaluator(net, game)
    policy, value = evaluator(states)
    assert policy.dtype == np.float32 and policy.shape == (64, game.action_size)
    np.testing.assert_allclose(policy.sum(1), 1.0, atol=1e-5)
    assert np.abs(policy - exact_policy).max() < 0.03
    assert np.abs(value - exact_values).max() < 0.03
    if network.BFLOAT16:  # the batch went through the bfloat16 copy, so it is not bit-equal
        assert not np.array_equal(value, exact_values)
    # A new evaluator, since this one remembers the batch's answer; one position is below the
    # bfloat16 threshold, so float32 exactly.
    one_policy, one_value = NetEvaluator(net, game)(states[:1])
    np.testing.assert_allclose(one_value, exact_values[:1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one_policy, exact_policy[:1], rtol=1e-5, atol=1e-6)


def test_the_evaluator_runs_each_position_once_and_answers_repeats_from_memory(random_positions):
    game = GAMES["connect4"]
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig.from_preset(game, "tiny"))
    seen = random_positions(game, 12, seed=3, fewest=4, most=19)
    seen_keys = {game.key(s) for s in seen}
    new = list({game.key(s): s for s in random_positions(game, 12, seed=4, fewest=4, most=19) if game.key(s) not in seen_keys}.values())
    distinct = len(seen_keys)
    evaluator = NetEvaluator(net, game)
    seen_policy, seen_value = evaluator(seen + seen[:3])  # a batch that repeats itself
    assert (evaluator.batches, evaluator.lookups, evaluator.hits) == (1, 15, 15 - distinct)
    np.testing.assert_array_equal(seen_policy[-3:], seen_policy[:3])

    policy, value = evaluator(new + seen)  # only the new positions go through the network
    assert evaluator.batches == 2 and evaluator.hits == 15 - distinct + len(seen)
    np.testing.assert_array_equal(policy[len(new):], seen_policy[:12])
    np.testing.assert_array_equal(value[len(new):], seen_value[:12])
    new_policy, new_value = NetEvaluator(net, game)(new)  # what a network with no memory says
    np.testing.assert_allclose(policy[: len(new)], new_policy, atol=1e-5)
    np.testing.assert_allclose(value[: len(new)], new_value, atol=1e-5)


def test_the_evaluator_forgets_everything_when_its_memory_is_full(random_positions):
    game = GAMES["connect4"]
    net = AlphaZeroNet(NetConfig.from_preset(game, "tiny"))
    states = random_positions(game, 40, seed=5, fewest=4, most=19)
    states = list({game.key(s): s for s in states}.values())[:16]
    evaluator = NetEvaluator(net, game, cache_limit=10)
    first_policy, _ = evaluator(states[:8])
    evaluator(states[8:])  # 8 more would pass the limit of 10: the first 8 are forgotten
    assert len(evaluator.cache) == 8 and evaluator.hits == 0
    again, _ = evaluator(states[:8])
    assert evaluator.batches == 3 and evaluator.hits == 0
    np.testing.assert_allclose(again, first_policy, atol=1e-5)


@pytest.mark.parametrize("name", ["tictactoe", "connect4"])
def test_training_keeps_float32_weights_whatever_the_precision(name, random_positions):
    game = GAMES[name]
    settings = default_settings(name, train_steps=3, batch_size=32)
    net = AlphaZeroNet(NetConfig.from_preset(game, "small"))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    buffer = ReplayBuffer(game, 1000)
    for state in random_positions(game, 50, seed=2, fewest=0, most=6):
        buffer.add(game.canonical(state), np.full(game.action_size, 1 / game.action_size, np.float32), 0.5)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    policy_loss, value_loss = train_network(net, optimizer, buffer, settings, np.random.default_rng(0))
    assert np.isfinite(policy_loss) and np.isfinite(value_loss)
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_folding_batch_norms_keeps_what_the_network_computes():
    game = GAMES["connect4"]
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig.from_preset(game, "tiny"))
    with torch.no_grad():  # statistics far from a fresh network's 0 and 1, so a missed fold shows
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.2, 3.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    net.eval()
    folded = network.fold_batch_norms(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # the original is untouched
    planes = torch.rand(8, net.config.input_planes, game.rows, game.cols)
    with torch.no_grad():
        (logits, values), (folded_logits, folded_values) = net(planes), folded(planes)
    torch.testing.assert_close(folded_logits, logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(folded_values, values, rtol=1e-4, atol=1e-5)
