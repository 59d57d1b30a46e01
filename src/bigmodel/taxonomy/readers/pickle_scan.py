"""PyTorch checkpoints (`.bin/.pt/.pth/.ckpt`), read without unpickling.

`torch.save` writes either a zip archive (`<name>/data.pkl` plus one `<name>/data/<key>` record
per storage) or, with the legacy format, five pickles in a row (magic number, protocol, sys info,
the object, storage keys) followed by the raw storages. Unpickling runs whatever functions the
pickle names, so we never do it: we walk the opcodes with `pickletools.genops` and simulate the
unpickler's stack and memo just far enough to see dicts, tuples and the torch calls that rebuild
tensors. Every global the pickle imports is checked against an allow-list; anything else is
reported as unsafe. Opcodes, memo entries and bytes read are all bounded.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickletools
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from bigmodel.taxonomy.readers import (
    MAX_HEADER_BYTES,
    TensorInfo,
    TensorInventory,
    clip,
    guarded,
    short,
)
from bigmodel.taxonomy.readers.safetensors import MAX_TENSOR_BYTES, bounded_numel, read_weight_index

MAX_PICKLE_BYTES = MAX_HEADER_BYTES  # a data.pkl holds no tensor data: kilobytes, rarely megabytes
MAX_WORK = 5_000_000  # opcodes plus items copied; a 100k-tensor state dict needs ~3M
MAX_MEMO = 1_000_000
MAX_DEPTH = 64  # nesting of containers we follow when naming tensors
MAX_NAME_PART = 1_000  # characters of one key used in a tensor name
MAX_UNSAFE_LISTED = 100
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
LEGACY_PROTOCOL = 1001

# torch dtype attribute -> canonical dtype name; storage class -> its dtype.
TORCH_DTYPES = {
    "float64": "F64", "double": "F64", "float32": "F32", "float": "F32",
    "float16": "F16", "half": "F16", "bfloat16": "BF16",
    "int64": "I64", "long": "I64", "int32": "I32", "int": "I32", "int16": "I16", "short": "I16",
    "int8": "I8", "uint8": "U8", "uint16": "U16", "uint32": "U32", "uint64": "U64", "bool": "BOOL",
    "complex32": "C32", "complex64": "C64", "complex128": "C128",
    "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2", "float8_e4m3fnuz": "F8_E4M3FNUZ",
    "float8_e5m2fnuz": "F8_E5M2FNUZ", "float8_e8m0fnu": "F8_E8M0", "float4_e2m1fn_x2": "F4_X2",
    "qint8": "QINT8", "quint8": "QUINT8", "qint32": "QINT32", "quint4x2": "QUINT4X2", "quint2x4": "QUINT2X4",
}  # fmt: skip
STORAGE_DTYPES = {
    "DoubleStorage": "F64", "FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16",
    "LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
    "ByteStorage": "U8", "BoolStorage": "BOOL",
    "ComplexFloatStorage": "C64", "ComplexDoubleStorage": "C128",
    "QInt8Storage": "QINT8", "QUInt8Storage": "QUINT8", "QInt32Storage": "QINT32",
    "QUInt4x2Storage": "QUINT4X2", "QUInt2x4Storage": "QUINT2X4",
}  # fmt: skip
DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
    "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "C32": 4, "C64": 8, "C128": 16,
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E4M3FNUZ": 1, "F8_E5M2FNUZ": 1, "F8_E8M0": 1, "F4_X2": 1,
    "QINT8": 1, "QUINT8": 1, "QINT32": 4, "QUINT4X2": 1, "QUINT2X4": 1,
}  # fmt: skip
UNTYPED_STORAGES = {"torch.UntypedStorage", "torch.storage.UntypedStorage"}

# Known but not torch: numpy arrays and scalars appear in training checkpoints. They rebuild
# data, not code, yet torch.load(weights_only=True) refuses them unless allow-listed.
NUMPY_GLOBALS = {
    f"{module}.{name}"
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {"numpy.ndarray", "numpy.dtype"}
# Names pickle records for os/builtins functions on each platform, and the name people know.
MODULE_ALIASES = {"posix": "os", "nt": "os", "__builtin__": "builtins"}


# What the simulated unpickler holds in place of real objects.
@dataclasses.dataclass(frozen=True)
class _Global:
    name: str  # "module.qualname"


@dataclasses.dataclass(frozen=True)
class _Storage:
    key: str
    dtype: str | None  # None: an untyped (byte) storage; the tensor's dtype comes from elsewhere
    numel: int


@dataclasses.dataclass(frozen=True)
class _Tensor:
    dtype: str
    shape: tuple[int, ...]
    storage: _Storage | None = None
    offset: int = 0
    stride: tuple[int, ...] | None = None


@dataclasses.dataclass(eq=False, repr=False)  # repr=False: may hold itself, or nest very deep
class _Dict:
    items: list[tuple[Any, Any]]  # pairs, not a dict: keys may be unhashable stand-ins


class _Opaque:
    """Any object we do not model (its globals were still checked)."""


OPAQUE = _Opaque()


class _Corrupt(Exception):
    """The pickle cannot be what it claims; the message becomes an error finding."""


def _is_int(value: Any) -> bool:
    return type(value) is int


def _int_tuple(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, tuple) and all(_is_int(v) for v in value):
        return value
    return None


class _Scanner:
    """Simulates pickle's stack machine for one file; the work budget spans all its pickles."""

    def __init__(self, inv: TensorInventory) -> None:
        self.inv = inv
        self.work = 0
        self.storages: dict[str, _Storage] = {}
        self.handlers: dict[str, Callable[[tuple[Any, ...]], Any]] = {
            "torch._utils._rebuild_tensor": self._rebuild_tensor,
            "torch._utils._rebuild_tensor_v2": self._rebuild_tensor,
            "torch._utils._rebuild_qtensor": self._rebuild_tensor,
            "torch._utils._rebuild_tensor_v3": self._rebuild_tensor_v3,
            "torch._utils._rebuild_parameter": self._first_argument,
            "torch._utils._rebuild_parameter_with_state": self._first_argument,
            "torch._utils._rebuild_meta_tensor_no_storage": self._rebuild_meta,
            "torch._tensor._rebuild_from_type_v2": self._rebuild_from_type,
            "collections.OrderedDict": self._make_dict,
            "builtins.dict": self._make_dict,
            "torch.Size": self._first_argument,
        }
        # Everything a plain state dict may import; calling these rebuilds data, never runs code.
        self.allowed = set(self.handlers) | UNTYPED_STORAGES | {
            f"torch.{attr}" for attr in TORCH_DTYPES
        } | {f"torch.{s}" for s in STORAGE_DTYPES} | {f"torch.cuda.{s}" for s in STORAGE_DTYPES} | {
            "torch._utils._rebuild_sparse_tensor",
            "torch._utils._rebuild_nested_tensor",
            "torch._utils._rebuild_wrapper_subclass",
            "torch.Tensor",
            "torch.nn.parameter.Parameter",
            "torch.device",
            "torch.strided",
            "torch.sparse_coo",
            "torch.serialization._get_layout",
            "_codecs.encode",
            "builtins.list", "builtins.tuple", "builtins.set", "builtins.frozenset",
            "builtins.bytearray", "builtins.complex", "builtins.slice",
        }  # fmt: skip
        self.seen_globals: set[str] = set()

    # ---- the opcode walk ----
    def scan(self, stream: BinaryIO) -> Any:
        """Walk one pickle from `stream` to its STOP and return the simulated result."""
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        for opcode, arg, _ in self._ops(stream):
            if opcode.name == "STOP":
                return self._pop()
            self._step(opcode.name, arg)
        raise _Corrupt("pickle ends without STOP")

    def _pop(self) -> Any:
        if not self.stack:
            raise _Corrupt("malformed pickle (pops an empty stack)")
        return self.stack.pop()

    def _top(self) -> Any:
        if not self.stack:
            raise _Corrupt("malformed pickle (reads an empty stack)")
        return self.stack[-1]

    def _pop_mark(self) -> list[Any]:
        if not self.marks:
            raise _Corrupt("malformed pickle (no MARK to pop to)")
        items, self.stack = self.stack, self.marks.pop()
        return items

    def _step(self, name: str, arg: Any) -> None:
        """One opcode, as pickle's Unpickler does it, with stand-ins for real objects."""
        if name in ("PROTO", "FRAME"):
            return
        if name == "MARK":
            self.marks.append(self.stack)
            self.stack = []
        elif name == "POP":
            if self.stack:
                self.stack.pop()
            else:
                self._pop_mark()
        elif name == "POP_MARK":
            self._pop_mark()
        elif name == "DUP":
            self.stack.append(self._top())
        elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            if len(self.memo) >= MAX_MEMO:
                raise _Corrupt(f"pickle memo grows past {MAX_MEMO} entries")
            self.memo[len(self.memo) if name == "MEMOIZE" else arg] = self._top()
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in self.memo:
                raise _Corrupt(f"malformed pickle (memo entry {short(arg)} read before written)")
            self.stack.append(self.memo[arg])
        elif name == "GLOBAL":
            module, _, attr = arg.partition(" ")
            self.stack.append(self._global(module, attr))
        elif name == "INST":
            module, _, attr = arg.partition(" ")
            found = self._global(module, attr)
            args = tuple(self._pop_mark())
            self.stack.append(self._call(found, args))
        elif name == "STACK_GLOBAL":
            attr, module = self._pop(), self._pop()
            if isinstance(module, str) and isinstance(attr, str):
                self.stack.append(self._global(module, attr))
            else:
                self._unsafe("<computed>", "STACK_GLOBAL imports a name computed at load time")
                self.stack.append(OPAQUE)
        elif name == "REDUCE":
            args = self._pop()
            func = self._pop()
            self.stack.append(self._call(func, args if isinstance(args, tuple) else None))
        elif name == "OBJ":
            items = self._pop_mark()
            self.stack.append(self._call(items[0], tuple(items[1:])) if items else OPAQUE)
        elif name in ("NEWOBJ", "NEWOBJ_EX"):
            self._pop()  # args (and kwargs): how an object is allocated, not what it is
            if name == "NEWOBJ_EX":
                self._pop()
            cls = self._pop()
            self.stack.append(self._call(cls, ()))
        elif name == "BUILD":
            self._pop()  # object state (a state dict's _metadata, a Parameter's hooks): no tensors
            self._top()
        elif name in ("BINPERSID", "PERSID"):
            pid = self._pop() if name == "BINPERSID" else arg
            self.stack.append(self._persistent(pid))
        elif name in ("EXT1", "EXT2", "EXT4"):
            self._unsafe(f"<extension {arg}>", f"imports a global through copyreg extension code {arg}")
            self.stack.append(OPAQUE)
        elif name in ("NEXT_BUFFER", "READONLY_BUFFER"):
            raise _Corrupt("pickle uses out-of-band buffers, which a checkpoint cannot")
        else:
            self._build(name, arg)

    def _build(self, name: str, arg: Any) -> None:
        """Opcodes that push constants or build containers."""
        if name in ("EMPTY_LIST", "EMPTY_SET"):
            self.stack.append([])
        elif name == "EMPTY_DICT":
            self.stack.append(_Dict([]))
        elif name == "EMPTY_TUPLE":
            self.stack.append(())
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            items = [self._pop() for _ in range(int(name[-1]))]
            self.stack.append(tuple(reversed(items)))
        elif name == "TUPLE":
            items = self._pop_mark()
            self.stack.append(tuple(items))
        elif name in ("LIST", "FROZENSET"):
            items = self._pop_mark()
            self.stack.append(items)
        elif name == "DICT":
            items = self._pop_mark()
            self.stack.append(_Dict(list(zip(items[::2], items[1::2]))))
        elif name in ("APPEND", "APPENDS", "ADDITEMS"):
            items = [self._pop()] if name == "APPEND" else self._pop_mark()
            target = self._top()
            if isinstance(target, list):
                target.extend(items)
        elif name in ("SETITEM", "SETITEMS"):
            if name == "SETITEM":
                value = self._pop()
                items = [self._pop(), value]
            else:
                items = self._pop_mark()
            target = self._top()
            if isinstance(target, _Dict):
                target.items.extend(zip(items[::2], items[1::2]))
        elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
            self.stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
        else:  # every other opcode pushes the constant genops decoded: ints, floats, strings, bytes
            self.stack.append(arg)

    def _ops(self, stream: BinaryIO) -> Iterator[tuple[pickletools.OpcodeInfo, Any, int | None]]:
        try:
            for op in pickletools.genops(stream):
                self.work += 1
                if self.work > MAX_WORK:
                    raise _Corrupt(f"pickle needs more than {MAX_WORK} steps to read; refused")
                yield op
        except (ValueError, OverflowError) as exc:  # genops: unknown opcode, truncated argument
            raise _Corrupt(f"not a valid pickle ({clip(str(exc))})") from None

    # ---- globals and calls ----
    def _global(self, module: str, attr: str) -> _Global:
        name = f"{module}.{attr}"
        if name not in self.seen_globals:
            self.seen_globals.add(name)
            if name in NUMPY_GLOBALS:
                self.inv.add("warning", f"imports {name}: numpy objects, not tensors; torch.load(weights_only=True) refuses them")
            elif name not in self.allowed:
                alias = f"{MODULE_ALIASES[module]}.{attr}" if module in MODULE_ALIASES else None
                known = f" ({alias})" if alias else ""
                self._unsafe(name, f"imports {clip(name)}{known}, which is not a tensor-rebuilding function; loading would call it (not run here)")
        return _Global(name)

    def _unsafe(self, name: str, why: str) -> None:
        if name not in self.inv.unsafe_globals and len(self.inv.unsafe_globals) < MAX_UNSAFE_LISTED:
            self.inv.unsafe_globals.append(clip(name, 200))
            self.inv.add("unsafe", why)

    def _call(self, func: Any, args: tuple[Any, ...] | None) -> Any:
        if not isinstance(func, _Global) or args is None:
            return OPAQUE
        handler = self.handlers.get(func.name)
        return handler(args) if handler else OPAQUE

    def _first_argument(self, args: tuple[Any, ...]) -> Any:
        return args[0] if args else OPAQUE

    def _make_dict(self, args: tuple[Any, ...]) -> Any:
        if not args:
            return _Dict([])
        source = args[0]
        if isinstance(source, _Dict):
            pairs = source.items
        elif isinstance(source, list) and all(isinstance(p, tuple) and len(p) == 2 for p in source):
            pairs = source
        else:
            return OPAQUE
        self.work += len(pairs)  # copying is work too: a memoised list could be copied endlessly
        return _Dict(list(pairs))

    def _tensor(self, dtype: Any, storage: Any, offset: Any, size: Any, stride: Any) -> Any:
        shape = _int_tuple(size)
        if shape is None or not isinstance(dtype, str):
            return OPAQUE
        self.work += len(shape)
        return _Tensor(dtype, shape, storage, offset if _is_int(offset) else 0, _int_tuple(stride))

    def _rebuild_tensor(self, args: tuple[Any, ...]) -> Any:
        # (storage, storage_offset, size, stride, ...): the storage's type names the dtype.
        if len(args) < 4 or not isinstance(args[0], _Storage):
            return OPAQUE
        return self._tensor(args[0].dtype, *args[:4])

    def _rebuild_tensor_v3(self, args: tuple[Any, ...]) -> Any:
        # (storage, storage_offset, size, stride, requires_grad, hooks, dtype, ...): an untyped
        # storage, the dtype passed explicitly.
        if len(args) < 7 or not isinstance(args[0], _Storage) or not isinstance(args[6], _Global):
            return OPAQUE
        return self._tensor(self._dtype(args[6]), *args[:4])

    def _rebuild_meta(self, args: tuple[Any, ...]) -> Any:
        # (dtype, size, stride, requires_grad): a tensor with no data at all.
        if len(args) < 3 or not isinstance(args[0], _Global):
            return OPAQUE
        return self._tensor(self._dtype(args[0]), None, 0, args[1], args[2])

    def _rebuild_from_type(self, args: tuple[Any, ...]) -> Any:
        # (func, new_type, args, state): a Tensor subclass, rebuilt by func(*args).
        if len(args) < 3 or not isinstance(args[2], tuple):
            return OPAQUE
        return self._call(args[0], args[2])

    @staticmethod
    def _dtype(value: _Global) -> str | None:
        module, _, attr = value.name.rpartition(".")
        return TORCH_DTYPES.get(attr) if module == "torch" else None

    def _persistent(self, pid: Any) -> Any:
        # ("storage", storage_type, key, location, numel[, view_metadata]): see torch.serialization.
        if (
            not isinstance(pid, tuple)
            or len(pid) < 5
            or pid[0] != "storage"
            or not isinstance(pid[1], _Global)
            or not isinstance(pid[2], str)
            or not _is_int(pid[4])
            or pid[4] < 0
        ):
            raise _Corrupt(f"unexpected persistent id {short(pid)}; torch writes ('storage', type, key, location, numel)")
        storage_type, key, numel = pid[1].name, pid[2], pid[4]
        if storage_type in UNTYPED_STORAGES:
            dtype = None
        else:
            dtype = STORAGE_DTYPES.get(storage_type.rpartition(".")[2])
            if dtype is None:
                raise _Corrupt(f"storage {short(key)} has unknown type {clip(storage_type)}")
        storage = self.storages.setdefault(key, _Storage(key, dtype, numel))
        if storage != _Storage(key, dtype, numel):
            raise _Corrupt(f"storage {short(key)} is declared twice with different types or sizes")
        return storage


