"""Training state resumes exactly: the same numbers after a save/load as without it."""

import random

import numpy as np
import pytest
import torch

from bigmodel.errors import BigModelError
from bigmodel.train.metrics import MetricsLog, plot_metrics, read_metrics
from bigmodel.train.state import load_training_state, save_training_state


def make(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (step + 1))
    return model, optimizer, scheduler


def step(model, optimizer, scheduler):
    # Every source of randomness a loop may draw from: torch (data, dropout), numpy, random.
    x = torch.randn(5, 4) + float(np.random.rand()) + random.random()
    loss = model(x).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss.item()


def test_resume_is_bitwise_exact(tmp_path):
    model, optimizer, scheduler = make()
    for _ in range(3):
        step(model, optimizer, scheduler)
    save_training_state(tmp_path / "state", model=model, optimizer=optimizer, scheduler=scheduler, step=3,
                        extra={"position": 3}, tensors={"buffer": torch.arange(5)})
    uninterrupted = [step(model, optimizer, scheduler) for _ in range(4)]

    model2, optimizer2, scheduler2 = make(seed=1)  # different initial weights: all must come from the state
    resumed_step, extra, tensors = load_training_state(tmp_path / "state", model=model2, optimizer=optimizer2, scheduler=scheduler2)
    assert resumed_step == 3 and extra == {"position": 3} and torch.equal(tensors["buffer"], torch.arange(5))
    assert [step(model2, optimizer2, scheduler2) for _ in range(4)] == uninterrupted


def test_resume_into_another_architecture_is_refused(tmp_path):
    model, optimizer, _ = make()
    save_training_state(tmp_path / "state", model=model, optimizer=optimizer, step=1)
    other = torch.nn.Linear(4, 1)
    with pytest.raises(BigModelError, match="cannot resume a Linear from a checkpoint of a Sequential"):
        load_training_state(tmp_path / "state", model=other, optimizer=torch.optim.AdamW(other.parameters()))


def test_resume_with_other_shapes_is_refused(tmp_path):
    model, optimizer, _ = make()
    save_training_state(tmp_path / "state", model=model, optimizer=optimizer, step=1)
    wider = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.5), torch.nn.Linear(16, 1))
    with pytest.raises(BigModelError, match="does not fit this model"):
        load_training_state(tmp_path / "state", model=wider, optimizer=torch.optim.AdamW(wider.parameters()))


def test_resume_without_state_is_a_clear_error(tmp_path):
    model, optimizer, _ = make()
    with pytest.raises(BigModelError, match="no training state to resume from"):
        load_training_state(tmp_path, model=model, optimizer=optimizer)


def test_metrics_log_drops_lines_past_the_resumed_step_and_plots(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for s in range(1, 6):
        log.log(step=s, train_loss=1.0 / s)
    resumed = MetricsLog(tmp_path / "metrics.jsonl", resume_step=3)
    resumed.log(step=4, train_loss=0.2, val_loss=0.3)
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and rows[-1]["val_loss"] == 0.3
    png = plot_metrics(tmp_path / "metrics.jsonl", tmp_path / "loss.png", {"loss": ["train_loss", "val_loss"]})
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_with_nothing_saved_is_refused_not_a_fresh_start(tmp_path):
    from bigmodel.train.state import resume_or_start

    model, optimizer, scheduler = make()
    with pytest.raises(BigModelError, match=r"--resume: nothing to resume in .*work \(no saved training state\)"):
        resume_or_start(tmp_path / "work", resume=True, settings={}, model=model, optimizer=optimizer, scheduler=scheduler)
    start, _ = resume_or_start(tmp_path / "work", resume=False, settings={}, model=model, optimizer=optimizer, scheduler=scheduler)
    assert start == 0
