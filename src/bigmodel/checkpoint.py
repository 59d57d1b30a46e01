"""Model directories: Hugging Face–compatible folders plus `bigmodel.json`, the model card.

A model directory holds `config.json`, `model.safetensors` (or shards with
`model.safetensors.index.json`), tokenizer files where there is text, and `bigmodel.json`.
Every write goes to a temporary sibling folder that is renamed into place only when complete,
so a crash never leaves a half-written model where a model is expected.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from bigmodel import __version__
from bigmodel.errors import BigModelError
from bigmodel.taxonomy.families import FAMILIES, is_large

CARD_NAME = "bigmodel.json"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
# Shard above this many bytes: small enough for any filesystem and for parallel loading.
MAX_SHARD_SIZE = "2GB"


@dataclasses.dataclass
class ModelCard:
    """What a model is. Stored as `bigmodel.json` beside the weights."""

    family: str
    task: str
    input_modalities: list[str]
    output_modalities: list[str]
    parameters: int
    architecture: str = ""
    name: str = ""  # the name it is served under; the folder name when empty
    chat: bool = False
    base_model: str | None = None  # lineage: the model this one was derived from
    domain: str | None = None
    data: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # provenance
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # family-specific facts
    bigmodel_version: str = __version__
    created: str = dataclasses.field(
        default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    )

    @property
    def large(self) -> bool:
        return is_large(self.parameters)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["large"] = self.large
        return data

    @classmethod
    def from_json(cls, data: Any, where: str = CARD_NAME) -> "ModelCard":
        if not isinstance(data, dict):
            raise BigModelError(f"{where}: expected a JSON object, found {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for required in ("family", "task", "input_modalities", "output_modalities", "parameters"):
            if required not in data:
                raise BigModelError(f"{where}: missing field '{required}'")
        if data["family"] not in FAMILIES:
            raise BigModelError(
                f"{where}: field 'family' is {data['family']!r}; expected one of {', '.join(FAMILIES)}"
            )
        if not isinstance(data["parameters"], int) or data["parameters"] < 0:
            raise BigModelError(f"{where}: field 'parameters' must be a non-negative integer")
        for key in ("input_modalities", "output_modalities"):
            if not isinstance(data[key], list) or not all(isinstance(m, str) for m in data[key]):
                raise BigModelError(f"{where}: field '{key}' must be a list of strings")
        return cls(**{k: v for k, v in data.items() if k in fields})


def read_card(model_dir: str | os.PathLike) -> ModelCard | None:
    """The card of a model directory, or None when it has none. Malformed cards raise."""
    path = Path(model_dir) / CARD_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BigModelError(f"{path}: not valid JSON ({err})") from None
    return ModelCard.from_json(data, where=str(path))


def write_card(model_dir: str | os.PathLike, card: ModelCard) -> None:
    write_json(Path(model_dir) / CARD_NAME, card.to_json())


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def check_replaceable(out: str | os.PathLike, marker: str) -> None:
    """Refuse to write over anything but what this kind of write made before: `out` may be missing,
    an empty folder, or a folder holding `marker` (a model's card, a pack's pack.json); a file or
    a folder of other things is the user's, and replacing it would lose it."""
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        kind = "a link" if out.is_symlink() else "a file"
        raise BigModelError(f"--out {out} is {kind}; give a folder to write (nothing was written)")
    if out.is_dir() and any(out.iterdir()) and not (out / marker).is_file():
        raise BigModelError(
            f"--out {out} is a folder that bigmodel did not write (it has no {marker}); "
            "give a new or empty folder, or remove it (nothing was written)"
        )


def model_out(out: Path) -> Path:
    """The `--out` of a command that writes a model directory, checked before any work is done
    (a typer callback; `check_replaceable`)."""
    check_replaceable(out, CARD_NAME)
    return out


