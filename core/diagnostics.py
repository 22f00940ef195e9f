"""What each attention head does and what each feed-forward unit responds to, over many windows.

Heads: from attention weights over a sample of validation windows, how much each head puts on the
previous character, on the character itself and on the first position of the window, how spread
out it is (entropy, evenness), and a label from those. The statistics are a pure function of an
attention array [N, L, H, T, T], so they can be checked on hand-made patterns.

Feed-forward units: the contexts a unit fires on most strongly, and the units that never fire.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from headwatch.core.corpus import Corpus, CorpusError, Tokenizer
from headwatch.core.head_label import HeadLabel
from headwatch.core.model import GPT, BatchInspection

# Statistics are averaged over query positions i >= FIRST_QUERY: there the first position (0),
# the previous one (i-1) and the query itself (i) are three different keys. Row 0 can only attend
# to itself and row 1 has position 0 as both "first" and "previous", so they would blur the shares.
FIRST_QUERY = 2

# label_heads: a head that puts at least SHARE_THRESHOLD of its attention on one of the three
# positions is named after it; otherwise one whose entropy is at least BROAD_EVENNESS of the
# uniform distribution's is "broad"; anything else is "mixed".
SHARE_THRESHOLD = 0.5
BROAD_EVENNESS = 0.8
LABELS = tuple(HeadLabel)  # in the order label_head tries them


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


# --- heads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeadStats:
    """Per (layer, head), averaged over windows and query positions i >= FIRST_QUERY."""

    entropy: torch.Tensor  # (L, H) nats; uniform over i+1 keys gives log(i+1)
    previous: torch.Tensor  # (L, H) weight on key i-1
    itself: torch.Tensor  # (L, H) weight on key i
    first: torch.Tensor  # (L, H) weight on key 0
    evenness: torch.Tensor  # (L, H) entropy / log(i+1): 1 uniform over the visible keys, 0 one key
    windows: int  # how many windows the means are over

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.entropy.shape)  # type: ignore[return-value]


def _per_window(attention: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each statistic per window and head, (N, L, H), from attention [N, L, H, T, T]."""
    if attention.dim() != 5 or attention.shape[-1] != attention.shape[-2]:
        raise ValueError(f"attention must be [N, L, H, T, T], got {tuple(attention.shape)}")
    T = attention.shape[-1]
    if T <= FIRST_QUERY:
        raise ValueError(f"windows need at least {FIRST_QUERY + 1} positions, got {T}")
    att = attention.double()
    q = FIRST_QUERY
    entropy = torch.special.entr(att).sum(-1)[..., q:]  # (N, L, H, T-q); 0 log 0 = 0
    visible = torch.arange(q + 1, T + 1, dtype=att.dtype, device=att.device)  # i + 1 keys
    diagonal = torch.diagonal(att, dim1=-2, dim2=-1)  # (N, L, H, T): w[i, i]
    below = torch.diagonal(att, offset=-1, dim1=-2, dim2=-1)  # (N, L, H, T-1): w[i, i-1]
    return {
        "entropy": entropy.mean(-1),
        "previous": below[..., q - 1 :].mean(-1),
        "itself": diagonal[..., q:].mean(-1),
        "first": att[..., q:, 0].mean(-1),
        "evenness": (entropy / visible.log()).mean(-1),
    }


def attention_statistics(attention: torch.Tensor) -> HeadStats:
    """HeadStats of an attention array [N, L, H, T, T] (rows sum to 1, causal), T >= 3."""
    per_window = _per_window(attention)
    return _stats_from(per_window, attention.shape[0])


def _stats_from(per_window: dict[str, torch.Tensor], n: int) -> HeadStats:
    means = {name: value.mean(0).float() for name, value in per_window.items()}  # (L, H) each
    return HeadStats(windows=n, **means)


@torch.no_grad()
def head_statistics(model: GPT, windows: torch.Tensor, batch_size: int = 256) -> HeadStats:
    """HeadStats of the model over windows (N, T) of token ids, in eval mode, no autograd.

    The bigram model has no heads: every tensor is then (0, n_head).
    """
    parts: dict[str, list[torch.Tensor]] = {}
    for batch in _inspected(model, windows, batch_size):
        for name, value in _per_window(batch.attention).items():
            parts.setdefault(name, []).append(value)
    return _stats_from({k: torch.cat(v) for k, v in parts.items()}, windows.shape[0])


def label_head(previous: float, itself: float, first: float, evenness: float) -> HeadLabel:
    """One of LABELS, by the thresholds above (ties between shares go in that order)."""
    shares = {
        HeadLabel.PREVIOUS_TOKEN: previous,
        HeadLabel.SELF: itself,
        HeadLabel.FIRST_POSITION: first,
    }
    name, share = max(shares.items(), key=lambda kv: kv[1])  # max keeps the first of equals
    if share >= SHARE_THRESHOLD:
        return name
    if evenness >= BROAD_EVENNESS:
        return HeadLabel.BROAD
    return HeadLabel.MIXED


def label_heads(stats: HeadStats) -> list[list[HeadLabel]]:
    """labels[layer][head], see label_head."""
    L, H = stats.shape
    return [
        [
            label_head(
                float(stats.previous[layer, head]),
                float(stats.itself[layer, head]),
                float(stats.first[layer, head]),
                float(stats.evenness[layer, head]),
            )
            for head in range(H)
        ]
        for layer in range(L)
    ]


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


def uniform_entropy(T: int) -> float:
    """The mean entropy HeadStats would report for a head spread evenly over visible keys."""
    return sum(math.log(i + 1) for i in range(FIRST_QUERY, T)) / (T - FIRST_QUERY)
