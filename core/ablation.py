"""Head knockout (ablation): run the model with some attention heads' outputs replaced, and what
the validation loss loses without each head.

The seam is each block's attention output projection `attn.c_proj`: its input (B, T, C) holds the
heads' outputs side by side, head h in channels h*hs:(h+1)*hs. A forward pre-hook there replaces
the knocked-out heads' channels before the projection mixes them (TransformerLens's hook_z). The
weights are never touched and the hooks are removed on leaving, so a model that trains or is saved
afterwards is exactly the model it was.

Mean-ablation (the default) replaces a head's output with its mean over validation windows and
positions: one vector per head, measured on the model without knockouts. Averaging over positions
too (rather than one mean per position) makes the replacement fit any prompt: a validation window
starts anywhere in the text, so its position index says nothing but how much context is visible,
and what is left of the head is its average contribution, with nothing about the text at hand.
Zero-ablation (an option) replaces it with zeros, which also removes that average and so
overstates what the head's information is worth.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from headwatch.core.config import ConfigError
from headwatch.core.corpus import Corpus
from headwatch.core.diagnostics import sample_windows
from headwatch.core.formatting import head_names
from headwatch.core.model import GPT, GPTConfig, eval_mode

Head = tuple[int, int]  # (layer, head), both 0-based
ABLATIONS = ("mean", "zero")
# windows x knockout variants per forward pass: bounds memory, and more are no faster on a CPU
ROWS_PER_FORWARD = 64


# "2.3", or a head as the output names it, "L2·H3" (also "L2H3", "l2.h3"): 1-based
_HEAD = re.compile(r"L?(\d+)(?:[.·]H?|H)(\d+)", re.IGNORECASE)


def parse_heads(spec: str, n_layer: int, n_head: int) -> list[Head]:
    """'L.H[,L.H...]' with 1-based layers and heads (as the window numbers them; "L2·H3", as
    the window and the CLI name a head, reads as "2.3") -> sorted, distinct 0-based
    (layer, head) pairs. Raises ConfigError naming the bad part."""
    heads: set[Head] = set()
    if n_layer == 0:
        raise ConfigError("this model has no attention heads to knock out (the bigram model)")
    for part in spec.split(","):
        named = _HEAD.fullmatch(part.strip())
        if named is None:
            raise ConfigError(
                f"knockout {part.strip()!r} is not LAYER.HEAD (e.g. 2.3 or L2·H3, 1-based); "
                "separate several with commas"
            )
        layer, head = int(named[1]), int(named[2])
        if not (1 <= layer <= n_layer and 1 <= head <= n_head):
            raise ConfigError(
                f"knockout {head_names([(layer - 1, head - 1)])} does not exist: this model "
                f"has layers 1-{n_layer} and heads 1-{n_head}"
            )
        heads.add((layer - 1, head - 1))
    return sorted(heads)


def val_windows(
    corpus: Corpus, n: int, block_size: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """n validation windows as (inputs (n, T), targets (n, T)) with T = block_size, the targets
    the inputs shifted by one character; the same windows for the same seed. Raises CorpusError
    when the validation text is shorter than one window."""
    windows = sample_windows(corpus, n, block_size + 1, seed=seed)  # (n, T + 1)
    return windows[:, :-1], windows[:, 1:]


@contextlib.contextmanager
def evaluating(model: GPT) -> Iterator[torch.device]:
    """Eval mode and no autograd inside; the model's train/eval mode restored on leaving.
    Yields the device the model's weights are on."""
    with eval_mode(model), torch.no_grad():
        yield next(model.parameters()).device


def ablation_values(
    model: GPT,
    x: torch.Tensor | None,
    ablation: str = "mean",
    batch_size: int = ROWS_PER_FORWARD,
) -> torch.Tensor:
    """What each head's output becomes when knocked out: (n_layer, n_head, head_size), float32
    on the CPU. "mean": the head's output (c_proj's input channels) averaged over the windows
    x (N, T) and their positions, on the model without knockouts; "zero": zeros (x unused).
    Raises ValueError for another ablation, or for "mean" without windows."""
    c = model.config
    if ablation not in ABLATIONS:
        raise ValueError(f"ablation must be one of {', '.join(ABLATIONS)}, got {ablation!r}")
    sums = torch.zeros(c.n_layer, c.n_embd, dtype=torch.float64)  # (L, C)
    if ablation == "zero" or c.n_layer == 0:
        return sums.view(c.n_layer, c.n_head, c.head_size).float()
    if x is None or x.numel() == 0:
        raise ValueError("mean-ablation needs validation windows to take the means over")

    def add(layer: int, args: tuple[torch.Tensor]) -> None:
        sums[layer] += args[0].double().sum(dim=(0, 1)).cpu()  # (B, T, C) -> (C,)

    hooks = [
        block.attn.c_proj.register_forward_pre_hook(lambda _m, args, layer=layer: add(layer, args))
        for layer, block in enumerate(model.blocks)
    ]
    try:
        with evaluating(model) as device:
            for chunk in x.split(batch_size):
                model(chunk.to(device))
    finally:
        for hook in hooks:
            hook.remove()
    return (sums / x.numel()).view(c.n_layer, c.n_head, c.head_size).float()


