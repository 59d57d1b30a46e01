"""A tiny zoo (one untrained model per served family, made in seconds) and `bigmodel serve` over
it, started once as a subprocess on a free loopback port and shared by the serve tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import pytest

API_KEY = "test-key-0123456789"
CORPUS = [
    "In the beginning God created the heaven and the earth.",
    "And the earth was without form, and void; and darkness was upon the face of the deep.",
    "Which airport does IATA code LHR identify? London Heathrow Airport.",
    "I don't know. Unknown. The answer is here.",
] * 20


def _card(family: str, task: str, parameters: int, **fields):
    from bigmodel.checkpoint import ModelCard

    modalities = {"llm": (["text"], ["text"]), "vertical": (["text"], ["text"]), "vision": (["image"], ["label"]),
                  "multimodal": (["image", "text"], ["embedding"]), "decision": (["game-state"], ["action"])}[family]
    return ModelCard(family=family, task=task, input_modalities=modalities[0], output_modalities=modalities[1],
                     parameters=parameters, **fields)


def make_llm(out: Path, *, family: str = "llm", seed: int = 0, **card_fields) -> Path:
    """A random tiny LLaMA with a BPE tokenizer trained here (the LLM family's own trainer)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from bigmodel.families.llm.model_io import parameter_count, write_llm
    from bigmodel.families.llm.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(CORPUS, vocab_size=300)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    card = _card(family, "text-generation", parameter_count(model), architecture="LlamaForCausalLM", **card_fields)
    return write_llm(out, model, tokenizer, card)


def make_vision(out: Path) -> Path:
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    from bigmodel.checkpoint import write_card, writing

    labels = ["circle", "square", "triangle"]
    torch.manual_seed(0)
    model = ViTForImageClassification(ViTConfig(image_size=16, patch_size=4, hidden_size=32, num_hidden_layers=1,
                                                num_attention_heads=2, intermediate_size=64, num_labels=3,
                                                id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)}))
    with writing(out) as tmp:
        model.save_pretrained(tmp)
        write_card(tmp, _card("vision", "image-classification", sum(p.numel() for p in model.parameters()),
                              architecture="ViTForImageClassification", extra={"labels": labels}))
    return out


def make_clip(out: Path) -> Path:
    import torch

    from bigmodel.checkpoint import write_card, writing
    from bigmodel.families.multimodal.clip import new_model
    from bigmodel.families.multimodal.presets import preset
    from bigmodel.families.multimodal.tokenizer import train_tokenizer

    settings = preset("tiny")
    tokenizer = train_tokenizer(["a red circle", "a blue square", "a green triangle on the left"] * 5, 200, settings.max_text_length)
    torch.manual_seed(0)
    model = new_model(settings, tokenizer)
    with writing(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_card(tmp, _card("multimodal", "image-text-retrieval", sum(p.numel() for p in model.parameters()),
                              architecture="CLIPModel"))
    return out


def make_connect4(out: Path) -> Path:
    import torch

    from bigmodel.checkpoint import writing
    from bigmodel.families.decision.games import get_game
    from bigmodel.families.decision.model import write_model_files
    from bigmodel.families.decision.network import AlphaZeroNet, NetConfig

    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig.from_preset(get_game("connect4"), "tiny"))
    with writing(out) as tmp:
        write_model_files(tmp, net, {"game": "connect4", "simulations": 4}, {})
    return out


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory) -> Path:
    """general (base LLM), travel-expert (vertical, from general), vit, clip, connect4."""
    zoo = tmp_path_factory.mktemp("serve-zoo")
    make_llm(zoo / "general")
    expert = make_llm(zoo / "travel-expert", family="vertical", seed=1, chat=True, domain="travel", base_model="general",
                      extra={"pack_subset": 60})
    # A grounded vertical model: the travel pack's BM25 index inside its directory.
    from bigmodel.data.packs import resolve_pack
    from bigmodel.families.vertical.retrieval import Retriever

    Retriever.build(resolve_pack("travel", subset=60).corpus, "bm25", k=2).save(expert)
    make_vision(zoo / "vit")
    make_clip(zoo / "clip")
    make_connect4(zoo / "connect4")
    return zoo


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, args: list[str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "bigmodel.cli", "serve", *args, "--port", str(self.port)],
                                        stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"bigmodel serve exited {self.process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"bigmodel serve did not answer in 120 s:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="session")
def server(tiny_zoo, tmp_path_factory):
    """`bigmodel serve --zoo ZOO --api-key KEY --models-root ROOT` on a free loopback port."""
    root = tmp_path_factory.mktemp("models-root")
    (root / "models").mkdir()
    os.symlink(tiny_zoo / "general", root / "models" / "general")  # a link that leaves the root
    make_llm(root / "inside-llm")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("not yours")
    os.symlink(outside, root / "escape")
    server = Server(["--zoo", str(tiny_zoo), "--api-key", API_KEY, "--models-root", str(root), "--max-body-mb", "1",
                     "--max-tokens", "64"], tmp_path_factory.mktemp("logs") / "serve.log")
    server.root = root
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


@pytest.fixture(scope="session")
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}