# ---- naming tensors ----
def _key_text(key: Any) -> str | None:
    if isinstance(key, str):
        return key if len(key) <= MAX_NAME_PART else clip(key, MAX_NAME_PART)
    if _is_int(key) and key.bit_length() < 64:
        return str(key)
    return None


def _named_tensors(root: Any, inv: TensorInventory) -> list[tuple[list[str], _Tensor]]:
    """Every tensor reachable through dicts, lists and tuples, with the keys leading to it."""
    found: list[tuple[list[str], _Tensor]] = []
    visiting: set[int] = set()
    todo: list[tuple[Any, list[str]]] = [(root, [])]
    while todo:
        value, path = todo.pop()
        if isinstance(value, _Tensor):
            found.append((path, value))
            continue
        if isinstance(value, _Dict):
            children = [(_key_text(k), v) for k, v in value.items]
        elif isinstance(value, (list, tuple)):
            children = [(str(i), v) for i, v in enumerate(value)]
        else:
            continue
        if id(value) in visiting:
            continue
        visiting.add(id(value))
        if len(path) >= MAX_DEPTH:
            inv.add("error", f"containers nested deeper than {MAX_DEPTH} levels; the rest is not read")
            continue
        todo.extend((v, [*path, k]) for k, v in reversed(children) if k is not None)
    return found


