"""A small corpus and a tiny LLM pretrained once through the CLI, shared by the LLM tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# Steps and sizes kept tiny: the whole LLM suite must stay within a few minutes on 2 cores.
TINY_TOML = """
steps = 60
batch_size = 8
micro_batch_size = 4
save_every = 10
eval_every = 20
warmup_steps = 5
"""


# One thread per process: tiny models gain nothing from more, and on a loaded 2-core machine
# threads that wait for each other slow every step several-fold.


@pytest.fixture(scope="session")
def llm_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("llm")


@pytest.fixture(scope="session")
def corpus_file(llm_root) -> Path:
    """The first 1,500 verses of the general corpus as a user's text file (fast to tokenize)."""
    from bigmodel.data.general import general_corpus

    path = llm_root / "corpus.txt"
    path.write_text("\n".join(general_corpus().documents[:1500]), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_toml(llm_root) -> Path:
    path = llm_root / "tiny.toml"
    path.write_text(TINY_TOML, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def pretrained(llm_root, corpus_file, tiny_toml, cli) -> Path:
    """`bigmodel llm pretrain --preset tiny`, uninterrupted, one process."""
    out = llm_root / "tiny-llm"
    cli("llm", "pretrain", "--preset", "tiny", "--config", str(tiny_toml), "--corpus", str(corpus_file),
        "--out", str(out), "--seed", "0")
    return out


@pytest.fixture(scope="session")
def chats_file(llm_root) -> Path:
    path = llm_root / "chats.jsonl"
    chats = [
        {"messages": [{"role": "user", "content": f"Quote verse {i}."},
                      {"role": "assistant", "content": f"And God said, Let there be light number {i}."}]}
        for i in range(12)
    ]
    chats.append({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"},
                               {"role": "assistant", "content": "Hello! Ask me about a verse."},
                               {"role": "user", "content": "Quote John 11:35."}, {"role": "assistant", "content": "Jesus wept."}]})
    path.write_text("".join(json.dumps(c) + "\n" for c in chats), encoding="utf-8")
    return path

