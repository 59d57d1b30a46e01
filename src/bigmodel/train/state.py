"""Training state that resumes exactly: model, optimizer, scheduler, RNG states, step, data position.

Everything is stored as safetensors + JSON (no pickle), written atomically, so a run killed at
any moment resumes from the last complete state. Batches should be a pure function of the step
(and seed), so that the step is the data position; anything else a loop needs goes in `extra`
(JSON) or `tensors` (e.g. a replay buffer).
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from bigmodel.checkpoint import atomic_directory
from bigmodel.errors import BigModelError
from bigmodel.train.metrics import MetricsLog
from bigmodel.ui import console

STATE_JSON = "state.json"


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def _rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors = {"torch": torch.get_rng_state(), "numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64))}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    version, internal, gauss = random.getstate()
    meta = {"python": [version, list(internal), gauss], "numpy": [kind, int(pos), int(has_gauss), float(cached)]}
    return tensors, meta


def _set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch"])
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors["numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


def save_training_state(
    directory: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None = None,
    step: int,
    extra: dict[str, Any] | None = None,
    tensors: dict[str, torch.Tensor] | None = None,
) -> None:
    """Atomically write everything needed to continue training exactly from `step`."""
    optimizer_tensors, optimizer_meta = _flatten_optimizer(optimizer)
    rng_tensors, rng_meta = _rng_state()
    with atomic_directory(directory, STATE_JSON) as tmp:
        save_model(model, str(tmp / "model.safetensors"))
        save_file(optimizer_tensors, tmp / "optimizer.safetensors")
        save_file(rng_tensors, tmp / "rng.safetensors")
        if tensors:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp / "extra.safetensors")
        meta = {
            "step": step,
            "architecture": type(model).__name__,
            "optimizer": optimizer_meta,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": rng_meta,
            "extra": extra or {},
        }
        (tmp / STATE_JSON).write_text(json.dumps(meta), encoding="utf-8")


def load_training_state(
    directory: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None = None,
) -> tuple[int, dict[str, Any], dict[str, torch.Tensor]]:
    """Restore model, optimizer, scheduler and RNG states in place; return (step, extra, tensors)."""
    directory = Path(directory)
    meta_path = directory / STATE_JSON
    if not meta_path.is_file():
        raise BigModelError(f"{directory}: no training state to resume from (no {STATE_JSON})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise BigModelError(f"{meta_path}: not valid JSON ({err})") from None
    if meta.get("architecture") != type(model).__name__:
        raise BigModelError(
            f"{directory}: cannot resume a {type(model).__name__} from a checkpoint of a {meta.get('architecture')}"
        )
    try:
        missing, unexpected = load_model(model, str(directory / "model.safetensors"), strict=False)
        if missing or unexpected:
            raise BigModelError(
                f"{directory}: the checkpoint's model does not match this one "
                f"(missing {len(missing)} tensors, e.g. {(missing or unexpected)[0]})"
            )
        optimizer.load_state_dict(_unflatten_optimizer(load_file(directory / "optimizer.safetensors"), meta["optimizer"]))
    except (RuntimeError, ValueError) as err:  # shape mismatches surface as these
        raise BigModelError(f"{directory}: the checkpoint does not fit this model ({str(err).splitlines()[0]})") from None
    if scheduler is not None and meta.get("scheduler") is not None:
        scheduler.load_state_dict(meta["scheduler"])
    _set_rng_state(load_file(directory / "rng.safetensors"), meta["rng"])
    extra_path = directory / "extra.safetensors"
    tensors = load_file(extra_path) if extra_path.is_file() else {}
    return int(meta["step"]), meta["extra"], tensors


def resume_or_start(
    work: Path,
    *,
    resume: bool,
    settings: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None = None,
) -> tuple[int, MetricsLog]:
    """Where a run with its state in `work/state` begins: with `resume`, from the saved state
    (refused when there is none, or when a run with other `settings` saved it); otherwise from
    step 0, with any stale work folder removed. Returns the step and the run's metrics log
    (`work/metrics.jsonl`)."""
    state_dir = work / "state"
    start = 0
    if resume:
        if not (state_dir / STATE_JSON).is_file():
            raise BigModelError(f"--resume: nothing to resume in {work} (no saved training state); train without --resume")
        start, extra, _ = load_training_state(state_dir, model=model, optimizer=optimizer, scheduler=scheduler)
        if extra.get("settings") != settings:
            raise BigModelError(f"{state_dir}: saved by a run with other settings; drop --resume to start again")
        console.print(f"resuming from step {start} ({state_dir})")
    elif work.exists():
        shutil.rmtree(work)
    return start, MetricsLog(work / "metrics.jsonl", resume_step=start or None)
