"""How often each retriever puts the asked fact first, or among the first two or three passages,
for a built-in pack's held-out fact questions (wordings never used in training), per relation.
This is the ceiling for a reader that answers from what it is shown. The hybrid retriever is
measured as shipped and with its query adapter learned from the pack's training questions, as
`bigmodel vertical build` learns it. The README's retriever figures come from it.

    .venv/bin/python experiments/retrieval_ceiling.py finance --questions 600
"""

from __future__ import annotations

import argparse
import collections
import random
import sys

from bigmodel.data.packs import DOMAINS, resolve_pack
from bigmodel.errors import BigModelError
from bigmodel.families.vertical.retrieval import Retriever, adapter_training_questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("domain", choices=sorted(DOMAINS))
    parser.add_argument("--questions", type=int, default=2000, help="fact questions sampled (seed 0)")
    parser.add_argument("--retrievers", default="bm25,hybrid")
    args = parser.parse_args()

    pack = resolve_pack(args.domain)
    facts = [item for item in pack.eval if item.kind == "fact"]
    facts = random.Random(0).sample(facts, min(args.questions, len(facts)))
    print(f"{args.domain}: {len(pack.corpus):,} passages, {len(facts):,} held-out fact questions")
    for kind in args.retrievers.split(","):
        retriever = Retriever.build(pack.corpus, kind, k=3)
        if kind == "hybrid":
            report("hybrid, MiniLM as shipped", retriever, facts)
            learned = retriever.learn_query_adapter(adapter_training_questions(pack.train, pack.corpus))
            kind = f"hybrid, query adapter learned from {learned:,} training questions"
        report(kind, retriever, facts)


def report(label: str, retriever: Retriever, facts: list) -> None:
    found = retriever.search([item.question for item in facts], 3)
    rank = [next((i for i, p in enumerate(passages) if p.fact_id == item.fact_id), 3)
            for item, passages in zip(facts, found)]
    tops = " ".join(f"top {k}: {sum(r < k for r in rank) / len(rank):.1%}" for k in (1, 2, 3))
    first = collections.defaultdict(list)
    for item, r in zip(facts, rank):
        first[item.relation].append(r == 0)
    by_relation = ", ".join(f"{name} {sum(v) / len(v):.0%} of {len(v)}" for name, v in first.items())
    print(f"{label}: {tops}; first, by relation: {by_relation}", flush=True)

if __name__ == "__main__":
    try:
        main()
    except BigModelError as err:
        sys.exit(f"error: {err}")
