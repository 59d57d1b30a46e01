"""Pretraining as a user runs it: output that plain transformers loads, exact resume after a real
SIGKILL, and data-parallel training under torchrun that matches one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bigmodel.train.metrics import read_metrics


def test_output_loads_in_plain_transformers_with_the_same_logits(pretrained):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bigmodel.families.llm.model_io import load_llm

    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "bigmodel.json",
                 "metrics.jsonl", "loss.png"):
        assert (pretrained / name).is_file(), name
    assert not pretrained.with_name(pretrained.name + ".training").exists()
    config = json.loads((pretrained / "config.json").read_text())
    assert config["model_type"] == "llama" and config["architectures"] == ["LlamaForCausalLM"]
    tokenizer_config = json.loads((pretrained / "tokenizer_config.json").read_text())
    assert "{% generation %}" in tokenizer_config["chat_template"]

    plain = AutoModelForCausalLM.from_pretrained(pretrained).eval()
    plain_tokenizer = AutoTokenizer.from_pretrained(pretrained)
    ours, tokenizer = load_llm(pretrained)
    ids = plain_tokenizer("In the beginning God created", return_tensors="pt").input_ids
    assert ids.tolist() == tokenizer("In the beginning God created", return_tensors="pt").input_ids.tolist()
    with torch.no_grad():
        assert torch.equal(plain(ids).logits, ours(ids).logits)

    card = json.loads((pretrained / "bigmodel.json").read_text())
    assert card["family"] == "llm"
    assert card["extra"]["precision"] == "fp32"  # 64 wide: bf16 casts would cost more than they save
    assert card["parameters"] == sum(p.numel() for p in plain.parameters())  # tied embeddings counted once
    assert card["metrics"]["val_perplexity"] == pytest.approx(torch.tensor(card["metrics"]["val_loss"]).exp().item())


def test_metrics_show_learning_and_periodic_validation(pretrained):
    rows = read_metrics(pretrained / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 61))
    assert [r["step"] for r in rows if "val_loss" in r] == [20, 40, 60]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 1.0
    lrs = [r["lr"] for r in rows]
    assert lrs[0] < lrs[4] and lrs[-1] < lrs[10]  # warm-up, then cosine decay


def _killed_and_resumed(command: list[str], out: Path, steps: int) -> list[dict]:
    """Run `command`, SIGKILL it once it has saved a training state, run it again with --resume;
    the resumed run's metrics."""
    state = out.with_name(out.name + ".training") / "state" / "state.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 300
    while not state.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert not out.exists()
    killed_at = json.loads(state.read_text())["step"]
    assert 10 <= killed_at < steps

    result = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    resumed = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in resumed] == list(range(1, steps + 1))
    return resumed


def _same_run(resumed: list[dict], uninterrupted: list[dict], a: Path, b: Path) -> None:
    from safetensors.torch import load_file

    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in uninterrupted]
    assert [r.get("val_loss") for r in resumed] == [r.get("val_loss") for r in uninterrupted]
    first, second = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_resume_after_sigkill_is_bitwise_exact(pretrained, llm_root, corpus_file, tiny_toml):
    out = llm_root / "killed"
    command = [sys.executable, "-m", "bigmodel.cli", "llm", "pretrain", "--preset", "tiny", "--config", str(tiny_toml),
               "--corpus", str(corpus_file), "--out", str(out), "--seed", "0"]
    resumed = _killed_and_resumed(command, out, 60)
    _same_run(resumed, read_metrics(pretrained / "metrics.jsonl"), out, pretrained)