@contextmanager
def atomic_directory(out: str | os.PathLike, marker: str) -> Iterator[Path]:
    """Yield a temporary folder beside `out` that replaces `out` in one rename on success; `out`
    must be replaceable (`check_replaceable` with `marker`, the file every such folder holds).

    On any error the temporary folder is removed and `out` is left as it was.
    """
    out = Path(out)
    check_replaceable(out, marker)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_partials(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-", dir=out.parent))
    try:
        yield tmp
        _fsync_tree(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def writing(out: str | os.PathLike) -> Iterator[Path]:
    """Write a model directory atomically: weights, config, tokenizer and a card (required)."""
    with atomic_directory(out, CARD_NAME) as tmp:
        yield tmp
        if not (tmp / CARD_NAME).is_file():
            raise BigModelError(f"internal: {out} was written without a {CARD_NAME}")


def _remove_abandoned_partials(out: Path) -> None:
    """Remove the temporary folders of earlier writes of `out` whose process died (e.g. SIGKILL)."""
    for partial in out.parent.glob(f".{out.name}.partial-*"):
        pid = partial.name.removeprefix(f".{out.name}.partial-").split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def save_tensors(
    model_dir: str | os.PathLike,
    tensors: Mapping[str, Any],
    max_shard_size: int | str = MAX_SHARD_SIZE,
    metadata: dict[str, str] | None = None,
) -> None:
    """Save torch tensors as `model.safetensors`, sharded with an index above `max_shard_size`.

    For models that are not `transformers` models (those use `save_pretrained`, which shards the
    same way).
    """
    from huggingface_hub import split_torch_state_dict_into_shards
    from safetensors.torch import save_file

    model_dir = Path(model_dir)
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    split = split_torch_state_dict_into_shards(
        tensors, filename_pattern="model{suffix}.safetensors", max_shard_size=max_shard_size
    )
    for filename, names in split.filename_to_tensors.items():
        save_file({n: tensors[n] for n in names}, model_dir / filename, metadata={"format": "pt", **(metadata or {})})
    if split.is_sharded:
        write_json(model_dir / WEIGHTS_INDEX_NAME, {"metadata": split.metadata, "weight_map": split.tensor_to_filename})


def load_tensors(model_dir: str | os.PathLike) -> dict[str, Any]:
    """Load all tensors of a model directory (single file or shards) with safetensors."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    files = weight_files(model_dir)
    if not files:
        raise BigModelError(f"{model_dir}: no {WEIGHTS_NAME} or {WEIGHTS_INDEX_NAME}")
    tensors: dict[str, Any] = {}
    for name in files:
        try:
            tensors.update(load_file(model_dir / name))
        except Exception as err:  # safetensors raises its own error types for corrupt files
            raise BigModelError(f"{model_dir / name}: cannot read tensors ({err})") from None
    return tensors


def read_config(model_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(model_dir) / CONFIG_NAME
    if not path.is_file():
        raise BigModelError(f"{model_dir}: not a model directory (no {CONFIG_NAME})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BigModelError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise BigModelError(f"{path}: expected a JSON object")
    return data


def family_of(model_dir: str | os.PathLike) -> str:
    """The family of a model directory: from its card, else classified from its config."""
    card = read_card(model_dir)
    if card is not None:
        return card.family
    from bigmodel.taxonomy.classify import classify_config

    return classify_config(read_config(model_dir)).family


def require_family(model_dir: str | os.PathLike, allowed: set[str], needed: str) -> str:
    """Refuse, with one clear line, a directory that is not a loadable model of an allowed family:
    the wrong family ("an LLM is needed; zoo/vit is a vision model"), a config that does not
    parse, or weights that are truncated or corrupt."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise BigModelError(f"{model_dir}: {'a file; give the model directory' if model_dir.exists() else 'no such model directory'}")
    family = family_of(model_dir)
    if family not in allowed:
        article = "an" if family[0] in "aeiou" or family == "llm" else "a"  # "an llm": said el-el-em
        raise BigModelError(f"{needed} is needed; {model_dir} is {article} {family} model")
    read_config(model_dir)  # a config that does not parse is named before the weights
    problem = weights_problem(model_dir)
    if problem is not None:
        raise BigModelError(problem)
    return family


def weight_files(model_dir: Path) -> list[str]:
    """The safetensors files a directory's weights are in: the index's shards, else
    model.safetensors if there is one."""
    index = model_dir / WEIGHTS_INDEX_NAME
    if index.is_file():
        return sorted(set(json.loads(index.read_text())["weight_map"].values()))
    return [WEIGHTS_NAME] if (model_dir / WEIGHTS_NAME).is_file() else []


def weights_problem(model_dir: str | os.PathLike) -> str | None:
    """What is wrong with a directory's safetensors weights (a missing shard, a truncated file, a
    corrupt header), read from the file headers alone; None when they read, or when there are none."""
    from bigmodel.taxonomy.readers.safetensors import read_safetensors_header

    model_dir = Path(model_dir)
    for name in weight_files(model_dir):
        if not (model_dir / name).is_file():
            return f"{model_dir}: cannot read tensors, shard {name} is missing"
        errors = [f.message for f in read_safetensors_header(model_dir / name).findings if f.severity == "error"]
        if errors:
            more = f"; {len(errors) - 1} more" if len(errors) > 1 else ""
            return f"{model_dir}: cannot read tensors, truncated or corrupt ({errors[0]}{more})"
    return None


def is_complete(model_dir: str | os.PathLike) -> bool:
    """A model directory that was fully written: card, config and every weight file readable."""
    model_dir = Path(model_dir)
    try:
        if read_card(model_dir) is None or not (model_dir / CONFIG_NAME).is_file():
            return False
        return bool(weight_files(model_dir)) and weights_problem(model_dir) is None
    except (BigModelError, OSError, ValueError, KeyError):
        return False
