"""`bigmodel vertical build`: every method, on a bigmodel LLM and on a user's Hugging Face Qwen2,
read back as files, as `inspect` sees them and as the benchmark asks them; bad input."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

# Seconds per build: a tiny pack, a few steps. What is tested is the plumbing and the files; the
# quality is measured at demo size (README).
TINY = ["--subset", "40", "--steps", "4", "--batch-size", "4", "--cpt-steps", "3"]


@pytest.fixture(scope="module")
def base(tmp_path_factory, make_llm) -> Path:
    return make_llm(tmp_path_factory.mktemp("vertical-base") / "general", seed=3, chat=True)


@pytest.fixture(scope="module")
def retrieval_model(base, tmp_path_factory, cli) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("vertical-retrieval") / "doctor"
    result = cli("vertical", "build", "--base", str(base), "--domain", "medical", "--method", "retrieval",
                 "--out", str(out), "--json", *TINY)
    return out, result


def test_retrieval_build_card_lineage_and_index(base, retrieval_model, cli):
    out, result = retrieval_model
    card = json.loads(result.stdout)
    assert json.loads((out / "bigmodel.json").read_text()) == card
    assert card["family"] == "vertical" and card["domain"] == "medical" and card["chat"] is True
    assert card["base_model"] == str(base)
    assert card["extra"]["method"] == "retrieval" and card["extra"]["pack"] == "medical"
    assert card["extra"]["pack_subset"] == 40 and card["extra"]["retriever"] == {"kind": "bm25", "k": 2, "decoding": "extractive"}
    assert 0.5 < card["metrics"]["retrieved_own_fact"] <= 1
    assert card["extra"]["recipe"]["negative_share"] == 0.1  # medical's measured share; the others keep 0.3
    assert not list(out.parent.glob("*.stages")) and not list(out.parent.glob("*.training"))
    index = json.loads((out / "retrieval" / "index.json").read_text())
    assert index["retriever"] == "bm25" and index["passages"] == len((out / "retrieval" / "passages.jsonl").read_text().splitlines())

    report = json.loads(cli("inspect", str(out), "--json").stdout)
    [model] = report["models"] if "models" in report else report
    assert model["family"] == "vertical" and model["domain"] == "medical" and model["base_model"] == str(base)
    table = cli("inspect", str(out)).stdout
    assert f"vertical (medical) ← {base}" in table.replace("\n", "")


def test_vertical_model_loads_plainly_and_is_asked_with_its_passages(retrieval_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bigmodel.data.packs import resolve_pack
    from bigmodel.eval.ask import question_prompt
    from bigmodel.families.vertical.retrieval import Retriever

    out, _ = retrieval_model
    AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    retriever = Retriever.load(out)
    item = next(q for q in resolve_pack("medical", subset=40).eval if q.kind == "fact" and q.relation == "title")
    prompt = tokenizer.decode(question_prompt(tokenizer, item.question, True, retriever.search([item.question])[0]))
    passage = f"ICD-10 code {item.entity} is {item.answer}."
    assert prompt.index(f"Question: {item.question}\nPassages:\n- ") < prompt.index(item.answer)
    assert item.answer in prompt, (passage, prompt)  # BM25 found the asked code's own passage


def test_benchmark_compares_base_and_vertical(base, retrieval_model, cli, tmp_path):
    out, _ = retrieval_model
    result = cli("eval", "hallucination", "--models", str(base), str(out), "--domain", "medical", "--subset", "40",
                 "--questions", "12", "--max-new-tokens", "6", "--general-texts", "8", "--out", str(tmp_path / "r"), "--json")
    data = json.loads(result.stdout)
    assert set(data["models"]) == {"general", "doctor"} and data["questions"]["fact"] + data["questions"]["made_up"] == 12


def test_grounded_training_chats_answer_from_passages_or_abstain():
    """Each question is answered from its own passage; a share is asked again with the next
    passage retrieved instead, and then abstains: only reading the passage tells the two apart."""
    from bigmodel.data.packs import resolve_pack
    from bigmodel.families.vertical.build import VerticalRecipe, grounded_chats
    from bigmodel.families.vertical.retrieval import Retriever

    pack = resolve_pack("medical", subset=80)
    retriever = Retriever.build(pack.corpus, "bm25", k=1)
    chats, stats = grounded_chats(pack, retriever, VerticalRecipe(negative_share=0.5), seed=0)
    facts = {f"medical/{q.relation}/{q.entity}": q for q in pack.train if q.kind == "fact"}
    by_text = {p.text: p for p in pack.corpus}
    seen: dict[str, list[str]] = {}
    for chat in chats:
        user, assistant = (m["content"] for m in chat["messages"])
        lines = user.splitlines()
        assert lines[0].startswith("Question: ") and lines[1] == "Passages:" and len(lines) == 3
        question = lines[0][len("Question: "):]
        item = next(q for q in pack.train if q.question == question)
        if lines[2] == "- none found":  # a made-up code, or a code whose only fact was taken away
            assert assistant == "I don't know"
            seen.setdefault(question, []).append(assistant)
            continue
        passage = by_text[lines[2][2:]]
        if item.kind == "made_up":
            assert assistant == "I don't know"
        elif passage.fact_id == item.fact_id:
            assert assistant == item.answer  # its own passage: the answer
        else:
            assert assistant == "I don't know"  # another fact's passage: abstain
        seen.setdefault(question, []).append(assistant)
    assert len(chats) == len(pack.train) + stats["negative_examples"]
    both_ways = [q for q, answers in seen.items() if len(answers) == 2]
    assert len(both_ways) == stats["negative_examples"] > 0.3 * len(facts) / 3
    assert all(sorted(seen[q])[0] == "I don't know" or sorted(seen[q])[1] == "I don't know" for q in both_ways)
    assert stats["train_fact_questions"] == sum(1 for q in pack.train if q.kind == "fact")
    assert 0.8 < stats["retrieved_own_fact"] <= 1


def test_grounded_training_chats_show_passages_in_the_retrievers_order():
    """Training shows the passages as inference does, best first: the rank is evidence to learn from."""
    from bigmodel.data.packs import resolve_pack
    from bigmodel.families.vertical.build import VerticalRecipe, grounded_chats
    from bigmodel.families.vertical.retrieval import Retriever

    pack = resolve_pack("medical", subset=3000)  # enough facts that one code has several
    retriever = Retriever.build(pack.corpus, "bm25", k=2)
    chats, _ = grounded_chats(pack, retriever, VerticalRecipe(negative_share=0.0), seed=0)
    ranked = {q.question: [f"- {p.text}" for p in found]
              for q, found in zip(pack.train, retriever.search([q.question for q in pack.train]))}
    shown = [chat["messages"][0]["content"].splitlines() for chat in chats]
    assert len(shown) == len(pack.train)
    assert all(lines[2:] == (ranked[lines[0][len("Question: "):]] or ["- none found"]) for lines in shown)
    assert sum(len(lines) == 4 for lines in shown) > 100  # questions shown two passages, whose order is checked


def test_cpt_then_grounded_lora_on_a_users_qwen2(tmp_path, cli):
    """`--method both` on a Hugging Face Qwen2 with no bigmodel card and no chat template:
    continued pretraining, then grounded LoRA fine-tuning, merged into a plain Qwen2."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    from bigmodel.data.packs import resolve_pack

    texts = [p.text for p in resolve_pack("medical", subset=40).corpus] * 3
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, eos_token_id=tokenizer.eos_token_id))
    base = tmp_path / "qwen2"
    model.save_pretrained(base)
    tokenizer.save_pretrained(base)

    out = tmp_path / "qwen2-doctor"
    card = json.loads(cli("vertical", "build", "--base", str(base), "--domain", "medical", "--method", "both", "--lora",
                          "--merge", "--out", str(out), "--json", *TINY).stdout)
    assert card["family"] == "vertical" and card["architecture"] == "Qwen2ForCausalLM" and card["base_model"] == str(base)
    assert card["extra"]["lora"] and card["extra"]["merged"] and "cpt_val_perplexity" in card["metrics"]
    assert json.loads((out / "config.json").read_text())["model_type"] == "qwen2"
    assert not (out / "adapter_config.json").exists()
    AutoModelForCausalLM.from_pretrained(out)
    assert (out / "retrieval" / "index.json").is_file()


