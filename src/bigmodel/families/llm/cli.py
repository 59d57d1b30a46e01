"""`bigmodel llm pretrain|sft`, `bigmodel generate` and `bigmodel chat`.

torch and transformers are imported inside the commands so that `bigmodel --help` stays quick.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from bigmodel import checkpoint
from bigmodel.errors import BigModelError
from bigmodel.ui import SEED_MAX, console, stdout

llm_app = typer.Typer(
    help="Large language models: pretrain, chat fine-tune.\n\nExample: bigmodel llm pretrain --preset tiny --corpus general --out models/tiny",
    no_args_is_help=True,
)


@llm_app.command()
def pretrain(
    out: Path = typer.Option(..., "--out", help="Model directory to write.", callback=checkpoint.model_out),
    preset: str = typer.Option("tiny", "--preset", help="tiny | small | 125m | 1b | 7b"),
    config: Path | None = typer.Option(None, "--config", help="TOML file overriding any preset field."),
    corpus: str = typer.Option("general", "--corpus", help="'general' (embedded English) or a text file, folder or JSONL."),
    tokenizer: Path | None = typer.Option(None, "--tokenizer", help="Reuse this tokenizer (a folder) instead of training one."),
    init_from: Path | None = typer.Option(None, "--init-from", help="Continue pretraining this causal LM (its architecture and tokenizer; the preset gives the recipe)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run for --out exactly."),
    fsdp: bool = typer.Option(False, "--fsdp", help="Shard the model with FSDP2 (under torchrun)."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
    json_output: bool = typer.Option(False, "--json", help="Print the model card as JSON."),
) -> None:
    """Train a tokenizer and a LLaMA from scratch, or continue pretraining a model (--init-from).
    Data-parallel under torchrun.

    Example: bigmodel llm pretrain --preset tiny --corpus general --out models/tiny-llm
    """
    from bigmodel.families.llm.presets import load_config

    llm_config = load_config(preset, config)  # bad settings are refused before torch is even imported
    from bigmodel.families.llm.pretrain import pretrain as run_pretrain

    if init_from is not None and tokenizer is not None:
        raise BigModelError("--init-from keeps the base model's tokenizer; drop --tokenizer")
    written = run_pretrain(llm_config, corpus, out, tokenizer_dir=tokenizer, resume=resume, seed=seed, fsdp=fsdp,
                           init_from=init_from)
    if written is None:  # a process other than rank 0 under torchrun
        return
    card = checkpoint.read_card(out)
    if json_output:
        print(json.dumps(card.to_json(), indent=2))
    else:
        stdout.print(f"wrote {out}: {card.parameters:,} parameters, validation perplexity {card.metrics['val_perplexity']:.2f}")


@llm_app.command()
def sft(
    base: Path = typer.Option(..., "--base", help="The LLM to fine-tune (bigmodel or Hugging Face LLaMA-family directory)."),
    data: Path = typer.Option(..., "--data", help='JSONL: one {"messages": [{"role": ..., "content": ...}]} per line.'),
    out: Path = typer.Option(..., "--out", help="Directory to write.", callback=checkpoint.model_out),
    lora: bool = typer.Option(False, "--lora", help="Train a LoRA adapter (peft) instead of every weight."),
    merge: bool = typer.Option(False, "--merge", help="With --lora: fold the adapter in and write a plain model."),
    steps: int = typer.Option(100, "--steps"),
    learning_rate: float = typer.Option(1e-3, "--lr"),
    batch_size: int = typer.Option(8, "--batch-size"),
    max_length: int = typer.Option(512, "--max-length", help="Tokens per chat; longer chats are cut."),
    lora_rank: int = typer.Option(8, "--lora-rank"),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run for --out exactly."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
    json_output: bool = typer.Option(False, "--json", help="Print the model card as JSON."),
) -> None:
    """Chat fine-tuning with loss on the assistant's tokens only.

    Example: bigmodel llm sft --base models/tiny-llm --data chats.jsonl --out models/tiny-chat --lora --merge
    """
    from bigmodel.families.llm.sft import SFTConfig, sft as run_sft

    config = SFTConfig(steps=steps, learning_rate=learning_rate, batch_size=batch_size,
                       micro_batch_size=min(batch_size, 8), max_length=max_length, lora_rank=lora_rank)
    run_sft(base, data, out, config, lora=lora, merge=merge, resume=resume, seed=seed)
    card = checkpoint.read_card(out)
    if json_output:
        print(json.dumps(card.to_json(), indent=2))
    else:
        stdout.print(f"wrote {out} ({'LoRA adapter' if lora and not merge else 'model'}), train loss {card.metrics['train_loss']:.3f}")


def _sampling(temperature: float, top_p: float, top_k: int, max_new_tokens: int, stop: list[str], seed: int):
    from bigmodel.families.llm.generate import Sampling

    return Sampling(temperature=temperature, top_p=top_p, top_k=top_k, max_new_tokens=max_new_tokens, stop=tuple(stop), seed=seed)


def generate(
    model_dir: Path = typer.Argument(..., help="An LLM directory."),
    prompt: str = typer.Option(..., "--prompt", help="Text to continue."),
    temperature: float = typer.Option(0.8, "--temperature", help="0 for greedy decoding."),
    top_p: float = typer.Option(0.95, "--top-p"),
    top_k: int = typer.Option(50, "--top-k", help="0 for no limit."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens"),
    stop: list[str] = typer.Option([], "--stop", help="Stop before this text; repeatable."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
    json_output: bool = typer.Option(False, "--json", help='Print {"prompt", "completion"} as JSON.'),
) -> None:
    """Continue a prompt with an LLM (KV cache; greedy when --temperature 0).

    Example: bigmodel generate models/tiny-llm --prompt "In the beginning" --temperature 0
    """
    from bigmodel.families.llm.generate import stream
    from bigmodel.families.llm.model_io import load_llm

    sampling = _sampling(temperature, top_p, top_k, max_new_tokens, stop, seed)
    model, tokenizer = load_llm(model_dir)
    pieces = stream(model, tokenizer, tokenizer(prompt)["input_ids"], sampling)
    if json_output:
        print(json.dumps({"prompt": prompt, "completion": "".join(pieces)}))
        return
    sys.stdout.write(prompt)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")


def chat(
    model_dir: Path = typer.Argument(..., help="An LLM directory (chat-tuned works best)."),
    system: str | None = typer.Option(None, "--system", help="A system message to start the conversation."),
    temperature: float = typer.Option(0.7, "--temperature", help="0 for greedy decoding."),
    top_p: float = typer.Option(0.95, "--top-p"),
    top_k: int = typer.Option(50, "--top-k"),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
    stop: list[str] = typer.Option([], "--stop"),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
) -> None:
    """Chat in the terminal; replies stream as they are generated. /reset starts over, /exit (or
    end of input) leaves.

    Example: bigmodel chat zoo/general-llm
    """
    from bigmodel.families.llm.generate import reply
    from bigmodel.families.llm.model_io import load_llm
    from bigmodel.families.llm.tokenizer import prepare_chat_tokenizer

    sampling = _sampling(temperature, top_p, top_k, max_new_tokens, stop, seed)
    model, tokenizer = load_llm(model_dir)
    prepare_chat_tokenizer(tokenizer)
    start = [{"role": "system", "content": system}] if system else []
    messages = list(start)
    console.print(f"chatting with {model_dir} — /reset to start over, /exit to leave")
    while True:
        console.print("[bold]you>[/] ", end="")
        line = sys.stdin.readline()
        if not line or line.strip() == "/exit":
            break
        if line.strip() == "/reset":
            messages = list(start)
            continue
        if not line.strip():
            continue
        messages.append({"role": "user", "content": line.strip()})
        answer = []
        for piece in reply(model, tokenizer, messages, sampling):
            answer.append(piece)
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()
        messages.append({"role": "assistant", "content": "".join(answer)})


def register(app: typer.Typer) -> None:
    app.add_typer(llm_app, name="llm")
    app.command()(generate)
    app.command()(chat)
