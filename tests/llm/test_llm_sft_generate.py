"""Chat fine-tuning (full, LoRA, merged), generation and chat, on bigmodel's own model and on
users' tiny random Hugging Face checkpoints of the LLaMA family."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from bigmodel.errors import BigModelError


def test_loss_is_on_assistant_tokens_only(pretrained):
    from bigmodel.families.llm.model_io import load_tokenizer
    from bigmodel.families.llm.sft import IGNORE, encode_chat

    tokenizer = load_tokenizer(pretrained)
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi, friend."}, {"role": "user", "content": "Again"},
            {"role": "assistant", "content": "Jesus wept."}]
    encoded = encode_chat(tokenizer, chat, max_length=512)
    learned = [t for t in encoded["labels"] if t != IGNORE]
    # Exactly the two answers, each with the end-of-turn token that teaches the model to stop.
    assert tokenizer.decode(learned) == "Hi, friend.<|endoftext|>Jesus wept.<|endoftext|>"
    assert encoded["input_ids"] == tokenizer.apply_chat_template(chat, tokenize=True, return_dict=True)["input_ids"]


def test_validation_never_holds_a_chat_that_is_also_trained_on():
    from bigmodel.families.llm.sft import hold_out

    distinct = [{"input_ids": [i, i + 1]} for i in range(40)]
    train, held_out = hold_out(distinct)
    assert held_out == distinct[9::10] and len(train) == 36  # every 10th example
    # A small pack seen three times: whichever copy lands on a held-out place, all copies leave training.
    repeated = distinct * 3
    train, held_out = hold_out(repeated)
    held = {tuple(e["input_ids"]) for e in held_out}
    assert held == {(i, i + 1) for i in (9, 19, 29, 39)} and not held & {tuple(e["input_ids"]) for e in train}
    assert len(train) == 120 - 3 * 4
    assert hold_out(distinct[:19]) == (distinct[:19], [])


def test_full_sft_writes_a_chat_model_that_transformers_renders_the_same(pretrained, llm_root, chats_file, cli):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = llm_root / "tiny-chat"
    cli("llm", "sft", "--base", str(pretrained), "--data", str(chats_file), "--out", str(out), "--steps", "8",
        "--batch-size", "4", "--lr", "3e-3")
    card = json.loads((out / "bigmodel.json").read_text())
    assert card["chat"] is True and card["base_model"] == str(pretrained)
    assert card["metrics"]["train_loss"] < json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["train_loss"]
    tokenizer = AutoTokenizer.from_pretrained(out)
    chat = [{"role": "user", "content": "Quote verse 3."}]
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert text == "<|endoftext|><|im_start|>user\nQuote verse 3.<|endoftext|>\n<|im_start|>assistant\n"
    AutoModelForCausalLM.from_pretrained(out)


def test_lora_adapter_and_merged_model_give_the_same_logits(pretrained, llm_root, chats_file, cli):
    from transformers import AutoModelForCausalLM

    from bigmodel.families.llm.model_io import load_llm

    adapter, merged = llm_root / "tiny-lora", llm_root / "tiny-lora-merged"
    args = ["--base", str(pretrained), "--data", str(chats_file), "--steps", "6", "--batch-size", "4", "--lr", "1e-2",
            "--lora", "--seed", "1"]
    cli("llm", "sft", *args, "--out", str(adapter))
    cli("llm", "sft", *args, "--merge", "--out", str(merged))
    assert (adapter / "adapter_config.json").is_file() and not (adapter / "model.safetensors").exists()
    assert not (merged / "adapter_config.json").exists()
    ids = torch.tensor([[0, 40, 41, 42, 43]])
    with torch.no_grad():
        plain_merged = AutoModelForCausalLM.from_pretrained(merged).eval()(ids).logits
        plain_adapter = AutoModelForCausalLM.from_pretrained(adapter).eval()(ids).logits  # transformers' peft loading
        ours_adapter = load_llm(adapter)[0](ids).logits
        base = AutoModelForCausalLM.from_pretrained(pretrained).eval()(ids).logits
    assert torch.allclose(plain_merged, plain_adapter, atol=1e-5)
    assert torch.allclose(ours_adapter, plain_adapter, atol=1e-6)
    assert not torch.allclose(base, plain_merged, atol=1e-4)  # the adapter learned something


def test_greedy_decoding_matches_transformers_generate(pretrained):
    from bigmodel.families.llm.generate import Sampling, complete
    from bigmodel.families.llm.model_io import load_llm

    model, tokenizer = load_llm(pretrained)
    prompt = "And God said"
    ours = complete(model, tokenizer, prompt, Sampling(temperature=0, max_new_tokens=24))
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    reference = model.generate(ids, do_sample=False, max_new_tokens=24, pad_token_id=tokenizer.pad_token_id)
    assert ours == tokenizer.decode(reference[0, ids.shape[1]:], skip_special_tokens=True)
    # top-k 1 is greedy at any temperature; a seed makes sampling repeatable.
    assert complete(model, tokenizer, prompt, Sampling(temperature=1.5, top_k=1, max_new_tokens=24)) == ours
    sampled = [complete(model, tokenizer, prompt, Sampling(temperature=1.0, seed=s, max_new_tokens=24)) for s in (7, 7, 8)]
    assert sampled[0] == sampled[1] != sampled[2]


def test_batched_decode_steps_equal_single_sequences(pretrained):
    from bigmodel.families.llm.generate import Sampling, advance, complete, pick, prefill
    from bigmodel.families.llm.model_io import load_llm

    model, tokenizer = load_llm(pretrained)
    prompts = ["In the beginning", "And the LORD spake unto Moses, saying"]
    greedy = Sampling(temperature=0, max_new_tokens=10)
    batch, logits = prefill(model, [tokenizer(p)["input_ids"] for p in prompts], tokenizer.pad_token_id)
    tokens = []
    for _ in range(10):
        token = pick(logits, greedy, None)
        tokens.append(token)
        logits = advance(model, batch, token)
    rows = torch.stack(tokens, dim=1)
    for prompt, row in zip(prompts, rows):
        alone = complete(model, tokenizer, prompt, greedy)
        cut = row.tolist()
        if tokenizer.eos_token_id in cut:
            cut = cut[: cut.index(tokenizer.eos_token_id)]
        assert tokenizer.decode(cut, skip_special_tokens=True) == alone


def test_generate_cli_stop_strings_and_json(pretrained, cli):
    from bigmodel.families.llm.generate import Sampling, complete
    from bigmodel.families.llm.model_io import load_llm

    free = complete(*load_llm(pretrained), "And God said", Sampling(temperature=0, max_new_tokens=30))
    stop = free.strip()[3:6]
    stopped = json.loads(cli("generate", str(pretrained), "--prompt", "And God said", "--temperature", "0",
                             "--max-new-tokens", "30", "--stop", stop, "--json").stdout)
    assert stopped == {"prompt": "And God said", "completion": free[: free.index(stop)]}


def _tokenizer(kind: str, texts: list[str]):
    """A small byte-level BPE tokenizer with the special tokens of a given model family."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = {"llama": ("<s>", "</s>"), "yi": ("<|startoftext|>", "<|endoftext|>"), "mistral": ("<s>", "</s>"),
                "qwen2": (None, "<|endoftext|>")}[kind]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=[s for s in specials if s],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=specials[0], eos_token=specials[1])