def test_cpt_plus_sft_keeps_no_index_and_stops_at_max_epochs(base, tmp_path, cli):
    from bigmodel.train.metrics import read_metrics

    out = tmp_path / "cpt"
    quick = ["--subset", "40", "--batch-size", "4", "--cpt-steps", "3"]  # TINY with many more steps asked for
    result = cli("vertical", "build", "--base", str(base), "--domain", "travel", "--method", "cpt+sft", "--out", str(out),
                 "--json", *quick, "--steps", "1000", "--max-epochs", "0.5")
    card = json.loads(result.stdout)
    assert card["extra"]["retriever"] is None and card["domain"] == "travel"
    assert not (out / "retrieval").exists()
    assert card["data"][-1]["pack"] == "travel" and card["data"][-1]["stage"] == "cpt+sft"
    # Half a pass over a 40-fact pack's chats (its questions plus 30% general ones), not 1,000 steps.
    from bigmodel.data.packs import resolve_pack

    questions = len(resolve_pack("travel", subset=40).train)
    chats = questions + round(questions * 0.3 / 0.7)
    steps = card["metrics"]["sft_steps"]
    assert steps == math.ceil(0.5 * chats / 4) and len(read_metrics(out / "metrics.jsonl")) == steps
    assert f"fine-tuning for {steps} steps instead of 1,000: 0.5 passes" in " ".join(result.stderr.split())


