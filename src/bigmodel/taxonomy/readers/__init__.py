"""Header readers: what tensors a weight file holds, read without loading weights or running code.

Every reader returns a `TensorInventory` and never raises on bad input: what is wrong becomes a
`Finding` that names the file and the problem. Memory stays bounded whatever the file claims.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "unsafe", "warning"]


@dataclasses.dataclass
class Finding:
    severity: Severity
    message: str  # one line naming the file and what is wrong

    def to_json(self) -> dict[str, str]:
        return {"severity": self.severity, "message": self.message}


@dataclasses.dataclass
class TensorInfo:
    name: str
    dtype: str  # canonical upper-case names: F32, BF16, F16, F64, I64, I32, I8, U8, BOOL, Q4_0, Q8_0, ...
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclasses.dataclass
class TensorInventory:
    path: Path
    format: str  # "safetensors", "gguf", "pytorch-zip", "pytorch-pickle", "onnx"
    tensors: list[TensorInfo] = dataclasses.field(default_factory=list)
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    findings: list[Finding] = dataclasses.field(default_factory=list)
    unsafe_globals: list[str] = dataclasses.field(default_factory=list)  # e.g. "os.system"

    @property
    def parameters(self) -> int:
        return sum(t.numel for t in self.tensors)

    @property
    def ok(self) -> bool:
        return not any(f.severity in ("error", "unsafe") for f in self.findings)
