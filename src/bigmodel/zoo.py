"""The zoo: one model per family, built, evaluated and reported. bigmodel's main job.

A family joins the zoo by listing `ZooMember`s in `MEMBERS` of its own
`bigmodel/families/<family>/zoo.py`; the zoo finds them there. A member's builder is a function
`build(out: Path, ctx: ZooContext) -> None` that writes a complete model directory at `out`
through `checkpoint.writing` (so it appears atomically), with its evaluation in the card's
`metrics`. It may also write `REPORT.md` into the directory: its section of the zoo report, with
paths relative to the model directory. Builders are imported only when they run, so one family's
dependencies never load for another.

The zoo is resumable: a member whose directory is complete and was built with the same settings
(recorded in `zoo-state.json`) is kept; `rebuild=True` builds everything again.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import pkgutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from bigmodel import checkpoint
from bigmodel.errors import BigModelError
from bigmodel.taxonomy.families import FAMILIES
from bigmodel.ui import console, progress_bar

if TYPE_CHECKING:
    from bigmodel.taxonomy.inspect import ModelReport

STATE_NAME = "zoo-state.json"
MEMBER_REPORT_NAME = "REPORT.md"


@dataclasses.dataclass(frozen=True)
class ZooMember:
    name: str  # the model's folder under the zoo root
    family: str
    builder: str  # "module:function"
    needs: tuple[str, ...] = ()  # members built first because this one derives from them
    description: str = ""
    default: bool = True  # False: built only when asked for (`--only`, or `--domains` for vertical models)


@dataclasses.dataclass
class ZooContext:
    root: Path
    quick: bool  # tiny presets, same code paths
    seed: int
    built: dict[str, Path]  # members already built, by name: where a builder finds its base model

    def member_dir(self, name: str) -> Path:
        if name not in self.built:
            raise BigModelError(f"zoo member {name!r} is needed but was not built")
        return self.built[name]


def all_members() -> list[ZooMember]:
    """Every family's members, in taxonomy order, each after the members it needs."""
    import bigmodel.families

    found: list[ZooMember] = []
    for info in pkgutil.iter_modules(bigmodel.families.__path__):
        if info.ispkg and importlib.util.find_spec(f"bigmodel.families.{info.name}.zoo") is not None:
            found.extend(importlib.import_module(f"bigmodel.families.{info.name}.zoo").MEMBERS)
    order = list(FAMILIES)
    found.sort(key=lambda m: (order.index(m.family), m.name))
    by_name = {m.name: m for m in found}
    ordered: list[ZooMember] = []

    def place(member: ZooMember) -> None:
        if member not in ordered:
            for need in member.needs:
                place(by_name[need])
            ordered.append(member)

    for member in found:
        place(member)
    return ordered


def members(names: list[str] | None = None, also: list[str] | None = None) -> list[ZooMember]:
    """The members to build, in order, with everything they need: `names` (default: every default
    member), and `also`."""
    every = all_members()
    by_name = {m.name: m for m in every}
    names = [*(names or [m.name for m in every if m.default]), *(also or [])]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise BigModelError(f"unknown zoo member(s) {', '.join(unknown)}; known: {', '.join(by_name) or 'none'}")
    wanted: set[str] = set()

    def add(name: str) -> None:
        if name not in wanted:
            wanted.add(name)
            for need in by_name[name].needs:
                add(need)

    for name in names:
        add(name)
    return [m for m in every if m.name in wanted]


def _load_builder(member: ZooMember) -> Callable[[Path, ZooContext], None]:
    module, _, function = member.builder.partition(":")
    return getattr(importlib.import_module(module), function)


def _read_state(root: Path) -> dict[str, Any]:
    path = root / STATE_NAME
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}  # a corrupt state only costs a rebuild
    return state if isinstance(state, dict) else {}


def _write_state(root: Path, state: dict[str, Any]) -> None:
    tmp = root / f".{STATE_NAME}.tmp"
    checkpoint.write_json(tmp, state)
    tmp.replace(root / STATE_NAME)


@dataclasses.dataclass
class ZooReport:
    report: dict[str, Any]  # what report.json holds
    models: list["ModelReport"]  # inspect's view of each model, for the taxonomy table


def run(root: Path, quick: bool = False, rebuild: bool = False, seed: int = 0, only: list[str] | None = None,
        also: list[str] | None = None) -> ZooReport:
    """Build what is missing (`only`, default every default member, and `also`), then inspect and
    report the whole zoo."""
    todo = members(only, also)
    root.mkdir(parents=True, exist_ok=True)
    state = _read_state(root)
    settings = {"quick": quick, "seed": seed}
    ctx = ZooContext(root=root, quick=quick, seed=seed, built={})
    with progress_bar("zoo", total=len(todo)) as advance:
        for member in todo:
            out = root / member.name
            previous = state.get(member.name, {})
            if not rebuild and previous.get("settings") == settings and checkpoint.is_complete(out):
                console.print(f"zoo: {member.name} is built and valid, kept (--rebuild to build again)")
            else:
                console.print(f"zoo: building {member.name} ({member.family})")
                start = time.perf_counter()
                _load_builder(member)(out, ctx)
                if not checkpoint.is_complete(out):
                    raise BigModelError(f"internal: the {member.name} builder left no complete model at {out}")
                state[member.name] = {"settings": settings, "seconds": round(time.perf_counter() - start, 1)}
                _write_state(root, state)
            ctx.built[member.name] = out
            advance(1, last=member.name)
    return write_report(root, [m for m in all_members() if (root / m.name).is_dir()], state)


def write_report(root: Path, built: list[ZooMember], state: dict[str, Any]) -> ZooReport:
    """`report.json` and `report.md`: the taxonomy table, each member's card and its section."""
    from bigmodel.taxonomy.inspect import inspect_paths
    from bigmodel.taxonomy.report import markdown_table

    model_reports = inspect_paths([root / m.name for m in built])
    entries = []
    sections = []
    for member, inspected in zip(built, model_reports):
        card = checkpoint.read_card(root / member.name)
        entries.append(
            {
                "name": member.name,
                "family": member.family,
                "path": member.name,
                "build_seconds": state.get(member.name, {}).get("seconds"),
                "card": card.to_json() if card else None,
                "inspect": inspected.to_json(),
            }
        )
        section_file = root / member.name / MEMBER_REPORT_NAME
        if section_file.is_file():
            text = section_file.read_text(encoding="utf-8")
            # Paths in a member's section are relative to its folder; the report sits one above.
            text = text.replace("](./", f"]({member.name}/")
            sections.append(f"## {member.name} ({member.family})\n\n{text.strip()}\n")
    report = {"zoo": str(root), "families": list(FAMILIES), "models": entries}
    checkpoint.write_json(root / "report.json", report)
    lines = [
        "# bigmodel zoo",
        "",
        "One model per family of large models, built and measured on this machine.",
        "",
        markdown_table(model_reports),
        "",
        *sections,
    ]
    (root / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return ZooReport(report=report, models=model_reports)
