"""`bigmodel serve`: the zoo over HTTP (OpenAI-compatible API, family routes, web page)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Optional

import typer

from bigmodel.ui import SEED_MAX, console

# Concurrent sequences decoded together per model; the rest wait for a place.
MAX_BATCH = 64


def serve(
    model_dirs: list[Path] = typer.Argument(None, help="Model directories to serve (any family)."),
    zoo: Optional[Path] = typer.Option(None, "--zoo", help="Serve every model directory in this folder (e.g. ./zoo)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; loopback unless you say otherwise."),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="BIGMODEL_API_KEY",
                                          help="Require 'Authorization: Bearer KEY' on every /v1 route."),
    models_root: Optional[Path] = typer.Option(None, "--models-root", help="Folder /v1/inspect may read (nothing outside it)."),
    no_batching: bool = typer.Option(False, "--no-batching", help="Decode one request at a time (the benchmark's baseline)."),
    max_tokens: int = typer.Option(1024, "--max-tokens", min=1, help="Most tokens one completion may ask for."),
    max_body_mb: float = typer.Option(16.0, "--max-body-mb", min=0.001, help="Largest request body, in MiB."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX, help="Seeds torch for the families' loaders; each request carries its own seed."),
) -> None:
    """Serve models over HTTP: an OpenAI-compatible API (chat/completions with streaming and
    dynamic batching) for LLM and vertical models, a route for each family, /healthz, /metrics,
    and a web page at / that draws the zoo and lets you try every model.

    Example: bigmodel serve --zoo ./zoo --port 8000
    """
    import torch
    import uvicorn

    from bigmodel.errors import BigModelError
    from bigmodel.families.llm.model_io import quiet_transformers
    from bigmodel.serve.app import Limits, create_app
    from bigmodel.serve.middleware import Metrics
    from bigmodel.serve.registry import load_models, model_dirs as find_dirs

    if models_root is not None and not models_root.is_dir():
        raise BigModelError(f"--models-root: {models_root} is not a folder")
    torch.manual_seed(seed)
    quiet_transformers()
    metrics = Metrics()
    models = load_models(find_dirs(list(model_dirs or []), zoo), max_batch=1 if no_batching else MAX_BATCH,
                         on_tokens=lambda name, n: metrics.tokens.labels(name).inc(n))
    limits = Limits(max_tokens=max_tokens, max_body_bytes=int(max_body_mb * 1024 * 1024))
    app = create_app(models, api_key=api_key, models_root=models_root, limits=limits, metrics=metrics)
    if not _is_loopback(host) and api_key is None:
        console.print(f"[bold yellow]warning:[/] serving on {host} without --api-key: anyone who can reach it can use it")
    for model in models.values():
        console.print(f"{model.name}: {model.family}{'' if model.engine is not None else ' (listed, no route)'}", highlight=False)
    console.print(f"serving {len(models)} models on http://{host}:{port} (batching {'off' if no_batching else 'on'})", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