@pytest.fixture(scope="session")
def hf_checkpoints(llm_root, corpus_file) -> dict[str, Path]:
    """Users' own tiny random checkpoints as `save_pretrained` writes them: no bigmodel card, no chat template."""
    from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config,
                              Qwen2ForCausalLM)

    texts = corpus_file.read_text().splitlines()[:400]
    shapes = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    found = {}
    for kind, config_class, model_class in [("llama", LlamaConfig, LlamaForCausalLM), ("yi", LlamaConfig, LlamaForCausalLM),
                                            ("mistral", MistralConfig, MistralForCausalLM), ("qwen2", Qwen2Config, Qwen2ForCausalLM)]:
        tokenizer = _tokenizer(kind, texts)
        torch.manual_seed(0)
        model = model_class(config_class(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id,
                                         bos_token_id=tokenizer.bos_token_id, **shapes))
        path = llm_root / f"hf-{kind}"
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        found[kind] = path
    return found


@pytest.mark.parametrize("kind", ["bigmodel", "llama", "qwen2"])
def test_packed_batches_give_the_loss_and_gradients_of_one_chat_per_row(kind, pretrained, hf_checkpoints):
    from bigmodel.families.llm.model_io import load_llm
    from bigmodel.families.llm.sft import IGNORE, collate

    model, _ = load_llm(pretrained if kind == "bigmodel" else hf_checkpoints[kind])
    model.config.use_cache = False  # as `sft` trains
    generator = torch.Generator().manual_seed(0)
    examples = []
    for length in (23, 5, 17, 9, 30, 12, 4, 11):
        ids = torch.randint(3, 200, (length,), generator=generator).tolist()
        # Chats learn only their answers (the second half here); plain text learns every token.
        labels = ids if length % 2 else [IGNORE] * (length // 2) + ids[length // 2:]
        examples.append({"input_ids": ids, "labels": labels})
    packed = collate(examples, pad_id=0)
    assert len(packed["input_ids"]) < len(examples) and packed["input_ids"].shape[1] == 30  # rows hold several chats
    assert packed["input_ids"].numel() < 0.7 * 30 * len(examples)

    def one_chat_per_row() -> dict[str, torch.Tensor]:
        pad = [30 - len(e["input_ids"]) for e in examples]
        return {"input_ids": torch.tensor([e["input_ids"] + [0] * p for e, p in zip(examples, pad)]),
                "labels": torch.tensor([e["labels"] + [IGNORE] * p for e, p in zip(examples, pad)]),
                "attention_mask": torch.tensor([[1] * len(e["input_ids"]) + [0] * p for e, p in zip(examples, pad)])}

    def loss_and_gradients(batch: dict[str, torch.Tensor]) -> tuple[float, list[torch.Tensor]]:
        model.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    reference_loss, reference_grads = loss_and_gradients(one_chat_per_row())
    packed_loss, packed_grads = loss_and_gradients(packed)
    assert packed_loss == pytest.approx(reference_loss, rel=1e-5)
    assert len(packed_grads) == len(reference_grads)
    for packed_grad, reference_grad in zip(packed_grads, reference_grads):
        torch.testing.assert_close(packed_grad, reference_grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", ["llama", "yi", "mistral", "qwen2"])
def test_users_hf_checkpoints_fine_tune_generate_and_chat(kind, hf_checkpoints, llm_root, chats_file, cli):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bigmodel.families.llm.generate import Sampling, complete
    from bigmodel.families.llm.model_io import load_llm
    from bigmodel.families.llm.sft import SFTConfig, sft

    base = hf_checkpoints[kind]
    out = llm_root / f"hf-{kind}-chat"
    sft(base, chats_file, out, SFTConfig(steps=3, batch_size=4, micro_batch_size=4), lora=True, merge=True)
    model, tokenizer = load_llm(out)
    plain = AutoModelForCausalLM.from_pretrained(out).eval()
    assert type(plain).__name__ == type(model).__name__
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.equal(plain(ids).logits, model(ids).logits)
    assert AutoTokenizer.from_pretrained(out).chat_template == tokenizer.chat_template
    assert isinstance(complete(model, tokenizer, "And God", Sampling(temperature=0, max_new_tokens=8)), str)
    if kind == "qwen2":  # the CLI once, on the checkpoint with no BOS token at all
        chat = cli("chat", str(out), "--max-new-tokens", "5", "--temperature", "0", input="Hello\n/reset\nQuote John 11:35.\n")
        assert chat.stdout.count("\n") == 2 and "Traceback" not in chat.stderr


def test_chat_cli_streams_replies_for_each_line(pretrained, llm_root, chats_file, cli):
    result = cli("chat", str(pretrained), "--max-new-tokens", "6", "--temperature", "0", "--system", "Be brief.",
                 input="Hello\nQuote John 11:35.\n/exit\nnever read\n")
    assert result.stdout.count("\n") == 2  # one reply line per question, nothing after /exit
    assert result.stderr.count("you>") == 3


@pytest.mark.parametrize("line, message", [
    ('{"messages": [{"role": "user", "content": "hi"}', "chats.jsonl:2: not valid JSON"),
    ('{"conversation": []}', 'chats.jsonl:2: missing the "messages" key'),
    ('{"messages": [{"role": "wizard", "content": "hi"}]}', "chats.jsonl:2: message 0 has unknown role 'wizard'"),
    ('{"messages": [{"role": "user", "content": "hi"}]}', "chats.jsonl:2: the chat has no assistant message"),
])
def test_bad_chat_jsonl_names_the_line(line, message, tmp_path):
    from bigmodel.families.llm.sft import read_chats

    data = tmp_path / "chats.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n' + line)
    with pytest.raises(BigModelError, match=re.escape(message)):
        read_chats(data)


def test_bad_chat_jsonl_exits_with_one_line_and_writes_nothing(pretrained, tmp_path, cli):
    data = tmp_path / "chats.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n{"oops"\n')
    out = tmp_path / "out"
    result = cli("llm", "sft", "--base", str(pretrained), "--data", str(data), "--out", str(out), check=False)
    assert result.returncode == 2
    assert "chats.jsonl:2: not valid JSON" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [data]


def test_a_vision_model_is_refused_as_base(llm_root, chats_file, cli):
    from transformers import ViTConfig

    vision = llm_root / "vit"
    ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(vision)
    result = cli("llm", "sft", "--base", str(vision), "--data", str(chats_file), "--out", str(llm_root / "x"), check=False)
    assert result.returncode == 2
    assert f"an LLM is needed; {vision} is a vision model" in result.stderr
    with pytest.raises(BigModelError, match="an LLM is needed"):
        from bigmodel.families.llm.model_io import load_llm

        load_llm(vision)


def test_vanishing_temperature_or_top_p_decodes_greedily():
    # Closer to 0 float32 sampling breaks (inf logits, every token dropped); the limit is greedy.
    import torch

    from bigmodel.families.llm.generate import Sampling, pick

    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]])
    for sampling in (Sampling(temperature=1e-300), Sampling(top_p=1e-323), Sampling(temperature=0)):
        assert pick(logits, sampling, torch.Generator().manual_seed(0)).tolist() == [1, 0]


