"""Model directories: cards, atomic writes (also under SIGKILL), sharded weights."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from bigmodel import checkpoint
from bigmodel.checkpoint import ModelCard
from bigmodel.errors import BigModelError


def card(**overrides):
    fields = dict(family="llm", task="text-generation", input_modalities=["text"], output_modalities=["text"], parameters=123)
    fields.update(overrides)
    return ModelCard(**fields)


def test_card_round_trip_and_large_rule(tmp_path):
    checkpoint.write_card(tmp_path, card(parameters=999_999_999, domain="medical", base_model="zoo/general-llm"))
    data = json.loads((tmp_path / "bigmodel.json").read_text())
    assert data["large"] is False and data["domain"] == "medical"
    again = checkpoint.read_card(tmp_path)
    assert again.parameters == 999_999_999 and again.base_model == "zoo/general-llm"
    assert card(parameters=1_000_000_000).large is True


@pytest.mark.parametrize(
    "payload, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"family": "llm"}', "missing field 'task'"),
        (json.dumps({**card().to_json(), "family": "robot"}), "field 'family' is 'robot'"),
        (json.dumps({**card().to_json(), "parameters": -1}), "non-negative integer"),
    ],
)
def test_malformed_card_names_file_and_field(tmp_path, payload, message):
    (tmp_path / "bigmodel.json").write_text(payload)
    with pytest.raises(BigModelError, match=message) as err:
        checkpoint.read_card(tmp_path)
    assert "bigmodel.json" in str(err.value)


def test_failed_write_leaves_previous_model_untouched(tmp_path):
    out = tmp_path / "model"
    with checkpoint.writing(out) as tmp:
        (tmp / "config.json").write_text("{}")
        checkpoint.write_card(tmp, card(parameters=1))
    with pytest.raises(RuntimeError):
        with checkpoint.writing(out) as tmp:
            checkpoint.write_card(tmp, card(parameters=2))
            raise RuntimeError("crash mid-write")
    assert checkpoint.read_card(out).parameters == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_write_without_card_is_refused(tmp_path):
    with pytest.raises(BigModelError, match="without a bigmodel.json"):
        with checkpoint.writing(tmp_path / "model") as tmp:
            (tmp / "config.json").write_text("{}")
    assert not (tmp_path / "model").exists()


def test_sigkill_mid_write_leaves_nothing_half_written(tmp_path):
    out = tmp_path / "model"
    script = textwrap.dedent(
        f"""
        import time
        from bigmodel import checkpoint
        with checkpoint.writing({str(out)!r}) as tmp:
            (tmp / "model.safetensors").write_bytes(b"x" * 1000)
            print("writing", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    leftovers = list(tmp_path.glob(".model.partial-*"))
    assert len(leftovers) == 1  # the dead writer's hidden temp folder, never at the model's path
    with checkpoint.writing(out) as tmp:
        checkpoint.write_card(tmp, card())
    assert checkpoint.read_card(out).parameters == 123
    assert not list(tmp_path.glob(".model.partial-*")), "the next write cleans up after the dead one"


def test_sharded_tensors_round_trip(tmp_path):
    tensors = {f"layer{i}.weight": torch.randn(64, 64) for i in range(6)}
    checkpoint.save_tensors(tmp_path, tensors, max_shard_size=40_000)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    loaded = checkpoint.load_tensors(tmp_path)
    assert loaded.keys() == tensors.keys()
    assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)


def test_single_file_below_shard_size(tmp_path):
    checkpoint.save_tensors(tmp_path, {"w": torch.ones(3)})
    assert (tmp_path / "model.safetensors").is_file()
    assert not (tmp_path / "model.safetensors.index.json").exists()


def test_load_tensors_of_truncated_file_is_a_clear_error(tmp_path):
    checkpoint.save_tensors(tmp_path, {"w": torch.ones(1000)})
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(BigModelError, match="cannot read tensors"):
        checkpoint.load_tensors(tmp_path)


