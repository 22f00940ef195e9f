"""The logit lens (nostalgebraist, 2020): what the model would predict if it stopped after each
sub-layer — the residual stream after the embeddings, after each block's attention and after each
block's feed-forward, read through the final LayerNorm `ln_f` and `lm_head`.

Each stage goes through `ln_f` as a whole (its own mean and scale), as nostalgebraist did:
TransformerLens's `accumulated_resid(apply_ln=True)` instead divides every stage by the final
stream's cached scale, which suits attributing the final logits linearly to parts of the stream but
tempers or sharpens an early stage's guess by a scale that is not its own. The last stage is the
stream `ln_f` really sees, so its distribution is the model's own.

Stages are read by hooks on the model's own modules (nothing is recomputed beside the model):
"embed" is the input of the first block (of ln_f in the bigram model), "Ln attn" the input of
block n's ln2 (the block's output when it has no feed-forward), "Ln ffn" the block's output.
A stage a ladder variant does not have (feed-forward, or every block in the bigram model) is
absent. Without residual connections each sub-layer's output replaces the stream, so a stage is
that sub-layer's output alone (LensResult.note says so).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F

from headwatch.core.ablation import ROWS_PER_FORWARD, evaluating
from headwatch.core.corpus import EncodedPrompt, Tokenizer
from headwatch.core.model import GPT, GPTConfig

TOP_K = 5


def stage_names(config: GPTConfig) -> list[str]:
    """The lens's stages for a model of this shape, in the order the stream passes them."""
    names = ["embed"]
    for layer in range(1, config.n_layer + 1):
        names.append(f"L{layer} attn")
        if config.ffn:
            names.append(f"L{layer} ffn")
    return names


def stage_note(config: GPTConfig) -> str | None:
    """What the stages mean when they are not a running sum; None for the usual model."""
    if config.n_layer == 0:
        return "the bigram model has no blocks: the embedding is its only stage, and its prediction"
    if not config.residual:
        return (
            "no residual connections: each sub-layer's output replaces the stream, so each stage "
            "is that sub-layer's output alone, read as if the model stopped there"
        )
    return None


def _stage_points(model: GPT) -> list[tuple[nn.Module, bool]]:
    """Where each stage is read, in stage_names order: (module, read its input?), else the
    module's output (a block's output is the tuple (x, attention))."""
    blocks = list(model.blocks)
    points: list[tuple[nn.Module, bool]] = [(blocks[0], True) if blocks else (model.ln_f, True)]
    for block in blocks:
        points.append((block.ln2, True) if block.mlp is not None else (block, False))
        if block.mlp is not None:
            points.append((block, False))
    return points


@contextlib.contextmanager
def reading_stages(model: GPT) -> Iterator[list[torch.Tensor]]:
    """Inside, every forward pass of the model (its own forward, or GPT.inspect) appends the
    stream at each stage, in stage_names order, to the list yielded: S tensors (B, T, C) a pass.
    The hooks are removed on leaving."""
    stages: list[torch.Tensor] = []

    def keep(value: torch.Tensor | tuple) -> None:
        stages.append(value[0] if isinstance(value, tuple) else value)

    hooks = []
    for module, read_input in _stage_points(model):
        if read_input:
            hooks.append(module.register_forward_pre_hook(lambda _m, args: keep(args)))
        else:
            hooks.append(module.register_forward_hook(lambda _m, _args, out: keep(out)))
    try:
        yield stages
    finally:
        for hook in hooks:
            hook.remove()