@contextlib.contextmanager
def _masked(model: GPT, masks: torch.Tensor, values: torch.Tensor) -> Iterator[None]:
    """Knock out heads per replica of the batch: masks (R, n_layer, n_head) bool; a batch of R*B
    rows is R replicas of B rows, replica r with the heads masks[r] replaced by values
    (n_layer, n_head, head_size). Layers with nothing masked get no hook at all."""
    R, L, H = masks.shape
    hs = model.config.head_size

    def replace(layer: int, y: torch.Tensor) -> tuple[torch.Tensor]:
        heads = y.reshape(R, y.shape[0] // R, y.shape[1], H, hs)  # (R, B, T, nh, hs)
        keep = ~masks[:, layer].to(y.device)[:, None, None, :, None]  # (R, 1, 1, nh, 1)
        out = torch.where(keep, heads, values[layer].to(y))  # (R, B, T, nh, hs)
        return (out.reshape(y.shape),)

    hooks = [
        model.blocks[layer].attn.c_proj.register_forward_pre_hook(
            lambda _m, args, layer=layer: replace(layer, args[0])
        )
        for layer in range(L)
        if masks[:, layer].any()
    ]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def _mask(config: GPTConfig, heads: Iterable[Head]) -> torch.Tensor:
    """(n_layer, n_head) bool, True at the given heads; ValueError for a head not in the model."""
    mask = torch.zeros(config.n_layer, config.n_head, dtype=torch.bool)
    for layer, head in heads:
        if not (0 <= layer < config.n_layer and 0 <= head < config.n_head):
            raise ValueError(
                f"head ({layer}, {head}) does not exist in {config.n_layer} layers of "
                f"{config.n_head} heads (0-based)"
            )
        mask[layer, head] = True
    return mask


@contextlib.contextmanager
def knocked_out(model: GPT, heads: Iterable[Head], values: torch.Tensor) -> Iterator[GPT]:
    """Inside, the model runs with the heads (0-based (layer, head) pairs) knocked out: their
    outputs replaced by values[layer, head] (ablation_values: (n_layer, n_head, head_size)) before
    c_proj, in every forward (logits, inspect, generate). Knocking out no head installs nothing.
    The weights are untouched; the hooks go on leaving, also after an error. Raises ValueError
    for a head that does not exist."""
    mask = _mask(model.config, heads)
    with _masked(model, mask[None], values):
        yield model


@dataclass(frozen=True)
class KnockoutLosses:
    """Validation loss (nats per character) of the model and of its knockouts, over the same
    windows. Tensors are (n_layer, n_head)."""

    base: float  # no head knocked out
    knocked: torch.Tensor  # this head knocked out
    kept_only: torch.Tensor  # every other head of this head's layer knocked out
    ablation: str

    @property
    def delta(self) -> torch.Tensor:
        """(L, H): how much the loss rises without the head."""
        return self.knocked - self.base

    @property
    def delta_kept_only(self) -> torch.Tensor:
        """(L, H): how much the loss rises when this head is its layer's only one."""
        return self.kept_only - self.base


def knockout_losses(
    model: GPT,
    x: torch.Tensor,
    y: torch.Tensor,
    values: torch.Tensor,
    ablation: str = "mean",
    rows_per_forward: int = ROWS_PER_FORWARD,
) -> KnockoutLosses:
    """The loss over windows x, y (N, T) without knockouts, with each head knocked out, and with
    each head kept alone in its layer. Variants share forward passes: the windows are repeated
    once per variant in one batch of at most rows_per_forward rows (one variant per forward when
    there are more windows than that), each replica with its own heads knocked out.
    values: ablation_values(model, x, ablation); ablation only names it in the result."""
    c = model.config
    L, H = c.n_layer, c.n_head
    eye = torch.eye(L * H, dtype=torch.bool).view(L * H, L, H)  # variant v knocks out head v
    same_layer = eye.any(dim=2, keepdim=True).expand(-1, -1, H)  # (LH, L, H): v's whole layer
    variants = torch.cat(
        [torch.zeros(1, L, H, dtype=torch.bool), eye, same_layer & ~eye]
    )  # (1 + 2LH, L, H)
    sums = torch.zeros(len(variants), dtype=torch.float64)
    chunk = min(len(x), rows_per_forward)
    group = max(1, rows_per_forward // chunk)
    with evaluating(model) as device:
        for xs, ys in zip(x.split(chunk), y.split(chunk), strict=True):
            xs, ys = xs.to(device), ys.to(device)
            for start in range(0, len(variants), group):
                masks = variants[start : start + group]
                R = len(masks)
                with _masked(model, masks, values):
                    logits, _ = model(xs.repeat(R, 1))  # (R*B, T, vocab)
                losses = F.cross_entropy(
                    logits.flatten(0, 1).float(), ys.repeat(R, 1).flatten(), reduction="none"
                )  # (R*B*T,)
                sums[start : start + R] += losses.view(R, -1).double().sum(dim=1).cpu()
    means = sums / y.numel()
    knocked = means[1 : 1 + L * H].view(L, H).float()
    kept_only = means[1 + L * H :].view(L, H).float()
    return KnockoutLosses(float(means[0]), knocked, kept_only, ablation)
