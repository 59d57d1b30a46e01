"""Decision models (AlphaGo, AlphaZero): Monte Carlo tree search guided by a policy-value network
trained purely from self-play. games -> mcts -> network -> alphazero (the loop) -> evaluate/play."""