def test_plain_text_lines_are_learned_on_every_token(pretrained, tmp_path):
    """A {"text": ...} line beside the chats: replayed pretraining text, loss on all its tokens."""
    from bigmodel.families.llm.model_io import load_tokenizer
    from bigmodel.families.llm.sft import IGNORE, encode_chat, read_chats

    data = tmp_path / "mixed.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
                    '{"text": "In the beginning God created the heaven and the earth."}\n')
    chat, text = read_chats(data)
    assert text == "In the beginning God created the heaven and the earth." and isinstance(chat, list)
    tokenizer = load_tokenizer(pretrained)
    encoded = encode_chat(tokenizer, text, max_length=512)
    assert encoded["labels"] == encoded["input_ids"] == list(tokenizer(text)["input_ids"])
    assert IGNORE in encode_chat(tokenizer, chat, max_length=512)["labels"]


@pytest.mark.parametrize("fields, message", [
    ({"temperature": float("nan")}, "--temperature must be a finite number >= 0, found nan"),
    ({"temperature": float("inf")}, "--temperature must be a finite number >= 0, found inf"),
    ({"top_k": -1}, "--top-k must be >= 0, found -1"),
    ({"max_new_tokens": 0}, "--max-new-tokens must be >= 1, found 0"),
    ({"stop": ("\n", "")}, "--stop must not be empty"),
])
def test_sampling_names_the_option_that_is_wrong(fields, message):
    from bigmodel.errors import BigModelError
    from bigmodel.families.llm.generate import Sampling

    with pytest.raises(BigModelError) as caught:
        Sampling(**fields)
    assert str(caught.value) == message