def _add_tensors(root: Any, inv: TensorInventory) -> list[_Tensor]:
    found = _named_tensors(root, inv)
    # A checkpoint often wraps the state dict ({"state_dict": ...}, {"model": ...}); when every
    # tensor sits under one key, name them as the state dict itself does.
    prefix: list[str] = []
    while found and all(len(p) > len(prefix) + 1 and p[len(prefix)] == found[0][0][len(prefix)] for p, _ in found):
        prefix.append(found[0][0][len(prefix)])
    if prefix:
        inv.metadata["state_dict_key"] = ".".join(prefix)
    first_with_data: dict[tuple[Any, ...], str] = {}
    shared: dict[str, str] = {}
    tensors: dict[str, _Tensor] = {}
    for path, tensor in found:
        name = ".".join(path[len(prefix):])
        if name in tensors:
            del tensors[name]  # a later duplicate key wins, as when unpickling a dict
        tensors[name] = tensor
    for name, tensor in tensors.items():
        inv.tensors.append(TensorInfo(name, tensor.dtype, tensor.shape))
        if tensor.storage is not None:
            # Tied weights are saved once and referenced under two names.
            view = (tensor.storage.key, tensor.offset, tensor.shape, tensor.stride, tensor.dtype)
            shared_with = first_with_data.setdefault(view, name)
            if shared_with != name:
                shared[name] = shared_with
    if shared:
        inv.metadata["shared_tensors"] = shared
    return list(tensors.values())


