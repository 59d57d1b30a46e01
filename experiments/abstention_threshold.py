"""Would a threshold on the abstention trade a grounded model's abstentions for right answers?

For each held-out question of a built-in pack this asks the model twice, as
`bigmodel eval hallucination` does (same sample, prompts and extractive decoding): once as
evaluated, with "I don't know" among the allowed answers, and once with the abstention taken
away, so that it must copy a span. It also reads the probability of the abstention's first token
among the first tokens allowed. Then, for each threshold T, it scores the rule "abstain when that
probability is at least T, otherwise give the forced answer". A fact question with no passage
retrieved is abstained under every rule, as it is in the evaluation. The docs' vertical
measurements quote the output.

    .venv/bin/python experiments/abstention_threshold.py zoo/vertical-medical --domain medical --questions 600
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from bigmodel.data.packs import resolve_pack
from bigmodel.errors import BigModelError
from bigmodel.eval.ask import grounded_prompts, is_chat_model, sample_questions
from bigmodel.eval.hallucination import ABSTAIN_ANSWER, judge
from bigmodel.families.llm.generate import Sampling, generate_batch
from bigmodel.families.llm.model_io import load_llm
from bigmodel.families.vertical.retrieval import Retriever

THRESHOLDS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
BATCH = 32
ANSWER_TOKENS = 96  # as `answer_questions`


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a grounded vertical model directory")
    parser.add_argument("--domain", default="medical")
    parser.add_argument("--questions", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0, help="the question sample, as `eval hallucination --seed`")
    parser.add_argument("--json", help="also write each question's verdicts and probability here")
    args = parser.parse_args()
    try:
        items = sample_questions(resolve_pack(args.domain).eval, args.questions, args.seed)
        model, tokenizer = load_llm(args.model, "cpu")
        retriever = Retriever.load(args.model)
    except BigModelError as err:
        sys.exit(f"error: {err}")
    if retriever is None or not retriever.extractive:
        sys.exit(f"error: {args.model} is not a grounded model with extractive decoding")
    questions = [item.question for item in items]
    fitted = grounded_prompts(model, tokenizer, is_chat_model(args.model, tokenizer), retriever, questions, ANSWER_TOKENS)
    kept = [passages for _, passages in fitted]
    as_evaluated = retriever.constraints(tokenizer, questions, kept)
    # With no passage there is nothing to copy: such a question is abstained under every rule.
    forced = [constraint if passages else None
              for constraint, passages in zip(retriever.constraints(tokenizer, questions, kept, may_abstain=False), kept)]
    abstention_token = tokenizer(ABSTAIN_ANSWER, add_special_tokens=False)["input_ids"][0]
    sampling = Sampling(temperature=0, top_p=1, top_k=0, max_new_tokens=ANSWER_TOKENS, seed=0)

    rows = []
    for start in range(0, len(items), BATCH):
        chunk = list(range(start, min(start + BATCH, len(items))))
        evaluated = generate_batch(model, tokenizer, [fitted[i][0] for i in chunk], sampling, [as_evaluated[i] for i in chunk])
        answerable = [i for i in chunk if forced[i] is not None]
        forced_answers = dict(zip(answerable, generate_batch(
            model, tokenizer, [fitted[i][0] for i in answerable], sampling, [forced[i] for i in answerable]))) if answerable else {}
        for i, answer in zip(chunk, evaluated):
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([fitted[i][0]])).logits[0, -1].float()
            allowed = sorted(as_evaluated[i].next_tokens[()])
            probability = float(torch.softmax(logits[allowed], dim=-1)[allowed.index(abstention_token)])
            rows.append({"id": items[i].id, "kind": items[i].kind, "as_evaluated": judge(answer, items[i]),
                         "forced": judge(forced_answers[i], items[i]) if i in forced_answers else "abstained",
                         "p_abstain": probability})
        print(f"{len(rows)}/{len(items)}", file=sys.stderr, flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(rows, out)

    facts = [r for r in rows if r["kind"] == "fact"]
    made_up = [r for r in rows if r["kind"] != "fact"]

    def rates(verdict) -> str:
        f = [verdict(r) for r in facts]
        m = [verdict(r) for r in made_up]
        return (f"right {100 * f.count('right') / len(f):.1f}%, hallucination {100 * f.count('wrong') / len(f):.1f}%, "
                f"abstention {100 * f.count('abstained') / len(f):.1f}%, made-up declined "
                f"{100 * m.count('abstained') / max(len(m), 1):.1f}%")

    print(f"{len(facts)} fact questions, {len(made_up)} about made-up entities")
    print(f"as evaluated: {rates(lambda r: r['as_evaluated'])}")
    for threshold in THRESHOLDS:
        print(f"abstain when P >= {threshold}: {rates(lambda r: 'abstained' if r['p_abstain'] >= threshold else r['forced'])}")


if __name__ == "__main__":
    main()
