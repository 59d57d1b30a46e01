"""The models a server holds: each model directory loaded once, by family, under its name.

A model is served under its card's `name`, else its folder's name. LLM and vertical models get a
decoding `Engine` (dynamic batching); vision classifiers, CLIP dual encoders and decision agents
are loaded through their families' own loaders. Models of a family with no route (generative)
are listed on the page but not loaded.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any, Callable

from bigmodel import checkpoint
from bigmodel.errors import BigModelError

SERVED_FAMILIES = ("llm", "vertical", "vision", "multimodal", "decision")


@dataclasses.dataclass(eq=False)
class ServedModel:
    name: str
    family: str
    path: Path
    card: checkpoint.ModelCard | None
    report: dict[str, Any]  # `bigmodel inspect`'s view of it, for the page's cards
    engine: Any = None  # batching.Engine | Classifier | DualEncoder | Captioner | DecisionAgent; None: listed only
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)  # one request at a time (non-LLM)
    _pack: Any = None
    _retriever: Any = None

    @property
    def chat(self) -> bool:
        return bool(self.card and self.card.chat)

    def pack(self) -> Any:
        """The domain pack of a vertical model (built once, on first use): the card's
        `extra["pack"]` (a pack folder or built-in domain) else its `domain`, generated with
        `extra["pack_seed"]` and `extra["pack_subset"]` as in training."""
        from bigmodel.data.packs import resolve_pack

        if self._pack is None:
            card = self.card
            domain = (card.extra.get("pack") if card else None) or (card.domain if card else None)
            if not domain:
                raise BigModelError(f"model {self.name!r} names no domain pack (card field 'domain')")
            self._pack = resolve_pack(str(domain), seed=int(card.extra.get("pack_seed", 0)),
                                      subset=card.extra.get("pack_subset"))
        return self._pack

    def retriever(self) -> Any:
        """The retrieval index of a grounded vertical model (loaded once), or None."""
        from bigmodel.families.vertical.retrieval import Retriever

        if self._retriever is None and self.family == "vertical":
            self._retriever = Retriever.load(self.path) or False
        return self._retriever or None


@dataclasses.dataclass
class DecisionAgent:
    """A decision model loaded once (`decision.model.load_model`)."""

    game: Any
    net: Any
    card: checkpoint.ModelCard | None
    evaluator: Any = dataclasses.field(init=False)  # the search's view of `net`, made once

    def __post_init__(self) -> None:
        from bigmodel.families.decision.mcts import NetEvaluator

        self.evaluator = NetEvaluator(self.net, self.game)

    @property
    def default_simulations(self) -> int:
        return 4 * int((self.card.extra.get("simulations") if self.card else None) or 50)


def model_dirs(dirs: list[Path], zoo: Path | None) -> list[Path]:
    """The directories given, then every model directory directly inside the zoo folder."""
    found = list(dirs)
    if zoo is not None:
        if not zoo.is_dir():
            raise BigModelError(f"--zoo: {zoo} is not a folder")
        found += sorted(p for p in zoo.iterdir() if p.is_dir() and not p.name.startswith(".")
                        and ((p / checkpoint.CARD_NAME).is_file() or (p / checkpoint.CONFIG_NAME).is_file()))
    if not found:
        raise BigModelError("no models to serve: give model directories or --zoo DIR")
    return found


def load_models(dirs: list[Path], *, max_batch: int, on_tokens: Callable[[str, int], None]) -> dict[str, ServedModel]:
    """Every directory loaded once, by name; duplicate names are refused."""
    from bigmodel.taxonomy.inspect import inspect_paths

    served: dict[str, ServedModel] = {}
    for path in dirs:
        if not path.is_dir():
            raise BigModelError(f"{path}: no such model directory")
        card = checkpoint.read_card(path)
        family = checkpoint.family_of(path)
        name = (card.name if card and card.name else path.name)
        if name in served:
            raise BigModelError(f"two models are named {name!r} ({served[name].path} and {path}); give one a card name")
        report = inspect_paths([path])[0].to_json()
        model = ServedModel(name=name, family=family, path=path, card=card, report=report)
        model.engine = _load_engine(model, max_batch, lambda n, name=name: on_tokens(name, n))
        served[name] = model
    return served


def _load_engine(model: ServedModel, max_batch: int, on_tokens: Callable[[int], None]) -> Any:
    if model.family in ("llm", "vertical"):
        from bigmodel.families.llm.model_io import load_llm
        from bigmodel.serve.batching import Engine

        llm, tokenizer = load_llm(model.path)
        if tokenizer.chat_template is None:
            from bigmodel.families.llm.tokenizer import prepare_chat_tokenizer

            prepare_chat_tokenizer(tokenizer)
        return Engine(llm, tokenizer, max_batch=max_batch, on_tokens=on_tokens)
    if model.family == "vision":
        from bigmodel.families.vision.classify import load_classifier

        return load_classifier(model.path)
    if model.family == "multimodal":
        from bigmodel.families.multimodal.captioner import load_captioner
        from bigmodel.families.multimodal.clip import load_dual_encoder

        card = checkpoint.read_card(model.path)
        return load_captioner(model.path) if card and card.task == "image-captioning" else load_dual_encoder(model.path)
    if model.family == "decision":
        from bigmodel.families.decision.model import load_model

        return DecisionAgent(*load_model(model.path))
    return None


def base_of(models: dict[str, ServedModel], vertical: ServedModel) -> ServedModel:
    """The served general model a vertical model was derived from (its card's base_model, matched
    by path, by name or by folder name: `zoo/general-llm` is the served `general-llm`)."""
    base = vertical.card.base_model if vertical.card else None
    if not base:
        raise BigModelError(f"model {vertical.name!r} names no base model (card field 'base_model')")
    for candidate in models.values():
        if candidate is not vertical and candidate.family in ("llm", "vertical") and (
            Path(base).resolve() == candidate.path.resolve() or Path(base).name in (candidate.name, candidate.path.name)
        ):
            return candidate
    raise BigModelError(f"the base model of {vertical.name!r}, {base!r}, is not served: serve it beside it")
