"""The policy-value network: a residual convolutional net with a policy head and a value head
(AlphaGo Zero's shape). Its size comes from a preset; `config.json` describes it fully."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from bigmodel.errors import BigModelError
from bigmodel.families.decision.games import INPUT_PLANES, Game

ARCHITECTURE = "AlphaZeroNet"
MODEL_TYPE = "alphazero"

# preset -> (channels, residual blocks). AlphaZero itself used 256 channels and 19-20 blocks.
PRESETS: dict[str, tuple[int, int]] = {
    "tiny": (32, 2),
    "small": (64, 5),
    "base": (128, 10),
    "large": (256, 20),
}


@dataclasses.dataclass
class NetConfig:
    game: str
    rows: int
    cols: int
    action_size: int
    channels: int
    blocks: int
    input_planes: int = INPUT_PLANES
    preset: str = ""

    @classmethod
    def from_preset(cls, game: Game, preset: str) -> NetConfig:
        if preset not in PRESETS:
            raise BigModelError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        channels, blocks = PRESETS[preset]
        return cls(game.name, game.rows, game.cols, game.action_size, channels, blocks, preset=preset)

    def to_json(self) -> dict[str, Any]:
        """Hugging Face–style config.json."""
        return {"architectures": [ARCHITECTURE], "model_type": MODEL_TYPE, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> NetConfig:
        if data.get("model_type") != MODEL_TYPE:
            raise BigModelError(f"{where}: model_type is {data.get('model_type')!r}, expected {MODEL_TYPE!r}")
        values = {}
        for field in dataclasses.fields(cls):
            if field.name not in data:
                if field.default is dataclasses.MISSING:
                    raise BigModelError(f"{where}: missing field {field.name!r}")
                continue
            value = data[field.name]
            if field.type == "int" and (not isinstance(value, int) or value <= 0):
                raise BigModelError(f"{where}: field {field.name!r} must be a positive integer")
            if field.type == "str" and not isinstance(value, str):
                raise BigModelError(f"{where}: field {field.name!r} must be a string")
            values[field.name] = value
        return cls(**values)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(y)))


class AlphaZeroNet(nn.Module):
    """planes (B, C, rows, cols) -> policy logits (B, actions), value in [-1, 1] (B,)."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        c, cells = config.channels, config.rows * config.cols
        self.stem = nn.Sequential(
            nn.Conv2d(config.input_planes, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()
        )
        self.blocks = nn.Sequential(*(ResidualBlock(c) for _ in range(config.blocks)))
        self.policy_head = nn.Sequential(
            nn.Conv2d(c, 2, 1, bias=False), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * cells, config.action_size)
        )
        self.value_head = nn.Sequential(
            nn.Conv2d(c, 1, 1, bias=False),
            nn.BatchNorm2d(1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(cells, c),
            nn.ReLU(),
            nn.Linear(c, 1),
            nn.Tanh(),
        )

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.blocks(self.stem(planes))
        return self.policy_head(x), self.value_head(x).squeeze(1)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def network_weights(net: AlphaZeroNet) -> dict[str, np.ndarray]:
    """A network's state as plain arrays, to send to a worker process."""
    return {name: tensor.detach().numpy().copy() for name, tensor in net.state_dict().items()}


def network_from_weights(config: NetConfig, weights: dict[str, np.ndarray]) -> AlphaZeroNet:
    net = AlphaZeroNet(config)
    net.load_state_dict({name: torch.from_numpy(array) for name, array in weights.items()})
    return net.eval()


def _cpu_has_bfloat16() -> bool:
    # torch exposes these checks only privately; a torch without them gets float32.
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


# Where the CPU computes in bfloat16 (AVX512-BF16 or AMX), the network runs in it: training
# (autocast) and search's larger batches. Elsewhere bfloat16 is emulated and slower.
BFLOAT16 = _cpu_has_bfloat16()
# A batch gains from bfloat16 only once it holds enough arithmetic: measured on one core for
# Connect Four, from 2 positions for `small` (64 channels, 5 blocks) and about 16 for `tiny` (32
# channels, 2 blocks). Smaller batches stay in float32. Unit: positions × board cells ×
# channels² × residual blocks, the convolutions' multiply-adds up to a constant.
BFLOAT16_MIN_WORK = 1_400_000


def bfloat16_pays(config: NetConfig, batch: int) -> bool:
    """Whether a batch of `batch` positions runs faster in bfloat16 on this CPU."""
    return BFLOAT16 and batch * config.rows * config.cols * config.channels**2 * config.blocks >= BFLOAT16_MIN_WORK


def fold_batch_norms(net: AlphaZeroNet) -> AlphaZeroNet:
    """A copy of `net` for inference, each batch norm folded into the convolution before it."""
    net = copy.deepcopy(net).eval()
    for block in net.blocks:
        block.conv1, block.bn1 = fuse_conv_bn_eval(block.conv1, block.bn1), nn.Identity()
        block.conv2, block.bn2 = fuse_conv_bn_eval(block.conv2, block.bn2), nn.Identity()
    for layers in (net.stem, net.policy_head, net.value_head):
        for i in range(len(layers) - 1):
            if isinstance(layers[i], nn.Conv2d) and isinstance(layers[i + 1], nn.BatchNorm2d):
                layers[i], layers[i + 1] = fuse_conv_bn_eval(layers[i], layers[i + 1]), nn.Identity()
    return net


def inference_network(net: AlphaZeroNet) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """planes (float32) -> float32 (policy logits, value): the network for search. Its batch norms
    are folded into its convolutions and its activations run channels-last, oneDNN's fastest
    layout (`small` at batch 64 on one core: 1.65× the plain network); a bfloat16 copy takes
    the batches large enough to gain (see BFLOAT16)."""
    fast = fold_batch_norms(net).to(memory_format=torch.channels_last)
    half = copy.deepcopy(fast).to(torch.bfloat16) if BFLOAT16 else None

    def run(planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        planes = planes.contiguous(memory_format=torch.channels_last)
        if half is None or not bfloat16_pays(net.config, len(planes)):
            return fast(planes)
        logits, value = half(planes.to(torch.bfloat16))
        return logits.float(), value.float()

    return run