def _check_extents(tensors: list[_Tensor], storage_bytes: dict[str, int], inv: TensorInventory) -> None:
    """Each tensor must lie inside its storage's bytes (which must exist)."""
    for tensor in tensors:
        if tensor.storage is None or tensor.storage.key not in storage_bytes:
            continue
        key, size = tensor.storage.key, storage_bytes[tensor.storage.key]
        if tensor.dtype not in DTYPE_BYTES:
            continue
        numel = bounded_numel(tensor.shape, MAX_TENSOR_BYTES)
        stride = tensor.stride if tensor.stride is not None else ()
        if numel == 0:
            continue
        if numel is None or len(stride) != len(tensor.shape) or tensor.offset < 0 or any(s < 0 for s in stride):
            inv.add("error", f"storage {short(key)}: a {tensor.dtype} tensor of shape {short(tensor.shape)} has an impossible size or stride")
            continue
        last = tensor.offset + sum((d - 1) * s for d, s in zip(tensor.shape, stride))
        needed = (last + 1) * DTYPE_BYTES[tensor.dtype]
        if needed > size:
            inv.add("error", f"storage {short(key)} holds {size} bytes but a {tensor.dtype} tensor of shape {short(tensor.shape)} needs {needed}")


# ---- the two file layouts ----
@guarded("pytorch")
def read_pytorch_index(path: Path) -> TensorInventory:
    """Every shard named by a `pytorch_model.bin.index.json`, merged into one inventory."""
    return read_weight_index(path, read_pytorch, "pytorch")


