"""How fast `inspect` is, against loading the weights, and over a folder of checkpoints.

Writes, in a temporary folder: a small (~1 MB) and a big (≥ 1 GB) safetensors file with the same
16 tensor names (only their sizes differ), and 200 small
model directories (config.json + model.safetensors: 150 Llama-style, 30 ViT-style, 20 BERT-style).
Measures, in one run:
  - inspect of the small and the big file (best of 5): the time must not grow with the file size;
  - `safetensors.torch.load_file` of the big file, reading every tensor (the baseline): ratio
    load / inspect (load_file alone only maps the file, and is shown too);
  - inspect of the 200-checkpoint folder: checkpoints per second.
Prints a table and writes benchmarks/out/inspect_speed.json.

Run: .venv/bin/python benchmarks/inspect_speed.py [--big-gb 1.0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Callable

OUT = Path(__file__).parent / "out"
FOLDER_MODELS = {"llama": 150, "vit": 30, "bert": 20}


def best_of(repeats: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def write_weights(path: Path, gigabytes: float, tensors: int = 16) -> int:
    """A Llama-like file of `tensors` float32 tensors: the same header whatever the size."""
    import torch
    from safetensors.torch import save_file

    columns = max(1, -(-int(gigabytes * 1e9) // (tensors * 4 * 4096)))
    save_file({f"model.layers.{i}.mlp.up_proj.weight": torch.ones(4096, columns) for i in range(tensors)}, path, metadata={"format": "pt"})
    return path.stat().st_size


def write_folder(root: Path) -> int:
    """200 small model directories, as save_pretrained would leave them."""
    import torch
    from safetensors.torch import save_file

    shapes = {
        "llama": ({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}, ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "lm_head.weight"]),
        "vit": ({"model_type": "vit", "architectures": ["ViTForImageClassification"]}, ["vit.embeddings.patch_embeddings.projection.weight", "classifier.weight"]),
        "bert": ({"model_type": "bert", "architectures": ["BertModel"]}, ["embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight"]),
    }
    written = 0
    for kind, number in FOLDER_MODELS.items():
        config, names = shapes[kind]
        for i in range(number):
            model_dir = root / kind / f"{kind}-{i:03d}"
            model_dir.mkdir(parents=True)
            (model_dir / "config.json").write_text(json.dumps(config))
            save_file({name: torch.zeros(64, 64) for name in names}, model_dir / "model.safetensors")
            written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-gb", type=float, default=1.0, help="size of the big file in GB (default 1.0)")
    args = parser.parse_args()

    from safetensors.torch import load_file

    from bigmodel.taxonomy.inspect import inspect_paths
    from bigmodel.taxonomy.report import summary_line

    with tempfile.TemporaryDirectory(prefix="bigmodel-inspect-bench-") as tmp:
        tmp_path = Path(tmp)
        small, big = tmp_path / "small.safetensors", tmp_path / "big.safetensors"
        small_bytes = write_weights(small, 0.001)
        big_bytes = write_weights(big, args.big_gb)
        folder_count = write_folder(tmp_path / "folder")

        inspect_paths([small])  # imports and first-call costs out of the measurement
        inspect_small = best_of(5, lambda: inspect_paths([small]))
        inspect_big = best_of(5, lambda: inspect_paths([big]))
        # The baseline: load_file maps the file, so its tensors are read only when used; summing
        # them touches every byte. The page cache is warm (the file was just written), so this is
        # loading at its fastest; from a cold disk it is slower still.
        load_big = best_of(2, lambda: [float(t.sum()) for t in load_file(big).values()])
        map_big = best_of(2, lambda: load_file(big))
        start = time.perf_counter()
        reports = inspect_paths([tmp_path / "folder"])
        folder_seconds = time.perf_counter() - start
        assert len(reports) == folder_count, (len(reports), folder_count)

    results = {
        "small_file_bytes": small_bytes,
        "big_file_bytes": big_bytes,
        "inspect_small_seconds": inspect_small,
        "inspect_big_seconds": inspect_big,
        "load_file_big_seconds": load_big,  # load_file and read every tensor
        "load_file_big_mapped_only_seconds": map_big,  # load_file alone (memory-mapped, lazy)
        "load_over_inspect": load_big / inspect_big,
        "inspect_big_over_small": inspect_big / inspect_small,
        "folder_checkpoints": folder_count,
        "folder_seconds": folder_seconds,
        "folder_checkpoints_per_second": folder_count / folder_seconds,
        "folder_summary": summary_line(reports),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "inspect_speed.json").write_text(json.dumps(results, indent=2) + "\n")

    from rich.console import Console
    from rich.table import Table

    table = Table(title="inspect speed")
    for column in ("measurement", "value"):
        table.add_column(column)
    table.add_row(f"inspect {small_bytes / 1e6:.1f} MB file", f"{inspect_small * 1e3:.2f} ms")
    table.add_row(f"inspect {big_bytes / 1e9:.2f} GB file", f"{inspect_big * 1e3:.2f} ms ({results['inspect_big_over_small']:.2f}× the small file)")
    table.add_row(f"load_file {big_bytes / 1e9:.2f} GB file + read tensors (baseline)", f"{load_big * 1e3:.0f} ms")
    table.add_row("load_file alone (memory-mapped, not read)", f"{map_big * 1e3:.2f} ms")
    table.add_row("load / inspect", f"{results['load_over_inspect']:.0f}×")
    table.add_row(f"scan folder of {folder_count} checkpoints", f"{folder_seconds:.2f} s = {results['folder_checkpoints_per_second']:.0f} checkpoints/s")
    table.add_row("folder summary", results["folder_summary"])
    Console().print(table)
    print(f"written {OUT / 'inspect_speed.json'}")


if __name__ == "__main__":
    main()
