"""Load test of `bigmodel serve`: concurrent streaming chat clients against one small LLM, with
dynamic batching on and off, in the same run.

Each configuration starts its own server (a subprocess on a free loopback port), then N clients
each send their streaming requests one after another through the official `openai` client.
Reported per configuration: generated tokens per second (the servers' own `usage` counts over
the wall time), and the p50 / p99 latency of a whole request and of its first token. The goal
is batching ≥ 3× the throughput of one-at-a-time decoding.

    python benchmarks/serve_load.py                      # the LLM `small` preset, random weights
    python benchmarks/serve_load.py --model zoo/general-llm --clients 32 --requests 2

Bounded: loopback only, `--clients` × `--requests` requests of at most `--max-tokens` tokens,
each with a timeout; the servers are stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = ["Tell me about the beginning.", "What is in the deep?", "Name an airport.", "Say something wise."]


def small_model(out: Path) -> Path:
    """The LLM family's `small` preset with random weights (speed does not depend on training)
    and a tokenizer trained on a slice of the general corpus."""
    import torch

    from bigmodel.checkpoint import ModelCard
    from bigmodel.data.general import general_corpus
    from bigmodel.families.llm.model_io import parameter_count, write_llm
    from bigmodel.families.llm.presets import PRESETS
    from bigmodel.families.llm.tokenizer import train_tokenizer
    from transformers import LlamaForCausalLM

    preset = PRESETS["small"]
    tokenizer = train_tokenizer(general_corpus().documents[:3000], preset.vocab_size)
    torch.manual_seed(0)
    model = LlamaForCausalLM(preset.llama_config(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                                 pad_token_id=tokenizer.pad_token_id))
    card = ModelCard(family="llm", task="text-generation", input_modalities=["text"], output_modalities=["text"],
                     parameters=parameter_count(model), architecture="LlamaForCausalLM", name="small",
                     extra={"note": "random weights: for the serving benchmark only"})
    return write_llm(out, model, tokenizer, card)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, batching: bool, max_tokens: int) -> tuple[subprocess.Popen, str]:
    import urllib.request

    port = free_port()
    args = [sys.executable, "-m", "bigmodel.cli", "serve", str(model), "--host", "127.0.0.1", "--port", str(port),
            "--max-tokens", str(max_tokens)] + ([] if batching else ["--no-batching"])
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            return process, url
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not start in 120 s")


async def load(url: str, model: str, clients: int, requests: int, max_tokens: int, timeout: float) -> dict:
    import httpx2
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=timeout,
                         http_client=httpx2.AsyncClient(limits=httpx2.Limits(max_connections=clients + 4), timeout=timeout))
    latencies, first_tokens, tokens = [], [], 0

    async def one_client(number: int) -> None:
        nonlocal tokens
        for k in range(requests):
            start = time.perf_counter()
            first = None
            stream = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": QUESTIONS[(number + k) % len(QUESTIONS)]}],
                max_tokens=max_tokens, temperature=1.0, seed=number * 1000 + k, stream=True,
                stream_options={"include_usage": True})
            async for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - start
                if chunk.usage is not None:
                    tokens += chunk.usage.completion_tokens
            latencies.append(time.perf_counter() - start)
            first_tokens.append(first if first is not None else latencies[-1])

    start = time.perf_counter()
    await asyncio.gather(*(one_client(i) for i in range(clients)))
    wall = time.perf_counter() - start
    await client.close()

    def percentile(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

    return {"requests": len(latencies), "tokens": tokens, "seconds": round(wall, 2), "tokens_per_second": round(tokens / wall, 1),
            "latency_p50_s": round(percentile(latencies, 50), 3), "latency_p99_s": round(percentile(latencies, 99), 3),
            "first_token_p50_s": round(percentile(first_tokens, 50), 3), "first_token_p99_s": round(percentile(first_tokens, 99), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="An LLM directory (default: the small preset, random weights).")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2, help="Requests per client, one after another.")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=600, help="Seconds one request may take.")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or small_model(Path(tmp) / "small")
        from bigmodel.checkpoint import read_card

        card = read_card(model_dir)
        name = card.name if card and card.name else model_dir.name
        results = {"model": name, "parameters": card.parameters if card else None, "clients": args.clients,
                   "requests_per_client": args.requests, "max_tokens": args.max_tokens, "cpus": os.cpu_count(),
                   "load_average_before": os.getloadavg()[0]}
        for label, batching in (("batching", True), ("one_at_a_time", False)):
            process, url = start_server(model_dir, batching, args.max_tokens)
            try:
                results[label] = asyncio.run(load(url, name, args.clients, args.requests, args.max_tokens, args.timeout))
            finally:
                process.terminate()
                process.wait(timeout=30)
            print(f"{label:>14}: {json.dumps(results[label])}", flush=True)
    results["throughput_ratio"] = round(results["batching"]["tokens_per_second"] / results["one_at_a_time"]["tokens_per_second"], 2)
    print(f"throughput ratio (batching / one at a time): {results['throughput_ratio']}× (goal ≥ 3×)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
