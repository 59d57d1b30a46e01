"""Turn a domain's facts into a pack: paraphrased corpus, held-out split, made-up entities.

A domain supplies `Fact`s (one checkable statement each, e.g. "ICD-10 code A00 is Cholera"),
the `Relation`s they belong to (with corpus, train-question and eval-question templates, the
latter two disjoint), and candidate made-up entities that do not exist in its source data.

The assembly is deterministic for a seed, and nested: `--subset N` keeps the first N facts of one
seeded order of all facts, and whether a fact is held out is decided for the whole pack before
subsetting, so a smaller subset is contained in a larger one with the same split.

- corpus: every fact, in each of its relation's corpus paraphrases;
- train_qa: the facts of the training groups, each in `TRAIN_WORDINGS` of its relation's training
  templates, drawn for the fact (many templates, few a fact: varied wordings, same size);
- eval_qa: the held-out facts, each once, in one evaluation template.
Facts are held out by group (e.g. an ICD-10 category with its subcategories, an airport with its
name, city and country), so knowing one fact of a training group never gives away a held-out one.
Made-up entities join both sides in proportion (`MADE_UP_SHARE` per fact), with the abstention
answer, in the same templates as the facts of their side; training and eval never share one.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any, Sequence

from bigmodel.data.packs.schema import Pack, Passage, QAItem
from bigmodel.errors import BigModelError
from bigmodel.eval.hallucination import ABSTAIN_ANSWER

# Made-up entities per fact on each side of the split: enough for a tight interval on abstention
# without teaching a model that most questions should be declined.
MADE_UP_SHARE = 0.2
DEFAULT_EVAL_SHARE = 0.5
# Training wordings of each training fact. A relation has more training templates than this, so
# the facts together are asked in all of them: a small reader learns which relation an unseen
# wording asks from many wordings, and the pack does not grow with their number.
TRAIN_WORDINGS = 3


@dataclasses.dataclass(frozen=True)
class Relation:
    """One kind of fact, with its templates. Templates use `{label}` (how the entity is named in
    text, e.g. "code A00"), `{answer}`, and the fact's own `fields`."""

    name: str
    corpus: tuple[str, ...]
    train: tuple[str, ...]
    eval: tuple[str, ...]

    def __post_init__(self) -> None:
        assert len(self.corpus) >= 3 and self.train and self.eval
        assert not set(self.train) & set(self.eval), f"{self.name}: a template is both train and eval"


@dataclasses.dataclass(frozen=True)
class Fact:
    relation: str
    entity: str  # the identifier asked about, e.g. "A00.1", "LHR", "EUR"
    label: str  # how it is named in text, e.g. "code A00.1"
    answer: str
    aliases: tuple[str, ...] = ()
    group: str = ""  # facts of one group are held out together
    fields: tuple[tuple[str, str], ...] = ()  # extra values for corpus templates

    @property
    def id(self) -> str:
        return f"{self.relation}/{self.entity}"


@dataclasses.dataclass(frozen=True)
class MadeUp:
    """An entity absent from the source data, and the relations it may be asked about."""

    entity: str
    label: str
    relations: tuple[str, ...]


