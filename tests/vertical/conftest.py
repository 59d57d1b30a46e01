"""Tiny random LLMs for the vertical tests: the benchmark and the builds need a causal LM, not a good one."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = [
    "In the beginning God created the heaven and the earth.",
    "Flying into LHR, which city do you arrive in? London.",
    "ISO 4217 numeric code 978 denotes which currency? Euro.",
    "I don't know. Unknown. There is no such code.",
] * 20


def make_tiny_llm(out: Path, *, seed: int, chat: bool, tied: bool = True) -> Path:
    """A random tiny LLaMA with a BPE tokenizer trained here, written as a bigmodel directory.
    With tied embeddings a random model mostly repeats the prompt's last token (a newline here:
    an empty answer, judged an abstention); untied, it says random things (hallucinations)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from bigmodel.checkpoint import ModelCard
    from bigmodel.families.llm.model_io import parameter_count, write_llm
    from bigmodel.families.llm.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(CORPUS, vocab_size=300)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=tied)
    model = LlamaForCausalLM(config)
    card = ModelCard(family="llm", task="text-generation", input_modalities=["text"], output_modalities=["text"],
                     parameters=parameter_count(model), architecture="LlamaForCausalLM", chat=chat)
    return write_llm(out, model, tokenizer, card)



@pytest.fixture(scope="session")
def make_llm():
    return make_tiny_llm
