"""`inspect`: what any checkpoint is — family, modalities, exact size, memory, chat, lineage, safety.

Accepts model directories (config.json and/or bigmodel.json, with or without weights), single
weight files (.safetensors, sharded index, .gguf, .bin/.pt/.pth, .onnx), and folders of any of
those, scanned recursively. Weights are read through the header readers: nothing is loaded,
unpickled or executed. Bad input becomes a finding in the report, never an exception.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Iterator

from bigmodel import checkpoint
from bigmodel.errors import BigModelError
from bigmodel.taxonomy import classify, count, memory
from bigmodel.taxonomy.families import is_large
from bigmodel.taxonomy.readers import Finding, TensorInventory

WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".onnx")
INDEX_SUFFIXES = (".safetensors.index.json", ".bin.index.json")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth")
# Files a model directory is recognised by; a folder holding one is one model, not a collection.
MODEL_DIR_MARKERS = (checkpoint.CONFIG_NAME, checkpoint.CARD_NAME, "model_index.json")
# Pickles that trainers write beside the weights: scanned for safety, never counted as weights.
TRAINING_FILES = ("training_args.bin", "optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state")


@dataclasses.dataclass
class ModelReport:
    """Everything inspect found out about one model. `to_json()` is the stable, documented form."""

    path: Path
    name: str
    kind: str  # what was inspected: model-directory, safetensors, safetensors-index, gguf, pytorch, onnx, folder
    family: str = "unknown"
    family_evidence: str = ""
    input_modalities: list[str] = dataclasses.field(default_factory=list)
    output_modalities: list[str] = dataclasses.field(default_factory=list)
    architecture: str = ""
    task: str = "unknown"
    parameters: int | None = None
    parameter_source: str | None = None
    chat: bool = False
    chat_evidence: str | None = None
    domain: str | None = None
    base_model: str | None = None
    dtypes: list[str] = dataclasses.field(default_factory=list)
    weight_files: list[str] = dataclasses.field(default_factory=list)
    safety: str = "no weights"
    findings: list[Finding] = dataclasses.field(default_factory=list)

    @property
    def large(self) -> bool:
        return self.parameters is not None and is_large(self.parameters)

    @property
    def memory(self) -> dict[str, int] | None:
        return None if self.parameters is None else memory.memory_bytes(self.parameters)

    @property
    def has_problems(self) -> bool:
        """An error or unsafe finding: what `--strict` fails on."""
        return any(f.severity in ("error", "unsafe") for f in self.findings)

    def add(self, severity: str, message: str) -> None:
        self.findings.append(Finding(severity, message))  # type: ignore[arg-type]

    def apply(self, result: classify.Classification) -> None:
        self.family, self.family_evidence = result.family, result.why
        self.input_modalities, self.output_modalities = result.input_modalities, result.output_modalities
        self.architecture, self.task = result.architecture, result.task
        if result.chat and not self.chat:
            self.chat, self.chat_evidence = True, result.chat_evidence

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.name,
            "kind": self.kind,
            "family": self.family,
            "family_evidence": self.family_evidence,
            "input_modalities": self.input_modalities,
            "output_modalities": self.output_modalities,
            "architecture": self.architecture,
            "task": self.task,
            "parameters": self.parameters,
            "parameter_source": self.parameter_source,
            "large": self.large,
            "chat": self.chat,
            "chat_evidence": self.chat_evidence,
            "domain": self.domain,
            "base_model": self.base_model,
            "dtypes": self.dtypes,
            "memory_bytes": self.memory,
            "weight_files": self.weight_files,
            "safety": self.safety,
            "findings": [f.to_json() for f in self.findings],
        }


def inspect_paths(paths: list[Path], progress: bool = False) -> list[ModelReport]:
    """One report per model found under `paths`, in order. A missing path raises BigModelError."""
    for path in paths:
        if not Path(path).exists():
            raise BigModelError(f"{path}: no such file or directory")
    targets = [target for path in paths for target in find_models(Path(path))]
    if not progress or len(targets) < 2:
        return [inspect_one(target) for target in targets]
    from bigmodel.ui import progress_bar

    reports = []
    with progress_bar("inspect", total=len(targets)) as advance:
        for target in targets:
            reports.append(inspect_one(target))
            advance(1)
    return reports


def find_models(path: Path, top: bool = True) -> Iterator[Path]:
    """The models under `path`: model directories, index files, single weight files, and
    folders worth a finding (empty; or, at the top, holding no model)."""
    if path.is_file() or is_model_dir(path):
        yield path
        return
    children = sorted(child for child in path.iterdir() if not child.name.startswith("."))
    if not children:
        yield path  # an empty folder: reported with a finding
        return
    sharded = _files_named_by_indexes(path)
    found = False
    for child in children:
        if child.is_dir():
            for target in find_models(child, top=False):
                found = True
                yield target
        elif (_is_weight_file(child) or child.name.endswith(INDEX_SUFFIXES)) and child.name not in sharded:
            found = True
            yield child
    if top and not found:
        yield path  # a folder with no model in it: reported with a finding


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and any((path / marker).is_file() for marker in MODEL_DIR_MARKERS)


def inspect_one(path: Path) -> ModelReport:
    if path.is_dir():
        return _inspect_model_dir(path) if is_model_dir(path) else _inspect_folder(path)
    return _inspect_file(path)


# --- reading -------------------------------------------------------------------------------------


def _read(path: Path) -> TensorInventory:
    """Read a weight file or a sharded index with the header readers (which never raise)."""
    from bigmodel.taxonomy.readers import read_weights

    return read_weights(path)


def _read_json(path: Path, report: ModelReport) -> Any:
    """Parsed JSON, or None with an error finding naming the file and the line."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        report.add("error", f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})")
    except (UnicodeDecodeError, OSError) as err:
        report.add("error", f"{path}: cannot be read ({err})")
    return None