def test_compiled_bf16_run_resumes_exactly(llm_root, corpus_file, cli):
    """The path the larger presets take: torch.compile (runs of 100+ steps) and, on a CPU with bf16
    matmuls, bf16 autocast for models 128 wide or more."""
    from transformers import AutoModelForCausalLM

    from bigmodel.families.llm.training import uses_bf16

    toml = llm_root / "compiled.toml"
    toml.write_text("hidden_size = 128\nsteps = 100\nbatch_size = 8\nmicro_batch_size = 4\nsave_every = 50\n"
                    "eval_every = 50\nwarmup_steps = 5\ncompile = true\n", encoding="utf-8")
    arguments = ["llm", "pretrain", "--preset", "tiny", "--config", str(toml), "--corpus", str(corpus_file), "--seed", "0"]
    whole = llm_root / "compiled-whole"
    cli(*arguments, "--out", str(whole))
    card = json.loads((whole / "bigmodel.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(whole)
    assert card["extra"]["precision"] == ("bf16" if uses_bf16(torch.device("cpu"), model) else "fp32")
    assert card["extra"]["config"]["compile"] is True

    out = llm_root / "compiled-killed"
    resumed = _killed_and_resumed([sys.executable, "-m", "bigmodel.cli", *arguments, "--out", str(out)], out, 100)
    _same_run(resumed, read_metrics(whole / "metrics.jsonl"), out, whole)


def test_resume_from_another_architecture_is_refused(llm_root, corpus_file, tiny_toml, cli):
    from transformers import LlamaForCausalLM

    from bigmodel.families.llm.presets import load_config
    from bigmodel.families.llm.pretrain import recipe_of
    from bigmodel.families.llm.training import TrainingRun, make_optimizer
    from bigmodel.train.distributed import setup
    from bigmodel.train.state import save_training_state

    out = llm_root / "arch"
    bigger = llm_root / "bigger.toml"
    bigger.write_text(tiny_toml.read_text() + "hidden_size = 128\n")
    args = ["llm", "pretrain", "--config", str(bigger), "--corpus", str(corpus_file), "--out", str(out), "--resume"]
    nothing = cli(*args, check=False)
    assert nothing.returncode == 2 and "nothing to resume" in nothing.stderr

    # The state a killed run of the tiny preset leaves behind: weights, optimizer, run identity.
    config = load_config("tiny", tiny_toml)
    model = LlamaForCausalLM(config.llama_config(bos_token_id=0, eos_token_id=0, pad_token_id=2))
    work = out.with_name("arch.training")
    save_training_state(work / "state", model=model, optimizer=make_optimizer(model, recipe_of(config)), step=10)
    TrainingRun(work_dir=work, env=setup(), identity={"architecture": config.architecture()}).record_identity()

    result = cli(*args, check=False)
    assert result.returncode == 2, result.stderr
    assert "another architecture (hidden_size=64 there, 128 here)" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def _torchrun(nproc: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--standalone",
               "-m", "bigmodel.cli", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_ddp_on_two_cpu_processes_matches_one_process(pretrained, llm_root, corpus_file, tiny_toml):
    out = llm_root / "ddp"
    _torchrun(2, "llm", "pretrain", "--preset", "tiny", "--config", str(tiny_toml), "--corpus", str(corpus_file),
              "--out", str(out), "--seed", "0")
    ddp = read_metrics(out / "metrics.jsonl")
    single = read_metrics(pretrained / "metrics.jsonl")
    assert len(ddp) == len(single) == 60
    # Same global batch of 8 (2 processes × 4 here, 2 micro-batches of 4 there): same losses up to
    # the order of floating-point sums.
    assert ddp[-1]["train_loss"] == pytest.approx(single[-1]["train_loss"], abs=2e-3)
    assert ddp[-1]["val_loss"] == pytest.approx(single[-1]["val_loss"], abs=2e-3)


def test_fsdp2_run_killed_and_resumed_matches_one_process(pretrained, llm_root, corpus_file, tiny_toml):
    from transformers import AutoModelForCausalLM

    out = llm_root / "fsdp"
    state = out.with_name("fsdp.training") / "state" / "state.json"
    args = ["llm", "pretrain", "--preset", "tiny", "--config", str(tiny_toml), "--corpus", str(corpus_file),
            "--out", str(out), "--seed", "0", "--fsdp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                                 "-m", "bigmodel.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 300
    while not state.is_file() and launcher.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    # torchrun starts each worker in a session of its own: kill the workers, then the launcher.
    workers = [int(p) for t in Path(f"/proc/{launcher.pid}/task").iterdir() for p in (t / "children").read_text().split()]
    for pid in [*workers, launcher.pid]:
        os.kill(pid, signal.SIGKILL)
    launcher.wait()
    assert len(workers) == 2 and not out.exists()
    assert 10 <= json.loads(state.read_text())["step"] < 60

    _torchrun(2, *args, "--resume")
    resumed, single = read_metrics(out / "metrics.jsonl"), read_metrics(pretrained / "metrics.jsonl")
    assert [r["step"] for r in resumed] == list(range(1, 61))
    # Sharded sums add in another order than one process's: equal up to rounding.
    assert [r["train_loss"] for r in resumed] == pytest.approx([r["train_loss"] for r in single], abs=1e-4)
    assert resumed[-1]["val_loss"] == pytest.approx(single[-1]["val_loss"], abs=1e-4)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert json.loads((out / "bigmodel.json").read_text())["parameters"] == sum(p.numel() for p in model.parameters())


def test_a_given_tokenizer_is_reused(pretrained, llm_root, corpus_file):
    from bigmodel.families.llm.presets import load_config
    from bigmodel.families.llm.pretrain import pretrain

    out = pretrain(load_config("tiny", steps=2, eval_every=1), str(corpus_file), llm_root / "reuse", tokenizer_dir=pretrained)
    assert json.loads((out / "tokenizer.json").read_text()) == json.loads((pretrained / "tokenizer.json").read_text())


def test_without_a_cpp_compiler_training_runs_uncompiled(llm_root, corpus_file):
    """torch.compile needs a C++ compiler on a CPU; a machine without one trains uncompiled, saying so."""
    toml = llm_root / "no-compiler.toml"
    toml.write_text("steps = 100\nbatch_size = 4\nmicro_batch_size = 4\nsave_every = 1000\neval_every = 100\n"
                    "compile = true\n", encoding="utf-8")
    out = llm_root / "no-compiler"
    result = subprocess.run([sys.executable, "-m", "bigmodel.cli", "llm", "pretrain", "--preset", "tiny", "--config", str(toml),
                             "--corpus", str(corpus_file), "--out", str(out)],
                            capture_output=True, text=True, env={**os.environ, "PATH": "/nonexistent", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "no C++ compiler found" in " ".join((result.stdout + result.stderr).split())
    assert len(read_metrics(out / "metrics.jsonl")) == 100