def test_a_small_pack_seen_several_times_gets_general_text_drawn_afresh_for_each_pass():
    from bigmodel.families.vertical.build import VerticalRecipe, fine_tuning_mix

    chats = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]} for i in range(70)]
    recipe = VerticalRecipe(sft_steps=1000, batch_size=10, max_epochs=3, general_share=0.3)
    mix, steps = fine_tuning_mix(chats, recipe, seed=0)
    keys = [json.dumps(c, sort_keys=True) for c in mix]
    pack_keys = {json.dumps(c, sort_keys=True) for c in chats}
    assert all(keys.count(k) == 3 for k in pack_keys)  # three passes over the pack
    general_text = [c["text"] for c in mix if "text" in c]
    # 30 general items per pass (70 × 0.3 / 0.7), half of them plain text: 45 verses, none repeated.
    assert len(general_text) == 45 and len(set(general_text)) == 45
    assert len(mix) == 3 * (70 + 30) and steps == 30  # read once
    # A pack larger than the steps allow is written once, with one general share, and cut short.
    large = fine_tuning_mix(chats, VerticalRecipe(sft_steps=4, batch_size=10, general_share=0.3), seed=0)
    assert len(large[0]) == 100 and large[1] == 4
    assert fine_tuning_mix(chats, recipe, seed=0) == (mix, steps)


def test_each_built_in_domain_retrieves_with_its_measured_retriever(base, tmp_path, cli):
    """Finance's facts read alike, so its default is BM25's candidates ordered by MiniLM (stored
    with their embeddings and the query adapter); `--retriever` still chooses."""
    quick = ["--subset", "20", "--batch-size", "4", "--steps", "2", "--json"]
    hybrid = json.loads(cli("vertical", "build", "--base", str(base), "--domain", "finance", "--out", str(tmp_path / "f"),
                            *quick).stdout)
    assert hybrid["extra"]["retriever"]["kind"] == "hybrid"
    # Finance's pack is seen three times; it fine-tunes gentler than the others (README).
    assert hybrid["extra"]["recipe"]["learning_rate"] == 1e-3 and hybrid["extra"]["recipe"]["negative_share"] == 0.3
    index = json.loads((tmp_path / "f" / "retrieval" / "index.json").read_text())
    # The query adapter learned from the pack's training questions, as many as the card says.
    assert index["retriever"] == "hybrid" and index["query_adapter_questions"] > 0
    assert hybrid["metrics"]["query_adapter_questions"] == index["query_adapter_questions"]
    assert (tmp_path / "f" / "retrieval" / "embeddings.safetensors").is_file()
    chosen = json.loads(cli("vertical", "build", "--base", str(base), "--domain", "finance", "--out", str(tmp_path / "b"),
                            "--retriever", "bm25", *quick).stdout)
    assert chosen["extra"]["retriever"]["kind"] == "bm25"
    chosen_rate = json.loads(cli("vertical", "build", "--base", str(base), "--domain", "finance", "--out", str(tmp_path / "r"),
                                 "--retriever", "bm25", "--learning-rate", "2e-3", "--negative-share", "0.2", *quick).stdout)
    assert chosen_rate["extra"]["recipe"]["learning_rate"] == 2e-3 and chosen_rate["extra"]["recipe"]["negative_share"] == 0.2
    assert not (tmp_path / "b" / "retrieval" / "embeddings.safetensors").exists()


def test_bad_input_is_one_clear_line_and_writes_nothing(base, tmp_path, bigmodel_cli, cli):
    vision = tmp_path / "vision"
    vision.mkdir()
    (vision / "config.json").write_text(json.dumps({"model_type": "vit", "architectures": ["ViTForImageClassification"]}))
    pack = tmp_path / "pack"
    cli("vertical", "make-pack", "--domain", "finance", "--subset", "20", "--out", str(pack))
    with open(pack / "train_qa.jsonl", "a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    lines = len((pack / "train_qa.jsonl").read_text().splitlines())
    out = tmp_path / "out"
    cases = [
        (["--base", str(vision), "--domain", "medical"], "an LLM is needed"),
        (["--base", str(tmp_path / "missing"), "--domain", "medical"], "no such model directory"),
        (["--base", str(base), "--domain", "astrology"], "known domains: medical, travel, finance"),
        (["--base", str(base), "--domain", str(pack)], f"train_qa.jsonl line {lines}: not valid JSON"),
        (["--base", str(base), "--domain", "medical", "--method", "distill"], "unknown method 'distill'; choose one of cpt+sft, retrieval, both"),
        (["--base", str(base), "--domain", "medical", "--method", "both", "--lora"], "add --merge"),
        (["--base", str(base), "--domain", "medical", "--merge"], "it needs --lora"),
        (["--base", str(base), "--domain", "medical", "--retriever", "tfidf"], "unknown retriever 'tfidf'"),
        (["--base", str(base), "--domain", "medical", "--steps", "0"], "'sft_steps' must be positive"),
        (["--base", str(base), "--domain", "medical", "--max-epochs", "0"], "'max_epochs' must be positive"),
        (["--base", str(base), "--domain", "medical", "--negative-share", "1"], "'negative_share' must be in [0, 1)"),
        (["--base", str(base), "--domain", "medical", "--general-share", "1"], "'general_share' must be in [0, 1)"),
        (["--base", str(base), "--domain", "medical", "--decoding", "greedy"], "--decoding 'greedy': choose extractive or free"),
    ]
    for args, expected in cases:
        result = bigmodel_cli("vertical", "build", *args, "--out", str(out))
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
        assert not out.exists() and not list(tmp_path.glob("out.*"))
