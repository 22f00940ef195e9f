"""What each feed-forward unit responds to, over many windows: the contexts a unit fires on most
strongly, and the units that never fire; and the windows of a corpus these analyses (and the
heads', core.head_profiles) average over.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from headwatch.core.corpus import Corpus, CorpusError, Tokenizer
from headwatch.core.model import GPT, BatchInspection


def sample_windows(
    corpus: Corpus, n: int, block_size: int, seed: int = 0, split: str = "val"
) -> torch.Tensor:
    """n windows of block_size token ids from one split of the corpus: a LongTensor (n, T)."""
    if n < 1 or block_size < 1:
        raise ValueError(f"need at least one window of at least one token, got {n} x {block_size}")
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    train, val = corpus.split()
    data = train if split == "train" else val
    if len(data) < block_size:
        raise CorpusError(
            f"{corpus.name}: the {split} part has {len(data)} characters, fewer than one window "
            f"of {block_size}"
        )
    rng = torch.Generator().manual_seed(seed)
    starts = torch.randint(len(data) - block_size + 1, (n,), generator=rng)
    return data[starts[:, None] + torch.arange(block_size)].long()  # (n, T)


def _inspected(model: GPT, windows: torch.Tensor, batch_size: int) -> Iterator[BatchInspection]:
    """The model's inspection of the windows, batch_size windows at a time (bounded memory)."""
    if windows.dim() != 2 or windows.shape[0] < 1:
        raise ValueError(f"windows must be a non-empty (N, T) tensor, got {tuple(windows.shape)}")
    device = next(model.parameters()).device
    for chunk in windows.split(batch_size):
        yield model.inspect_batch(chunk.to(device))


# --- feed-forward units ----------------------------------------------------------------------


@dataclass(frozen=True)
class UnitContext:
    """Where a unit fired: the whole window, and the character it fired on."""

    text: str  # the window decoded; the model saw only text[: index + 1] (causal)
    index: int  # the position of the triggering character in text
    activation: float  # post-ReLU
    window: int  # row of the windows tensor


def _check_unit(model: GPT, layer: int, unit: int) -> None:
    config = model.config
    if config.ffn_size == 0:
        raise ValueError("this model has no feed-forward layers (ffn off, or the bigram model)")
    if not 0 <= layer < config.n_layer:
        raise ValueError(f"layer must be in 0..{config.n_layer - 1}, got {layer}")
    if not 0 <= unit < config.ffn_size:
        raise ValueError(f"unit must be in 0..{config.ffn_size - 1}, got {unit}")


@torch.no_grad()
def unit_top_contexts(
    model: GPT,
    tokenizer: Tokenizer,
    windows: torch.Tensor,
    layer: int,
    unit: int,
    k: int = 20,
    batch_size: int = 256,
) -> list[UnitContext]:
    """The k (window, position) pairs where the unit's post-ReLU activation is largest, largest
    first. Positions where it does not fire (activation 0) are never listed, so a rarely active
    unit gives fewer than k and a dead one none."""
    _check_unit(model, layer, unit)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    # clone: a view would keep each batch's whole (B, L, T, F) activations alive until the cat
    acts = torch.cat(
        [b.ffn[:, layer, :, unit].clone() for b in _inspected(model, windows, batch_size)]
    )  # (N, T)
    T = acts.shape[1]
    top = torch.topk(acts.flatten(), min(k, acts.numel()))
    contexts = []
    for value, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
        if value <= 0:
            break
        window, position = divmod(flat, T)
        text = tokenizer.decode(windows[window].tolist())
        contexts.append(UnitContext(text, position, value, window))
    return contexts


@torch.no_grad()
def dead_units(model: GPT, windows: torch.Tensor, batch_size: int = 256) -> list[int]:
    """Per layer, how many feed-forward units are never active (> 0) anywhere in the windows.

    0 for every layer of a model without feed-forward (it has no units); [] for the bigram model.
    """
    config = model.config
    fired = torch.zeros(config.n_layer, config.ffn_size, dtype=torch.bool)  # (L, F)
    for batch in _inspected(model, windows, batch_size):
        fired |= (batch.ffn > 0).any(dim=2).any(dim=0)  # (B, L, T, F) -> (L, F)
    return (~fired).sum(dim=1).tolist()
