"""`bigmodel inspect` as a user runs it: a subprocess, its stdout, stderr and exit code."""

from __future__ import annotations

import json
import shutil

import pytest


@pytest.fixture(scope="module")
def scan_dir(tiny_models, tmp_path_factory):
    """A folder of folders holding two tiny models (with weights: no transformers import, quick)."""
    root = tmp_path_factory.mktemp("cli") / "models"
    shutil.copytree(tiny_models["llama"].safetensors_dir, root / "text" / "llama-tiny-chat")
    shutil.copytree(tiny_models["vit"].safetensors_dir, root / "vision" / "vit-tiny")
    return root


@pytest.fixture
def unsafe_pickle(tmp_path):
    """A .pt whose pickle calls os.system on load (made with __reduce__; never loaded here)."""
    import os

    import torch

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(2, 2), "payload": Payload()}, path)
    return path


def test_table_on_stdout(bigmodel_cli, scan_dir):
    result = bigmodel_cli("inspect", str(scan_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    row = next(line for line in lines if "llama-tiny-chat" in line)
    assert "llm" in row and "text → text" in row and "LlamaForCausalLM" in row and "(4,400)" in row and "chat" in row
    assert "safe" in row
    row = next(line for line in lines if "vit-tiny" in line)
    assert "vision" in row and "image → label" in row
    assert lines[-1] == "scanned 2 checkpoints: 1 llm, 1 vision"
    assert "Traceback" not in result.stderr


def test_json_output(bigmodel_cli, scan_dir, tiny_models):
    result = bigmodel_cli("inspect", "--json", str(scan_dir), str(tiny_models["mistral"].config_dir))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert isinstance(data, list) and len(data) == 3
    by_name = {d["name"]: d for d in data}
    llama = by_name["llama-tiny-chat"]
    assert llama["family"] == "llm"
    assert llama["parameters"] == tiny_models["llama"].parameters
    assert llama["parameter_source"] == "headers"
    assert llama["large"] is False
    assert llama["chat"] is True and "chat" in llama["chat_evidence"]
    assert llama["memory_bytes"]["bf16"] == 2 * llama["parameters"]
    assert llama["safety"] == "safe" and llama["findings"] == []
    mistral = by_name["mistral"]
    assert mistral["parameter_source"] == "config (meta device)"
    assert mistral["safety"] == "no weights" and mistral["dtypes"] == []


def test_strict_exit_codes(bigmodel_cli, scan_dir, unsafe_pickle):
    assert bigmodel_cli("inspect", "--strict", str(scan_dir)).returncode == 0
    # Without --strict, an unsafe file is reported and the exit code stays 0.
    result = bigmodel_cli("inspect", str(unsafe_pickle))
    assert result.returncode == 0
    assert "unsafe: os.system" in result.stdout
    result = bigmodel_cli("inspect", "--strict", "--json", str(scan_dir), str(unsafe_pickle))
    assert result.returncode == 1
    evil = json.loads(result.stdout)[-1]
    assert evil["safety"].startswith("unsafe: ")
    assert any(f["severity"] == "unsafe" for f in evil["findings"])


def test_strict_fails_on_bad_config(bigmodel_cli, tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{oops")
    result = bigmodel_cli("inspect", "--strict", str(tmp_path / "broken"))
    assert result.returncode == 1
    assert "not valid JSON (line 1" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_bad_path_is_one_line_on_stderr(bigmodel_cli, tmp_path):
    missing = tmp_path / "no-such-model"
    result = bigmodel_cli("inspect", str(missing))
    assert result.returncode != 0
    assert result.stderr.strip() == f"error: {missing}: no such file or directory"
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_help_has_an_example(bigmodel_cli):
    result = bigmodel_cli("inspect", "--help")
    assert result.returncode == 0
    assert "Example: bigmodel inspect" in result.stdout
    assert "--json" in result.stdout and "--strict" in result.stdout
