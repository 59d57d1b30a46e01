"""Domain packs: the knowledge a vertical model is specialised on, and the questions that
measure it. Built-in packs are generated from real data that ships in packages (see `DOMAINS`);
a user's own pack is a folder in the same format (see `schema`)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from bigmodel import __version__
from bigmodel.data.packs import finance, medical, travel
from bigmodel.data.packs.build import DEFAULT_EVAL_SHARE, assemble
from bigmodel.data.packs.schema import Pack, Passage, Problem, QAItem, load_pack, validate_pack
from bigmodel.errors import BigModelError

DOMAINS: dict[str, ModuleType] = {module.NAME: module for module in (medical, travel, finance)}

__all__ = ["DOMAINS", "Pack", "Passage", "Problem", "QAItem", "build_pack", "domain_default",
           "load_pack", "resolve_pack", "validate_pack"]
# How a vertical model is built on a user's pack, where a built-in domain has the setting measured
# best for it (the module's constant of the same name): retriever, peak fine-tuning learning rate,
# share of training questions also asked with another fact's passages.
USER_PACK_DEFAULTS = {"RETRIEVER": "bm25", "LEARNING_RATE": 3e-3, "NEGATIVE_SHARE": 0.3}


def _domain(name: str) -> ModuleType:
    if name not in DOMAINS:
        raise BigModelError(f"unknown domain {name!r}; known domains: {', '.join(DOMAINS)} (or the folder of your own pack)")
    return DOMAINS[name]


def domain_default(domain: str, setting: str) -> Any:
    """A build setting (a key of `USER_PACK_DEFAULTS`) for `domain`: the built-in domain's measured
    best, or the user-pack default."""
    return getattr(DOMAINS[domain], setting) if domain in DOMAINS else USER_PACK_DEFAULTS[setting]


def build_pack(domain: str, *, seed: int = 0, subset: int | None = None, eval_share: float = DEFAULT_EVAL_SHARE) -> Pack:
    """Generate a built-in pack from its source packages (a few seconds for the largest)."""
    module = _domain(domain)
    meta = {
        "name": module.NAME,
        "source": module.SOURCE,
        "licence": module.LICENCE,
        "packages": [
            {"name": package, "version": importlib.metadata.version(package), "licence": licence}
            for package, licence in module.PACKAGES.items()
        ],
        "bigmodel_version": __version__,
    }
    return assemble(module.NAME, meta, module.RELATIONS, module.facts(), module.made_up(), seed=seed, subset=subset, eval_share=eval_share)


def resolve_pack(domain: str, *, seed: int = 0, subset: int | None = None) -> Pack:
    """A built-in domain by name (generated with `seed` and `subset`), or a pack folder."""
    if domain in DOMAINS:
        return build_pack(domain, seed=seed, subset=subset)
    if Path(domain).is_dir():
        if subset is not None:
            raise BigModelError(f"--subset applies to the built-in domains ({', '.join(DOMAINS)}), not to the pack folder {domain}")
        return load_pack(domain)
    return _domain(domain)  # raises: unknown domain, with the known ones