def test_require_family_names_what_was_found(tmp_path):
    model = tmp_path / "vit"
    with checkpoint.writing(model) as tmp:
        (tmp / "config.json").write_text("{}")
        checkpoint.write_card(tmp, card(family="vision", task="image-classification", input_modalities=["image"], output_modalities=["label"]))
    with pytest.raises(BigModelError, match=r"an LLM is needed; .*vit is a vision model"):
        checkpoint.require_family(model, {"llm", "vertical"}, "an LLM")
    assert checkpoint.require_family(model, {"vision"}, "a vision model") == "vision"
    with pytest.raises(BigModelError, match="no such model directory"):
        checkpoint.require_family(tmp_path / "missing", {"llm"}, "an LLM")
    with pytest.raises(BigModelError, match="config.json: a file; give the model directory"):
        checkpoint.require_family(model / "config.json", {"llm"}, "an LLM")


def test_a_truncated_checkpoint_is_one_clear_line_for_every_family(quick_zoo, bigmodel_cli, tmp_path):
    import shutil

    from PIL import Image

    image = tmp_path / "scene.png"
    Image.new("RGB", (32, 32), (200, 40, 40)).save(image)
    commands = {
        "general-llm": ["generate", "{dir}", "--prompt", "In the beginning"],
        "vit-digits": ["classify", "{dir}", str(image)],
        "clip-shapes": ["retrieve", "{dir}", "--image", str(image), "--texts", "a red square"],
        "alphazero-tictactoe": ["decision", "move", "{dir}", "--position", "x.o/.x./..."],
    }
    for name, command in commands.items():
        broken = tmp_path / name
        shutil.copytree(quick_zoo[0] / name, broken)
        weights = broken / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        result = bigmodel_cli(*[part.replace("{dir}", str(broken)) for part in command])
        assert result.returncode == 2, (name, result.stderr[-1500:])
        assert f"{broken}: cannot read tensors, truncated or corrupt (model.safetensors" in result.stderr, name
        assert "Traceback" not in result.stderr


def test_out_never_replaces_what_bigmodel_did_not_write(tmp_path, bigmodel_cli):
    """--out naming a file, or a folder of the user's own files, is refused before any work; a
    model directory bigmodel wrote is replaced, and a new or empty folder is written."""
    train = ["decision", "train", "--game", "tictactoe", "--generations", "1", "--games", "2", "--simulations", "4",
             "--train-steps", "2", "--arena-games", "2", "--out"]
    thesis = tmp_path / "work" / "thesis.txt"
    thesis.parent.mkdir()
    thesis.write_text("four years")
    result = bigmodel_cli(*train, str(thesis.parent))
    assert result.returncode == 2
    assert f"--out {thesis.parent} is a folder that bigmodel did not write (it has no bigmodel.json)" in result.stderr
    assert "Traceback" not in result.stderr
    assert [p.name for p in thesis.parent.iterdir()] == ["thesis.txt"] and thesis.read_text() == "four years"
    assert not list(tmp_path.glob(".work*"))  # no training state left beside it

    result = bigmodel_cli(*train, str(thesis))
    assert result.returncode == 2 and f"--out {thesis} is a file" in result.stderr
    assert thesis.read_text() == "four years"

    empty = tmp_path / "empty"
    empty.mkdir()
    assert bigmodel_cli(*train, str(empty)).returncode == 0
    assert checkpoint.read_card(empty).family == "decision"
    assert bigmodel_cli(*train, str(empty)).returncode == 0  # a model directory is replaced


def test_atomic_directory_refuses_a_folder_without_its_marker(tmp_path):
    (tmp_path / "notes.md").write_text("mine")
    with pytest.raises(BigModelError, match="has no pack.json"):
        with checkpoint.atomic_directory(tmp_path, "pack.json"):
            raise AssertionError("never entered")
    assert (tmp_path / "notes.md").read_text() == "mine"