def _is_weight_file(path: Path) -> bool:
    return path.suffix in WEIGHT_SUFFIXES


def _files_named_by_indexes(folder: Path) -> set[str]:
    """Shard file names listed by the index files in `folder` (they are reported through their index)."""
    names: set[str] = set()
    for index in folder.glob("*.index.json"):
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
            names.update(map(str, weight_map.values()))
        except (ValueError, OSError, AttributeError):
            continue  # the index itself is reported, with its finding
    return names


def _weights_to_count(folder: Path) -> list[Path]:
    """The files holding the model's weights, one format only (repos often ship the same weights
    as both safetensors and .bin; Mistral's ship consolidated.safetensors beside the shards)."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    by_name = {p.name: p for p in files}
    for preferred in ("model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin"):
        if preferred in by_name:
            return [by_name[preferred]]
    for suffixes in ((".safetensors",), PICKLE_SUFFIXES, (".gguf",), (".onnx",)):
        chosen = [p for p in files if p.suffix in suffixes and not p.name.startswith(TRAINING_FILES)]
        if chosen:
            return chosen if suffixes != (".gguf",) else chosen[:1]  # several GGUFs: quantisations of one model
    onnx = folder / "onnx" / "model.onnx"
    return [onnx] if onnx.is_file() else []


# --- the three kinds of target -------------------------------------------------------------------


def _inspect_folder(path: Path) -> ModelReport:
    report = ModelReport(path=path, name=path.name, kind="folder")
    if not any(path.iterdir()):
        report.add("error", f"{path}: empty folder, no model in it")
    else:
        report.add("error", f"{path}: no model found (no config.json, bigmodel.json or weight file)")
    return report


def _inspect_file(path: Path) -> ModelReport:
    if path.name.endswith(INDEX_SUFFIXES):
        report = ModelReport(path=path, name=path.parent.name, kind="")
    elif _is_weight_file(path):
        report = ModelReport(path=path, name=path.name, kind="")
    else:
        report = ModelReport(path=path, name=path.name, kind="file")
        report.add("error", f"{path}: not a model file (expected {', '.join(WEIGHT_SUFFIXES)} or a config.json folder)")
        return report
    inventories = [_read(path)]
    report.kind = report.kind or _kind_of(inventories[0])
    # A file inside a model directory is classified by that directory's config.
    config = _read_config(path.parent, report) if (path.parent / checkpoint.CONFIG_NAME).is_file() else None
    _add_weights(report, inventories, counted=inventories)
    if config is not None and config.get("model_type"):
        report.apply(classify.classify_config(config))
    else:
        _classify_from_weights(report, inventories)
    _count(report, inventories, config)
    _lineage_from_gguf(report, inventories)
    _chat_from_names(report, report.name)
    return report


def _inspect_model_dir(path: Path) -> ModelReport:
    report = ModelReport(path=path, name=path.name, kind="model-directory")
    card = None
    try:
        card = checkpoint.read_card(path)
    except BigModelError as err:
        report.add("error", str(err))
    config = _read_config(path, report) if (path / checkpoint.CONFIG_NAME).is_file() else None
    if config is None and (path / "model_index.json").is_file():
        config = _read_config(path, report, "model_index.json")  # a diffusers pipeline

    counted = [_read(weights) for weights in _weights_to_count(path)]
    # Every pickle in the folder is scanned for safety, counted or not (a stray .bin runs code too).
    read = {inv.path for inv in counted} | {path / shard for inv in counted for shard in inv.metadata.get("shards", [])}
    pickles = [p for p in sorted(path.iterdir()) if p.suffix in PICKLE_SUFFIXES and p.is_file() and p not in read]
    _add_weights(report, counted + [_read(p) for p in pickles], counted=counted)

    if card is not None:
        report.name = card.name or report.name
        report.apply(classify.classify_card(card))
        report.domain, report.base_model = card.domain, card.base_model
    elif config is not None:
        if not any(config.get(k) for k in ("model_type", "architectures", "_class_name")):
            report.add("error", f"{path / checkpoint.CONFIG_NAME}: no 'model_type' or 'architectures'; cannot tell what model this is")
            _classify_from_weights(report, counted)
        else:
            report.apply(classify.classify_config(config))
            if report.family == "unknown":
                _classify_from_weights(report, counted)
    else:
        _classify_from_weights(report, counted)
    if config is not None and config.get("auto_map"):
        report.add("warning", f"{path / checkpoint.CONFIG_NAME}: asks for remote code (auto_map); bigmodel never runs it")

    _count(report, counted, config or {}, card_parameters=card.parameters if card else None)
    _chat_from_dir(report, path, config or {})
    _lineage_from_dir(report, path, from_card=card is not None)
    _lineage_from_gguf(report, counted)
    return report


def _read_config(folder: Path, report: ModelReport, name: str = checkpoint.CONFIG_NAME) -> dict[str, Any] | None:
    data = _read_json(folder / name, report)
    if data is not None and not isinstance(data, dict):
        report.add("error", f"{folder / name}: expected a JSON object, found {type(data).__name__}")
        return None
    return data


# --- facts -------------------------------------------------------------------------------------


def _kind_of(inventory: TensorInventory) -> str:
    kind = "pytorch" if inventory.format.startswith("pytorch") else inventory.format
    return f"{kind}-index" if inventory.path.name.endswith(INDEX_SUFFIXES) else kind


def _add_weights(report: ModelReport, inventories: list[TensorInventory], counted: list[TensorInventory]) -> None:
    """Findings, safety verdict, weight files and dtypes from what the readers saw."""
    unsafe: list[str] = []
    for inventory in inventories:
        # Readers name the file only ("model.safetensors: …"); in a folder scan the path says which.
        prefix = f"{inventory.path.name}:"
        for finding in inventory.findings:
            message = finding.message
            if message.startswith(prefix):
                message = f"{inventory.path}{message[len(inventory.path.name):]}"
            report.add(finding.severity, message)
        unsafe.extend(inventory.unsafe_globals)
        report.weight_files.append(str(inventory.path))
    if unsafe or any(f.severity == "unsafe" for inv in inventories for f in inv.findings):
        # posix.system is what os.system pickles as on Linux (nt.system on Windows): say os.
        named = (f"os.{g.split('.', 1)[1]}" if g.startswith(("posix.", "nt.")) else g for g in unsafe)
        report.safety = "unsafe: " + (", ".join(dict.fromkeys(named)) or "see findings")
    elif any(not inv.ok for inv in inventories):
        report.safety = "unreadable"
    elif inventories:
        report.safety = "safe"
    report.dtypes = memory.stored_dtypes(t for inv in counted for t in inv.tensors)


def _classify_from_weights(report: ModelReport, inventories: list[TensorInventory]) -> bool:
    """Tensor names and GGUF metadata, for weights without a usable config. True when classified."""
    for inventory in inventories:
        result = classify.classify_gguf(inventory.metadata) if inventory.format == "gguf" else None
        result = result or classify.classify_tensor_names(t.name for t in inventory.tensors)
        if result is not None:
            report.apply(result)
            return True
    return False


def _count(report: ModelReport, counted: list[TensorInventory], config: dict[str, Any] | None, card_parameters: int | None = None) -> None:
    # Headers only when every weight file could be read: a partial sum would look exact.
    readable = not any(f.severity == "error" for inv in counted for f in inv.findings)
    tensors = [t for inv in counted for t in inv.tensors] if readable else []
    if tensors:
        report.parameters, report.parameter_source = count.count_stored(counted), count.HEADERS
        return
    if config and config.get("model_type"):
        result = count.count_meta(config)
        if result.parameters is not None:
            report.parameters, report.parameter_source = result.parameters, result.source
            return
        estimate = count.estimate_decoder_only(config) if report.family in ("llm", "vertical") else None
        if estimate is not None:
            report.parameters, report.parameter_source = estimate, count.ESTIMATED
            return
        report.add("warning", f"{report.path}: parameters not counted ({result.problem})")
    if card_parameters is not None:
        report.parameters, report.parameter_source = card_parameters, count.CARD


def _chat_from_dir(report: ModelReport, path: Path, config: dict[str, Any]) -> None:
    """Chat evidence, strongest first: a chat template, a chat format, then the name."""
    if report.chat:
        return
    tokenizer_config = path / "tokenizer_config.json"
    evidence = None
    if tokenizer_config.is_file():
        data = _read_json(tokenizer_config, report)
        if isinstance(data, dict) and data.get("chat_template"):
            evidence = "chat_template in tokenizer_config.json"
    for template in ("chat_template.jinja", "chat_template.json"):
        if evidence is None and (path / template).is_file():
            evidence = f"{template} present"
    generation_config = path / "generation_config.json"
    if evidence is None and generation_config.is_file():
        data = _read_json(generation_config, report)
        if isinstance(data, dict) and data.get("chat_format"):
            evidence = f"generation_config.json chat_format {data['chat_format']!r}"
    if evidence:
        report.chat, report.chat_evidence = True, evidence
    _chat_from_names(report, report.name, config.get("_name_or_path"))


def _chat_from_names(report: ModelReport, *names: Any) -> None:
    for name in names:
        if not report.chat and isinstance(name, str) and (evidence := classify.chat_from_name(name)):
            report.chat, report.chat_evidence = True, evidence


def _front_matter(readme: Path) -> dict[str, Any]:
    """The YAML front matter of a model card README (base_model, tags); {} when absent or bad."""
    try:
        text = readme.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    import yaml

    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _lineage_from_dir(report: ModelReport, path: Path, from_card: bool) -> None:
    """Base model and domain from the README front matter and a PEFT adapter config.

    An LLM whose README names a base model and a domain tag (medical, legal, …) is vertical.
    """
    meta = _front_matter(path / "README.md") if (path / "README.md").is_file() else {}
    base = meta.get("base_model")
    base = base[0] if isinstance(base, list) and base else base
    if not isinstance(base, str) and (path / "adapter_config.json").is_file():
        adapter = _read_json(path / "adapter_config.json", report)
        base = adapter.get("base_model_name_or_path") if isinstance(adapter, dict) else None
    tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
    if isinstance(base, str) and not report.base_model:
        report.base_model = base
    domain = classify.domain_from_tags(tags)
    if domain and not report.domain:
        report.domain = domain
    if not from_card and report.family == "llm" and report.domain and report.base_model:
        report.family = "vertical"
        report.family_evidence = f"README: an LLM derived from {report.base_model}, tagged {report.domain}"
    if not report.chat and "conversational" in tags:
        report.chat, report.chat_evidence = True, "README tag 'conversational'"


def _lineage_from_gguf(report: ModelReport, inventories: list[TensorInventory]) -> None:
    for inventory in inventories:
        if inventory.format != "gguf":
            continue
        meta = inventory.metadata
        if not report.chat and meta.get("tokenizer.chat_template"):
            report.chat, report.chat_evidence = True, "GGUF tokenizer.chat_template"
        _chat_from_names(report, meta.get("general.name"))
        if not report.base_model and isinstance(meta.get("general.base_model.0.name"), str):
            report.base_model = meta["general.base_model.0.name"]
