"""Documents packed into fixed-length sequences, and batches that are a pure function of the step.

Documents are separated by EOS (bigmodel's tokenizer puts it before each one), concatenated
and cut into `seq_len` tokens; no padding, no token wasted. Every `stride`-th sequence goes to
validation, so the split is deterministic and spread over the whole corpus. The batch at a step
depends only on (seed, step), which makes the step the data position for exact resumption.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import torch

from bigmodel.data.text import TextCorpus
from bigmodel.errors import BigModelError


@dataclasses.dataclass
class PackedCorpus:
    train: torch.Tensor  # [n, seq_len] token ids
    val: torch.Tensor
    tokens: int

    def batch_indices(self, seed: int, step: int, batch_size: int) -> torch.Tensor:
        return batch_indices(seed, step, batch_size, len(self.train))


def batch_indices(seed: int, step: int, batch_size: int, n: int) -> torch.Tensor:
    """Indices (of n examples) of the global batch at `step`: epochs of seeded permutations, so the
    batch depends on nothing but (seed, step)."""
    first = step * batch_size
    return torch.tensor([int(_permutation(seed, p // n, n)[p % n]) for p in range(first, first + batch_size)])


@functools.lru_cache(maxsize=4)
def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def pack(corpus: TextCorpus, tokenizer: Any, seq_len: int, val_fraction: float) -> PackedCorpus:
    # Each document as a prompt is encoded (with the tokenizer's start token), then EOS, unless the
    # start token is EOS itself (bigmodel's tokenizers), which then already separates documents.
    ids = tokenizer(corpus.documents, add_special_tokens=True)["input_ids"]
    end = [] if tokenizer.bos_token_id == tokenizer.eos_token_id else [tokenizer.eos_token_id]
    flat = np.fromiter((t for doc in ids for t in doc + end), dtype=np.int64)
    sequences = len(flat) // seq_len
    if sequences < 2:
        raise BigModelError(
            f"corpus {corpus.name} is too short: {len(flat):,} tokens, but training needs at least two "
            f"sequences of seq_len={seq_len} tokens (one to train on, one to validate)"
        )
    packed = torch.from_numpy(flat[: sequences * seq_len].reshape(sequences, seq_len).copy())
    stride = max(2, round(1 / val_fraction))
    is_val = (torch.arange(sequences) % stride) == stride - 1
    if not is_val.any():
        is_val[-1] = True
    return PackedCorpus(train=packed[~is_val], val=packed[is_val], tokens=int(len(flat)))