@guarded("pytorch")
def read_pytorch(path: Path) -> TensorInventory:
    """The tensors of a torch checkpoint, zip or legacy, and any unsafe globals it imports."""
    with path.open("rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    inv = TensorInventory(path, "pytorch-zip" if is_zip else "pytorch-pickle")
    try:
        (_read_zip if is_zip else _read_legacy)(path, inv)
    except _Corrupt as exc:
        inv.add("error", str(exc))
    return inv


def _read_zip(path: Path, inv: TensorInventory) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            prefix = names[0].split("/", 1)[0] if names else ""
            record = f"{prefix}/data.pkl"
            if record not in names:
                raise _Corrupt("zip is not a torch archive (no <name>/data.pkl record)")
            with archive.open(record) as stream:
                data = stream.read(MAX_PICKLE_BYTES + 1)
            if len(data) > MAX_PICKLE_BYTES:
                raise _Corrupt(f"{record} is over {MAX_PICKLE_BYTES} bytes; refused")
            for meta in ("byteorder", "version", ".data/version"):
                if f"{prefix}/{meta}" in names:
                    with archive.open(f"{prefix}/{meta}") as stream:
                        inv.metadata[meta] = stream.read(32).decode("ascii", errors="replace").strip()
            infos = {info.filename: info.file_size for info in archive.infolist()}
    # zipfile signals a damaged or unsupported archive in all of these ways (encrypted: RuntimeError).
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, EOFError, zlib.error) as exc:
        raise _Corrupt(f"not a readable zip archive ({clip(str(exc))})") from None
    scanner = _Scanner(inv)
    tensors = _add_tensors(scanner.scan(io.BytesIO(data)), inv)
    storage_bytes: dict[str, int] = {}
    for key, storage in scanner.storages.items():
        record = f"{prefix}/data/{key}"
        if record not in infos:
            inv.add("error", f"storage record {clip(record)} is missing")
            continue
        storage_bytes[key] = infos[record]
    _check_extents(tensors, storage_bytes, inv)


