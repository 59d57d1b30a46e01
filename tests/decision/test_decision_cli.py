"""The commands as a user runs them: move, play (stdin), train --resume, evaluate, and bad input."""

import json
import shutil

import pytest

from bigmodel import checkpoint
from bigmodel.eval.stats import wilson_interval


def test_move_finds_the_winning_move_as_json(bigmodel_cli, tictactoe_model):
    result = bigmodel_cli("decision", "move", str(tictactoe_model), "--position", "xx./oo./...", "--json")
    assert result.returncode == 0, result.stderr
    analysis = json.loads(result.stdout)
    assert analysis["move"] == "c3" and analysis["to_move"] == "x"
    assert analysis["value"] == 1.0 and analysis["proven"] == "win" and analysis["top_moves"][0]["move"] == "c3"
    opening = json.loads(bigmodel_cli("decision", "move", str(tictactoe_model), "--position", ".../.../...", "--json").stdout)
    assert opening["proven"] is None and -1 < opening["value"] < 1  # too deep to prove in 200 simulations
    text = bigmodel_cli("decision", "move", str(tictactoe_model), "--position", "xx./oo./...").stdout
    assert "best move for x: c3" in text and "value for x: +1.00 (a proven win)" in text


def test_play_in_the_terminal_reprompts_illegal_moves(bigmodel_cli, tictactoe_model):
    moves = ["a4", "b2", "b2", "zz"] + [f"{c}{r}" for c in "abc" for r in "123"]
    result = bigmodel_cli("play", str(tictactoe_model), "--explain", input="\n".join(moves) + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "out of range 1-3; try again" in out and "not legal here" in out and "column letter" in out
    assert "model plays" in out and "value for o" in out
    assert out.strip().splitlines()[-1] in ("draw", "you win", "the model wins")
    assert out.count("a b c") >= 3  # the board is redrawn every move


def assert_clear_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:")
    message = " ".join(result.stderr.split())
    for fragment in fragments:
        assert fragment in message, message


def test_bad_input_gets_one_clear_line(bigmodel_cli, tictactoe_model, tmp_path):
    model = str(tictactoe_model)
    assert_clear_error(bigmodel_cli("decision", "move", model, "--position", "xx./.q./..."), "unexpected 'q' in row 2")
    assert_clear_error(bigmodel_cli("decision", "move", model, "--position", "xxx/oo./..."), "is over")
    assert_clear_error(bigmodel_cli("decision", "move", model, "--position", "x../...", "--game", "tictactoe"), "3 rows")
    assert_clear_error(
        bigmodel_cli("decision", "move", model, "--position", "......./......./......./......./......./.......", "--game", "connect4"),
        f"{model} plays tictactoe, not connect4",
    )
    assert_clear_error(bigmodel_cli("decision", "train", "--out", model, "--resume", "--game", "gomoku9"), "plays tictactoe, not gomoku9")
    assert_clear_error(bigmodel_cli("decision", "train", "--out", str(tmp_path / "x"), "--game", "chess"), "unknown game 'chess'")
    assert_clear_error(bigmodel_cli("decision", "train", "--out", str(tmp_path / "x"), "--game", "tictactoe", "--workers", "0"),
                       "setting workers is 0; it must be positive")
    assert_clear_error(bigmodel_cli("decision", "train", "--out", str(tmp_path / "x"), "--game", "connect4", "--search-value-share", "2"),
                       "setting search-value-share is 2.0; it must be between 0 and 1")
    assert_clear_error(bigmodel_cli("decision", "train", "--out", str(tmp_path / "x"), "--game", "connect4", "--gate", "-0.1"),
                       "setting gate is -0.1; it must be 0 or more")
    for option, value, says in (("--seed", "-1", "greater than or equal to 0"), ("--seed", str(10**23), "less than or equal to 4294967295"),
                                ("--threads", "0", "greater than or equal to 1")):
        result = bigmodel_cli("decision", "train", "--out", str(tmp_path / "x"), "--game", "tictactoe", option, value)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert f"Invalid value for '{option}': Input should be {says}" in " ".join(result.stderr.replace("│", " ").split())
    assert not (tmp_path / "x").exists()
    broken = tmp_path / "broken"
    shutil.copytree(tictactoe_model, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert_clear_error(bigmodel_cli("decision", "move", str(broken), "--position", ".../.../..."), "cannot read tensors")
    (broken / "config.json").write_text("{not json")
    assert_clear_error(bigmodel_cli("play", str(broken)), "config.json", "not valid JSON")
    other = tmp_path / "vision-model"
    other.mkdir()
    checkpoint.write_card(other, checkpoint.ModelCard("vision", "image-classification", ["image"], ["label"], 10))
    assert_clear_error(bigmodel_cli("play", str(other)), "a decision (game-playing) model is needed", "is a vision model")


def test_train_command_and_resume(bigmodel_cli, tmp_path):
    out = tmp_path / "c4"
    args = ["--games", "4", "--simulations", "4", "--train-steps", "2", "--arena-games", "2", "--workers", "2"]
    result = bigmodel_cli("decision", "train", "--game", "connect4", "--generations", "1", "--out", str(out), *args, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["generation"] == 1
    result = bigmodel_cli("decision", "train", "--out", str(out), "--resume", "--generations", "2", "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["generation"] == 2 and facts["game"] == "connect4"
    assert checkpoint.read_card(out).extra["generation"] == 2
    state = json.loads((out / "training-state" / "state.json").read_text())
    assert state["extra"]["settings"]["workers"] == 2  # the run resumed with its own worker count

    # What it reaches, against the exact solver and pure MCTS, searching as much as pure MCTS does.
    result = bigmodel_cli("decision", "evaluate", str(out), "--opponent-simulations", "20",
                          "--games", "4", "--positions", "4", "--workers", "2", "--json")
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    versus = measured["vs_pure_mcts"]
    assert measured["simulations"] == 20
    assert versus["games"] == 4 and versus["wins"] + versus["draws"] + versus["losses"] == 4
    assert versus["rollout_simulations"] == 20 and versus["win_rate"] == versus["wins"] / 4
    assert versus["win_rate_95"] == pytest.approx(list(wilson_interval(versus["wins"], 4)))
    assert versus["win_rate_95"][0] <= versus["win_rate"] <= versus["win_rate_95"][1]
    # Two workers of two games each: each worker's agent starts one of its games.
    first, second = versus["as_first"], versus["as_second"]
    assert first["games"] == second["games"] == 2
    for outcome in ("wins", "draws", "losses"):
        assert first[outcome] + second[outcome] == versus[outcome]
    # 32 fresh self-play games hold far more than 4 distinct positions past move 14.
    assert measured["positions"] == 4 and measured["informative_positions"] <= 4
    share = measured["solver_move_accuracy"]
    if measured["informative_positions"]:
        assert share * measured["informative_positions"] == round(share * measured["informative_positions"])
        low, high = measured["solver_move_accuracy_95"]
        assert low <= share <= high and high - low > 0.3  # four positions or fewer say little
    else:
        assert share is None and measured["solver_move_accuracy_95"] is None
    assert measured["solver_nodes"] > 0
    text = bigmodel_cli("decision", "evaluate", str(out), "--opponent-simulations", "20", "--games", "2", "--positions", "4")
    assert text.returncode == 0, text.stderr
    assert "agent at 20 simulations per move" in text.stdout
    assert "in 2 games (" in text.stdout and "wins, 95% interval " in text.stdout
    assert "as the first player: " in text.stdout and text.stdout.rstrip().endswith("losses in 1")  # one game a colour


def test_evaluate_walks_every_tictactoe_game(bigmodel_cli, tictactoe_model, tmp_path):
    result = bigmodel_cli("decision", "evaluate", str(tictactoe_model), "--simulations", "50", "--json")
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    assert measured["simulations"] == 50
    for replies, total in (("optimal", "losses_vs_minimax"), ("all", "losses_vs_any_reply")):
        games = measured["exhaustive"][replies]
        for role in ("first", "second"):
            assert games[role]["games"] == games[role]["wins"] + games[role]["draws"] + games[role]["losses"] > 0
        assert measured[total] == games["first"]["losses"] + games["second"]["losses"]
    # Against every legal reply there are far more games than against the perfect player's few.
    assert measured["exhaustive"]["all"]["second"]["games"] > measured["exhaustive"]["optimal"]["second"]["games"]
    text = bigmodel_cli("decision", "evaluate", str(tictactoe_model), "--simulations", "50")
    assert text.returncode == 0 and f"losses against a perfect minimax player (every game, both colours): {measured['losses_vs_minimax']}" in text.stdout

    assert_clear_error(bigmodel_cli("decision", "evaluate", str(tictactoe_model), "--games", "0"), "--games must be positive")
    other = tmp_path / "llm"
    other.mkdir()
    checkpoint.write_card(other, checkpoint.ModelCard("llm", "text-generation", ["text"], ["text"], 10))
    assert_clear_error(bigmodel_cli("decision", "evaluate", str(other)), "a decision (game-playing) model is needed", "is an llm model")


def test_inspect_classifies_the_checkpoint_as_decision(bigmodel_cli, tictactoe_model):
    result = bigmodel_cli("inspect", str(tictactoe_model), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["family"] == "decision"
