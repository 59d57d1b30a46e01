"""Training speed of `bigmodel llm pretrain` against a plain `transformers.Trainer` loop.

Same run, same LLaMA config (the zoo's `small` preset by default), same packed data, same global
batch, same number of optimizer steps. The Trainer runs twice: with its defaults (fp32) and with
`bf16=True` (bigmodel turns bf16 autocast on where it pays, see
`bigmodel.families.llm.training.uses_bf16`, and compiles the model when the preset says so). Each
side's time is the sum of its optimizer steps' wall times (data, forward, backward, clipping,
optimizer, schedule) after the first, excluding tokenizer training, validation and saving; the
first step, which compiles, is reported apart. Reports tokens/s, the ratios (goal >= 1.2x against
the default Trainer), and model FLOPs utilisation: 6 x non-embedding parameters + attention FLOPs
per token, against the fp32 matmul throughput measured on this machine in the same run.

Run: .venv/bin/python benchmarks/llm_train.py [--preset small] [--steps 100] [--threads 2]
Writes benchmarks/out/llm_train.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

OUT = Path(__file__).parent / "out"


def matmul_flops_per_second(size: int = 1024, repeats: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def flops_per_token(config) -> float:
    """Training FLOPs per token: 6N for the matmuls, plus 12·layers·hidden·seq for attention."""
    embedding = config.vocab_size * config.hidden_size
    head_dim = config.hidden_size // config.num_attention_heads
    per_layer = (2 * config.hidden_size * config.hidden_size  # q, o
                 + 2 * config.hidden_size * config.num_key_value_heads * head_dim  # k, v
                 + 3 * config.hidden_size * config.intermediate_size)  # gate, up, down
    n = config.num_hidden_layers * per_layer + embedding  # the output projection is a matmul too
    return 6 * n + 12 * config.num_hidden_layers * config.hidden_size * config.seq_len


def bigmodel_run(config, corpus: Path, work: Path) -> tuple[float, float]:
    """Seconds of the timed steps, and of the first step (which compiles the model)."""
    from bigmodel.families.llm.pretrain import pretrain
    from bigmodel.train.metrics import read_metrics

    out = pretrain(config, str(corpus), work / "ours")
    rows = read_metrics(out / "metrics.jsonl")
    tokens = config.batch_size * config.seq_len
    # The first step allocates (and compiles): timed on neither side, reported apart.
    return sum(tokens / r["tokens_per_s"] for r in rows[1:]), tokens / rows[0]["tokens_per_s"]


def trainer_run(config, corpus: Path, work: Path, bf16: bool) -> float:
    from transformers import LlamaForCausalLM, Trainer, TrainerCallback, TrainingArguments

    from bigmodel.data.text import read_text_corpus
    from bigmodel.families.llm.model_io import load_tokenizer
    from bigmodel.families.llm.packing import pack

    tokenizer = load_tokenizer(work / "ours")
    packed = pack(read_text_corpus(corpus), tokenizer, config.seq_len, config.val_fraction)
    dataset = [{"input_ids": row, "labels": row} for row in packed.train]
    torch.manual_seed(0)
    model = LlamaForCausalLM(config.llama_config(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                                 pad_token_id=tokenizer.pad_token_id))

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds = 0.0
            self.began = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.began = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step > 1:  # the first step allocates: timed on neither side
                self.seconds += time.perf_counter() - self.began

    timer = StepTimer()
    arguments = TrainingArguments(
        output_dir=str(work / f"trainer-{bf16}"), max_steps=config.steps, per_device_train_batch_size=config.micro_batch_size,
        gradient_accumulation_steps=config.batch_size // config.micro_batch_size, learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps, lr_scheduler_type="cosine", weight_decay=config.weight_decay,
        adam_beta1=config.beta1, adam_beta2=config.beta2, max_grad_norm=config.grad_clip, logging_steps=10**9,
        save_strategy="no", report_to=[], use_cpu=True, bf16=bf16, dataloader_num_workers=0, disable_tqdm=True, seed=0,
    )
    Trainer(model=model, args=arguments, train_dataset=dataset, callbacks=[timer]).train()
    return timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from bigmodel.data.general import general_corpus
    from bigmodel.families.llm.presets import load_config

    config = load_config(args.preset, steps=args.steps, eval_every=10**6, save_every=10**6)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        corpus = work / "corpus.txt"
        corpus.write_text("\n".join(general_corpus().documents[:6000]), encoding="utf-8")
        peak = matmul_flops_per_second()
        tokens = (config.steps - 1) * config.batch_size * config.seq_len
        ours, first_step = bigmodel_run(config, corpus, work)
        theirs = trainer_run(config, corpus, work, bf16=False)
        theirs_bf16 = trainer_run(config, corpus, work, bf16=True)
    per_token = flops_per_token(config)
    result = {
        "preset": args.preset, "steps": config.steps, "threads": args.threads,
        "tokens_per_step": config.batch_size * config.seq_len,
        "bigmodel_tokens_per_s": tokens / ours, "trainer_tokens_per_s": tokens / theirs,
        "trainer_bf16_tokens_per_s": tokens / theirs_bf16,
        "speedup": theirs / ours, "speedup_vs_trainer_bf16": theirs_bf16 / ours,
        "bigmodel_first_step_s": first_step, "compile": config.compile,
        "matmul_peak_gflops": peak / 1e9,
        "bigmodel_mfu": tokens / ours * per_token / peak, "trainer_mfu": tokens / theirs * per_token / peak,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "llm_train.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