def _read_stages(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """The stream at every stage for token ids idx (B, T): (S, B, T, C), one forward pass."""
    with reading_stages(model) as stages:
        model(idx)
    return torch.stack(stages)


def stage_logits(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """The lens's logits: (S, B, T, vocab) for token ids idx (B, T), stage s read through ln_f and
    lm_head. Call it inside evaluating(model) (no autograd, eval mode). Raises ValueError for
    T above block_size."""
    return model.lm_head(model.ln_f(_read_stages(model, idx)))


@dataclass(frozen=True)
class LensResult:
    """The logit lens on one prompt: S stages x T positions."""

    tokens: list[str]  # the T characters of the prompt as the model saw them
    stages: list[str]  # S names, stage_names
    probs: torch.Tensor  # (S, T, vocab) float32: next-character distribution at each stage
    p_next: list[list[float | None]]  # [S][T] p(the prompt's actual next character); None last
    top: list[list[str]]  # [S][T] the likeliest next character
    top5: list[list[list[tuple[str, float]]]]  # [S][T] the TOP_K likeliest, most likely first
    note: str | None  # what a stage means when it is not a running sum (stage_note)

    def to_json(self, stage_loss: list[float] | None = None) -> dict:
        """The schema of `headwatch lens --json`; stage_loss: per stage, over validation windows."""
        return {
            "tokens": self.tokens,
            "stages": self.stages,
            "p_next": self.p_next,
            "top": self.top,
            "top5": [[[[ch, p] for ch, p in cell] for cell in row] for row in self.top5],
            "stage_loss": stage_loss,
            "note": self.note,
        }


def logit_lens(model: GPT, tokenizer: Tokenizer, prompt: EncodedPrompt) -> LensResult:
    """The lens on a prompt (its ids; at most block_size of them, as encode_prompt(max_len=)
    keeps). Raises ValueError for an empty prompt or one longer than block_size."""
    if not prompt.ids:
        raise ValueError("the prompt has no character the model knows")
    with evaluating(model) as device:
        idx = torch.tensor([prompt.ids], dtype=torch.long, device=device)  # (1, T)
        return read_lens(model, tokenizer, prompt, _read_stages(model, idx))


@torch.no_grad()
def read_lens(
    model: GPT, tokenizer: Tokenizer, prompt: EncodedPrompt, stream: torch.Tensor
) -> LensResult:
    """The lens on a prompt from the stream a forward pass over its ids left at each stage
    (reading_stages): stream (S, 1, T, C), T = len(prompt.ids)."""
    probs = model.lm_head(model.ln_f(stream[:, 0])).float().softmax(dim=-1).cpu()  # (S, T, V)
    S, T, V = probs.shape
    following = torch.tensor(prompt.ids[1:], dtype=torch.long)  # (T-1,)
    actual = probs[:, :-1].gather(2, following.expand(S, -1).unsqueeze(-1)).squeeze(-1)
    best = torch.topk(probs, min(TOP_K, V), dim=-1)  # (S, T, k)
    chars = tokenizer.chars
    top5 = [
        [
            [(chars[i], p) for i, p in zip(ids, ps, strict=True)]
            for ids, ps in zip(best.indices[s].tolist(), best.values[s].tolist(), strict=True)
        ]
        for s in range(S)
    ]
    return LensResult(
        tokens=list(prompt.text),
        stages=stage_names(model.config),
        probs=probs,
        p_next=[row + [None] for row in actual.tolist()],
        top=[[cell[0][0] for cell in row] for row in top5],
        top5=top5,
        note=stage_note(model.config),
    )


def stage_losses(
    model: GPT,
    x: torch.Tensor,
    y: torch.Tensor,
    rows_per_forward: int = ROWS_PER_FORWARD,
) -> list[float]:
    """Loss by depth: the mean cross-entropy (nats per character) of each stage's prediction over
    windows x (N, T) with targets y (N, T); the last stage's is the model's own loss."""
    S = len(stage_names(model.config))
    sums = torch.zeros(S, dtype=torch.float64)
    with evaluating(model) as device:
        for xs, ys in zip(x.split(rows_per_forward), y.split(rows_per_forward), strict=True):
            logits = stage_logits(model, xs.to(device)).float()  # (S, B, T, vocab)
            losses = F.cross_entropy(
                logits.flatten(0, 2), ys.to(device).repeat(S, 1).flatten(), reduction="none"
            )  # (S*B*T,)
            sums += losses.view(S, -1).double().sum(dim=1).cpu()
    return (sums / y.numel()).tolist()