def assemble(
    domain: str,
    meta: dict[str, Any],
    relations: Sequence[Relation],
    facts: Sequence[Fact],
    made_up: Sequence[MadeUp],
    *,
    seed: int,
    subset: int | None,
    eval_share: float,
) -> Pack:
    if not 0 < eval_share < 1:
        raise BigModelError(f"--eval-share {eval_share}: expected a number between 0 and 1")
    by_name = {r.name: r for r in relations}
    rng = random.Random(seed)
    order = sorted(facts, key=lambda f: f.id)
    rng.shuffle(order)
    held_out = _held_out_groups(order, eval_share, rng)
    if subset is not None:
        if not 0 < subset <= len(order):
            raise BigModelError(f"--subset {subset}: the {domain} pack has {len(order)} facts; choose 1 to {len(order)}")
        order = order[:subset]
    if len({f.id for f in order}) != len(order):
        raise BigModelError(f"internal: the {domain} pack has duplicate facts")

    corpus: list[Passage] = []
    train: list[QAItem] = []
    evaluation: list[QAItem] = []
    for fact in order:
        relation = by_name[fact.relation]
        fact_id = f"{domain}/{fact.id}"
        values = {"label": fact.label, "answer": fact.answer, **dict(fact.fields)}
        corpus += [Passage(f"{fact_id}#{k}", fact_id, _sentence(t, **values)) for k, t in enumerate(relation.corpus)]
        aliases = tuple(a for a in dict.fromkeys(fact.aliases) if a != fact.answer)
        common = dict(answer=fact.answer, aliases=aliases, kind="fact", fact_id=fact_id, relation=fact.relation, entity=fact.entity)
        if (fact.group or fact.id) in held_out:
            template = _pick(relation.eval, seed, fact_id)
            evaluation.append(QAItem(id=f"eval/{fact_id}", question=_sentence(template, label=fact.label), template=template, **common))
        else:
            train += [
                QAItem(id=f"train/{fact_id}/{k}", question=_sentence(t, label=fact.label), template=t, **common)
                for k, t in _wordings(relation, seed, fact_id)
            ]

    n_train_facts = len({q.fact_id for q in train})
    train_made_up, eval_made_up = _split_made_up(made_up, math.ceil(MADE_UP_SHARE * n_train_facts), math.ceil(MADE_UP_SHARE * len(evaluation)), seed)
    for entity in train_made_up:
        relation = by_name[_pick(entity.relations, seed, entity.entity)]
        train += [
            _made_up_item(f"train/{domain}/made_up/{relation.name}/{entity.entity}/{k}", relation, t, entity)
            for k, t in _wordings(relation, seed, entity.entity)
        ]
    for entity in eval_made_up:
        relation = by_name[_pick(entity.relations, seed, entity.entity)]
        template = _pick(relation.eval, seed, entity.entity)
        evaluation.append(_made_up_item(f"eval/{domain}/made_up/{relation.name}/{entity.entity}", relation, template, entity))

    # Mixed order, so a trainer reading from the top sees every relation and made-up entities.
    rng_order = random.Random(f"{seed}/order")
    rng_order.shuffle(train)
    rng_order.shuffle(evaluation)
    meta = {
        **meta,
        "seed": seed,
        "subset": subset,
        "eval_share": eval_share,
        "counts": {
            "facts": len(order),
            "facts_available": len(facts),
            "relations": {r.name: sum(1 for f in order if f.relation == r.name) for r in relations},
            "passages": len(corpus),
            "train_questions": len(train),
            "train_facts": n_train_facts,
            "train_made_up_entities": len(train_made_up),
            "eval_questions": len(evaluation),
            "eval_facts": sum(1 for q in evaluation if q.kind == "fact"),
            "eval_made_up": len(eval_made_up),
        },
    }
    return Pack(meta, corpus, train, evaluation)


def _held_out_groups(order: Sequence[Fact], eval_share: float, rng: random.Random) -> set[str]:
    """Groups held out for evaluation: a seeded order of groups, taken until `eval_share` of all
    facts are held out."""
    sizes: dict[str, int] = {}
    for fact in order:
        sizes[fact.group or fact.id] = sizes.get(fact.group or fact.id, 0) + 1
    groups = sorted(sizes)
    rng.shuffle(groups)
    held_out: set[str] = set()
    count = 0
    for group in groups:
        if count >= eval_share * len(order):
            break
        held_out.add(group)
        count += sizes[group]
    return held_out


def _split_made_up(candidates: Sequence[MadeUp], n_train: int, n_eval: int, seed: int) -> tuple[list[MadeUp], list[MadeUp]]:
    """Training takes made-up entities from the front of one seeded order, evaluation from the
    back, so the two never share one and smaller packs use a subset of a larger pack's."""
    order = sorted(candidates, key=lambda m: m.entity)
    random.Random(f"{seed}/made_up").shuffle(order)
    n_train, n_eval = min(n_train, len(order) // 2), min(n_eval, len(order) // 2)
    return order[:n_train], order[len(order) - n_eval :][::-1]


def country_names(country: Any) -> tuple[str, ...]:
    """The names of a pycountry ISO 3166 country, the everyday one first ("Bolivia" before
    "Bolivia, Plurinational State of"), then the official name and the two codes."""
    names = [getattr(country, "common_name", None), country.name, getattr(country, "official_name", None), country.alpha_2, country.alpha_3]
    return tuple(dict.fromkeys(n for n in names if n))


def _sentence(template: str, **values: str) -> str:
    """A filled template with a capital first letter ("{label} is …" with "code A00" → "Code A00 is …")."""
    text = template.format(**values)
    return text[:1].upper() + text[1:]


def _pick(options: Sequence[str], seed: int, key: str) -> str:
    """A seeded choice that depends only on the key, not on what was chosen before."""
    return options[random.Random(f"{seed}/{key}").randrange(len(options))]


def _wordings(relation: Relation, seed: int, key: str) -> list[tuple[int, str]]:
    """(index, template) of the training templates a fact or made-up entity is asked in: a seeded
    draw of `TRAIN_WORDINGS` that depends only on the key."""
    chosen = random.Random(f"{seed}/wordings/{key}").sample(range(len(relation.train)), min(TRAIN_WORDINGS, len(relation.train)))
    return [(k, relation.train[k]) for k in sorted(chosen)]


def _made_up_item(item_id: str, relation: Relation, template: str, entity: MadeUp) -> QAItem:
    return QAItem(
        id=item_id,
        question=_sentence(template, label=entity.label),
        answer=ABSTAIN_ANSWER,
        aliases=(),
        kind="made_up",
        fact_id=None,
        template=template,
        relation=relation.name,
        entity=entity.entity,
    )
