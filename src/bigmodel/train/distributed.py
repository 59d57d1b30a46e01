"""torch.distributed for every training loop: the same command alone or under `torchrun`.

Under torchrun (WORLD_SIZE > 1) the process group starts with NCCL on GPUs and gloo on CPUs;
alone, nothing starts and every helper is a no-op. Models are wrapped with DDP, or sharded with
FSDP2 (`fully_shard`) when they do not fit one device. The older FSDP1 API is not used: it
crashes on CPU when gathering a full state dict.
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import contextmanager, nullcontext
from typing import Any, Iterator

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class Distributed:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup() -> Distributed:
    """Join the process group torchrun describes in the environment, or run alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", device_id=device if device.type == "cuda" else None)
    return Distributed(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def mean(value: float, env: Distributed) -> float:
    """The mean of a number over all processes."""
    if not env.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=env.device)
    dist.all_reduce(tensor)
    return tensor.item() / env.world_size


def broadcast_object(value: Any, env: Distributed) -> Any:
    """Rank 0's value on every rank (e.g. an error found only by the main process)."""
    if not env.enabled:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def wrap(model: torch.nn.Module, env: Distributed, fsdp: bool) -> torch.nn.Module:
    """DDP, or FSDP2 with one shard group per decoder layer and one for the rest."""
    if fsdp:
        from torch.distributed.fsdp import fully_shard

        if not env.enabled:
            return model
        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        return model
    if env.enabled:
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[env.device.index] if env.device.type == "cuda" else None)
    return model


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper (FSDP2 shards in place, so it is the module itself)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def is_sharded(model: torch.nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


@contextmanager
def gradient_sync(model: torch.nn.Module, enabled: bool) -> Iterator[None]:
    """Skip the gradient all-reduce on accumulation micro-steps; sync on the last one."""
    if enabled:
        yield
    elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
        with model.no_sync():
            yield
    elif is_sharded(model):
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    else:
        with nullcontext():
            yield


def full_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The whole model's tensors on the CPU (rank 0 gets them; FSDP shards are gathered)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    if is_sharded(model):
        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}


class _IndexedOptimizerState:
    """An optimizer's full state in the index-keyed form of `Optimizer.state_dict()`, converted
    from and to the name-keyed form that torch.distributed.checkpoint gathers from FSDP shards,
    so that `bigmodel.train.state` saves and restores a sharded run like any other."""

    def __init__(self, named: dict[str, Any]) -> None:
        self.names = [name for group in named["param_groups"] for name in group["params"]]
        self.named = named

    def state_dict(self) -> dict[str, Any]:
        index = {name: i for i, name in enumerate(self.names)}
        groups = [{**g, "params": [index[n] for n in g["params"]]} for g in self.named["param_groups"]]
        return {"state": {index[n]: v for n, v in self.named["state"].items()}, "param_groups": groups}

    def load_state_dict(self, indexed: dict[str, Any]) -> None:
        groups = [{**g, "params": [self.names[i] for i in g["params"]]} for g in indexed["param_groups"]]
        self.named = {"state": {self.names[int(i)]: v for i, v in indexed["state"].items()}, "param_groups": groups}


def _plain_copy(model: torch.nn.Module, tensors: dict[str, torch.Tensor] | None) -> torch.nn.Module:
    """An unsharded CPU twin of a `transformers` model (with `tensors` as its weights, if given)."""
    from transformers import AutoModelForCausalLM

    if tensors is None:
        return AutoModelForCausalLM.from_config(model.config)
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(model.config)
    plain.load_state_dict(tensors, assign=True, strict=False)  # a tied output layer is absent
    plain.tie_weights()
    return plain


def save_sharded_training_state(directory: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                                scheduler: Any, step: int, env: Distributed) -> None:
    """`bigmodel.train.state.save_training_state` for an FSDP2 model: every process helps gather
    the full model and optimizer state; rank 0 writes it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    from bigmodel.train.state import save_training_state

    tensors, named = get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if env.is_main:
        save_training_state(directory, model=_plain_copy(model, tensors), optimizer=_IndexedOptimizerState(named),
                            scheduler=scheduler, step=step)


def load_sharded_training_state(directory: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                                scheduler: Any) -> int:
    """Restore a state saved by `save_sharded_training_state` into an FSDP2 model; returns the step."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict, set_state_dict

    from bigmodel.train.state import load_training_state

    plain = _plain_copy(model, None)
    indexed = _IndexedOptimizerState(get_optimizer_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True)))
    step, _, _ = load_training_state(directory, model=plain, optimizer=indexed, scheduler=scheduler)
    set_state_dict(model, optimizer, model_state_dict=plain.state_dict(), optim_state_dict=indexed.named,
                   options=StateDictOptions(full_state_dict=True))
    return step
