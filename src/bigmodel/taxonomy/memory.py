"""Memory needed to hold a model's weights at common precisions, from its parameter count.

Rule: bytes = parameters × bytes per parameter (fp32 4, bf16 2, int8 1, int4 ½, rounded up).
Weights only: activations, the KV cache, optimizer state and the per-group scales of quantised
formats (a few percent for int4 with group size 128) come on top.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from bigmodel.taxonomy.readers import TensorInfo

# Bytes per parameter, as a fraction (numerator, denominator) so int4 stays exact.
PRECISIONS: dict[str, tuple[int, int]] = {"fp32": (4, 1), "bf16": (2, 1), "int8": (1, 1), "int4": (1, 2)}

# config.json `torch_dtype` / `dtype` → the canonical names the header readers use.
CONFIG_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64", "int8": "I8"}


def memory_bytes(parameters: int) -> dict[str, int]:
    """{"fp32": …, "bf16": …, "int8": …, "int4": …} bytes to hold `parameters` weights."""
    return {name: -(-parameters * num // den) for name, (num, den) in PRECISIONS.items()}


def stored_dtypes(tensors: Iterable[TensorInfo]) -> list[str]:
    """The dtypes the weights are stored in, the one holding most parameters first."""
    by_dtype: Counter[str] = Counter()
    for tensor in tensors:
        by_dtype[tensor.dtype] += tensor.numel
    return [dtype for dtype, _ in by_dtype.most_common()]


def human_bytes(size: int) -> str:
    """Decimal units, three significant digits: 13.5 GB."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1000
    return f"{value:.3g} TB"
