"""Decode speed of bigmodel's KV-cache loop against `model.generate`, on the same model.

Greedy decoding of the same prompts to the same length (both stop at EOS, and greedy outputs
are identical, so both produce the same tokens). Reports decode tokens/s (new tokens over the
whole call, prefill included) for each, and the ratio.

Run: .venv/bin/python benchmarks/llm_generate.py MODEL_DIR [--tokens 128] [--threads 2]
     (without MODEL_DIR a random `small`-preset model with a tokenizer trained on the general
      corpus is used). Writes benchmarks/out/llm_generate.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

OUT = Path(__file__).parent / "out"
PROMPTS = ["In the beginning", "And the LORD said unto Moses,", "Blessed are the", "The LORD is my shepherd;"]


def random_small_model(folder: Path) -> Path:
    from transformers import LlamaForCausalLM

    from bigmodel.data.general import general_corpus
    from bigmodel.families.llm.model_io import save_tokenizer
    from bigmodel.families.llm.presets import load_config
    from bigmodel.families.llm.tokenizer import train_tokenizer

    config = load_config("small")
    tokenizer = train_tokenizer(general_corpus().documents[:5000], config.vocab_size)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config.llama_config(bos_token_id=tokenizer.bos_token_id, eos_token_id=None,
                                                 pad_token_id=tokenizer.pad_token_id))
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import AutoModelForCausalLM

    from bigmodel.families.llm.generate import Sampling, stream
    from bigmodel.families.llm.model_io import load_tokenizer

    with tempfile.TemporaryDirectory() as folder:
        model_dir = Path(args.model) if args.model else random_small_model(Path(folder))
        tokenizer = load_tokenizer(model_dir)  # also quiets transformers' loading bars
        model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    sampling = Sampling(temperature=0, max_new_tokens=args.tokens)
    warm = torch.tensor([tokenizer(PROMPTS[0])["input_ids"]])  # first calls allocate: time neither side's
    "".join(stream(model, tokenizer, warm[0].tolist(), sampling))
    with torch.no_grad():
        model.generate(warm, do_sample=False, max_new_tokens=8, pad_token_id=tokenizer.pad_token_id)
    ours_tokens = 0
    ours_seconds = theirs_seconds = 0.0
    for prompt in PROMPTS:
        ids = tokenizer(prompt)["input_ids"]
        start = time.perf_counter()
        text = "".join(stream(model, tokenizer, ids, sampling))
        ours_seconds += time.perf_counter() - start
        tensor = torch.tensor([ids])
        start = time.perf_counter()
        with torch.no_grad():
            generated = model.generate(tensor, do_sample=False, max_new_tokens=args.tokens, pad_token_id=tokenizer.pad_token_id,
                                       eos_token_id=tokenizer.eos_token_id)
        theirs_seconds += time.perf_counter() - start
        new = generated[0, tensor.shape[1]:]
        assert text == tokenizer.decode(new, skip_special_tokens=True), "greedy outputs differ"
        ours_tokens += len(new)  # the same tokens: the texts are equal
    result = {
        "model": str(args.model or "random small preset"), "threads": args.threads, "max_new_tokens": args.tokens,
        "bigmodel_tokens_per_s": ours_tokens / ours_seconds, "generate_tokens_per_s": ours_tokens / theirs_seconds,
        "speedup": theirs_seconds / ours_seconds, "new_tokens": ours_tokens,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "llm_generate.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
