"""Header readers: what tensors a weight file holds, read without loading weights or running code.

Every reader returns a `TensorInventory` and never raises on bad input: what is wrong becomes a
`Finding` that names the file and the problem. Memory stays bounded whatever the file claims.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import reprlib
from pathlib import Path
from typing import Any, Callable, Literal

# No header we read may claim more than this many bytes: the safetensors library's own limit.
MAX_HEADER_BYTES = 100_000_000
# A hostile file can be wrong in a million places; past this many findings we stop listing them.
MAX_FINDINGS = 100

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

    def add(self, severity: Severity, message: str) -> None:
        """Record a finding; the message is prefixed with the file name so it stands alone."""
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(Finding(severity, f"{self.path.name}: {message}"))
        elif len(self.findings) == MAX_FINDINGS:
            self.findings.append(
                Finding("error", f"{self.path.name}: more than {MAX_FINDINGS} problems; the rest are not listed")
            )


def clip(text: str, limit: int = 80) -> str:
    """Cut text to a length that keeps a finding on one readable line."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# reprlib stops at a depth and a length, so a hostile nested value cannot make repr() run away.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxlong, _REPR.maxother = 3, 200, 60, 80


def short(value: Any, limit: int = 80) -> str:
    """repr() of a value read from a file, bounded and clipped."""
    return clip(_REPR.repr(value), limit)


INTERNAL_ERROR = "internal error while reading"


def guarded(fmt: str) -> Callable[[Callable[[Path], TensorInventory]], Callable[[str | os.PathLike[str]], TensorInventory]]:
    """Make a reader total: it accepts any path and turns every failure into a finding.

    Readers check what they read; this is the backstop so that `inspect` over a folder of
    untrusted files never stops on one of them. Tests assert INTERNAL_ERROR never appears.
    """

    def decorate(read: Callable[[Path], TensorInventory]) -> Callable[[str | os.PathLike[str]], TensorInventory]:
        @functools.wraps(read)
        def wrapper(path: str | os.PathLike[str]) -> TensorInventory:
            path = Path(path)
            try:
                return read(path)
            except OSError as exc:
                inv = TensorInventory(path, fmt)
                inv.add("error", f"cannot read the file ({exc.strerror or exc})")
            except Exception as exc:  # noqa: BLE001 - the backstop described above
                inv = TensorInventory(path, fmt)
                inv.add("error", f"{INTERNAL_ERROR} ({type(exc).__name__}: {clip(str(exc))})")
            return inv

        return wrapper

    return decorate


# Suffixes, for files whose first bytes do not already say what they are.
_SUFFIX_FORMATS = {
    ".safetensors": "safetensors",
    ".gguf": "gguf",
    ".onnx": "onnx",
    **dict.fromkeys((".bin", ".pt", ".pth", ".ckpt", ".pkl"), "pytorch"),
}


def read_weights(path: str | os.PathLike[str]) -> TensorInventory:
    """Read any weight file we know, choosing the reader by its first bytes, then its suffix."""
    from bigmodel.taxonomy.readers.gguf import read_gguf
    from bigmodel.taxonomy.readers.onnx_reader import read_onnx
    from bigmodel.taxonomy.readers.pickle_scan import read_pytorch, read_pytorch_index
    from bigmodel.taxonomy.readers.safetensors import read_safetensors_header, read_safetensors_index

    path = Path(path)
    name = path.name.lower()
    if name.endswith(".index.json"):
        return read_safetensors_index(path) if ".safetensors" in name else read_pytorch_index(path)
    try:
        with path.open("rb") as f:
            head = f.read(9)
    except OSError as exc:
        inv = TensorInventory(path, "unknown")
        inv.add("error", f"cannot read the file ({exc.strerror or exc})")
        return inv
    if head.startswith(b"GGUF"):
        kind = "gguf"
    elif head.startswith(b"PK\x03\x04"):  # zip archive: torch.save's default format
        kind = "pytorch"
    elif head[8:9] == b"{":  # 8-byte header length, then the JSON header
        # Before the pickle test: a header length whose low byte is 0x80 looks like a pickle start.
        kind = "safetensors"
    elif head.startswith(b"\x80"):  # pickle protocol 2+
        kind = "pytorch"
    else:
        kind = _SUFFIX_FORMATS.get(path.suffix.lower(), "unknown")
    readers = {"safetensors": read_safetensors_header, "gguf": read_gguf, "pytorch": read_pytorch, "onnx": read_onnx}
    if kind in readers:
        return readers[kind](path)
    inv = TensorInventory(path, "unknown")
    inv.add("error", f"not a weight file we can read (expected {', '.join(sorted(_SUFFIX_FORMATS))} or *.index.json)")
    return inv