class _Bounded:
    """A file view that hands genops at most `limit` bytes, whatever length a pickle claims."""

    def __init__(self, f: BinaryIO, limit: int) -> None:
        self.f, self.left = f, limit

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(data)
        return data

    def readline(self) -> bytes:
        data = self.f.readline(self.left)
        self.left -= len(data)
        return data

    def tell(self) -> int:
        return self.f.tell()


def _read_legacy(path: Path, inv: TensorInventory) -> None:
    scanner = _Scanner(inv)
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size

        def next_pickle() -> Any:
            return scanner.scan(_Bounded(f, min(MAX_PICKLE_BYTES, size - f.tell())))

        magic = next_pickle()
        if magic != LEGACY_MAGIC:
            # A bare pickle: torch.load refuses it, but what it imports is still worth reporting.
            _add_tensors(magic, inv)
            raise _Corrupt("not a torch checkpoint: a plain pickle without torch's magic number")
        protocol = next_pickle()
        if protocol != LEGACY_PROTOCOL:
            raise _Corrupt(f"torch legacy protocol {short(protocol)} is not supported ({LEGACY_PROTOCOL} is)")
        sys_info = next_pickle()
        little = not isinstance(sys_info, _Dict) or dict(
            (k, v) for k, v in sys_info.items if isinstance(k, str)
        ).get("little_endian", True)
        inv.metadata["byteorder"] = "little" if little else "big"
        tensors = _add_tensors(next_pickle(), inv)
        keys = next_pickle()
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise _Corrupt("storage key list is not a list of strings")
        storage_bytes: dict[str, int] = {}
        for key in keys:
            storage = scanner.storages.get(key)
            if storage is None:
                raise _Corrupt(f"storage {short(key)} is listed but no tensor uses it")
            head = f.read(8)
            if len(head) < 8:
                raise _Corrupt(f"storage {short(key)} is past the end of the file")
            numel = struct.unpack("<q" if little else ">q", head)[0]
            nbytes = numel * (DTYPE_BYTES.get(storage.dtype, 1) if storage.dtype else 1)
            if not 0 <= nbytes <= size - f.tell():
                raise _Corrupt(f"storage {short(key)} claims {numel} elements, past the end of the file")
            f.seek(nbytes, os.SEEK_CUR)
            storage_bytes[key] = nbytes
    missing = scanner.storages.keys() - storage_bytes.keys()
    if missing:
        inv.add("error", f"{len(missing)} storages used by tensors have no data, e.g. {short(min(missing))}")
    _check_extents(tensors, storage_bytes, inv)
