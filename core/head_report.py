"""What the window's Heads tab shows for every head: its profile and derived label
(core.head_profiles) and, when measured, the validation loss lost without it (core.ablation), as
plain numbers and strings the views take without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from headwatch.core.ablation import KnockoutLosses, ablation_values, knockout_losses
from headwatch.core.char_classes import CHAR_CLASSES, class_ids
from headwatch.core.corpus import Tokenizer
from headwatch.core.head_profiles import HeadLabel, HeadProfiles, head_profiles, label_heads
from headwatch.core.model import GPT

# windows per forward pass of the profiles: bounds the (B, L, H, T, T) attention held at once
PROFILE_BATCH = 8


@dataclass(frozen=True)
class HeadReport:
    """Every head over the same validation windows, as the Heads tab shows it.

    rows: one dict per head: layer, head (0-based), label (its text: "2 back", "spaces", ...),
    kind (core.head_profiles.LabelKind value), entropy (nats), evenness, offset (list: mean
    weight d back, index d = 0..min(16, T-1)), further (weight beyond 16 back, None for T <= 17),
    classes (list: share per CHAR_CLASSES entry), same_char, first, and delta_loss /
    delta_loss_kept_only (nats per character; None when not measured).
    base: the uniform causal head's values in the same keys (offset, further, classes,
    same_char, first): what a head that looks nowhere in particular would score."""

    rows: list[dict]
    labels: list[list[str]]  # labels[layer][head], as the badges show them
    kinds: list[list[str]]  # the label's kind, for its colour
    base: dict
    classes: tuple[str, ...]
    description: str  # "64 validation windows of 64 characters, weights at step 1,200"
    base_loss: float | None  # val loss with every head, when losses were measured
    ablation: str | None  # "mean" or "zero", when losses were measured
    step: int


def head_report(
    model: GPT,
    tokenizer: Tokenizer,
    x: torch.Tensor,
    y: torch.Tensor,
    step: int,
    ablation: str | None = None,
    labelled: Callable[[HeadReport], None] | None = None,
) -> HeadReport:
    """Profiles and labels of every head over windows x (N, T) of token ids; with an ablation
    ("mean" or "zero") also the loss on targets y (N, T) without each head and with each head
    alone in its layer — 1 + 2 * n_layer * n_head forward passes, so only on request.

    labelled, when given with an ablation, is called with the report without the losses before
    they are measured: the labels are ready seconds earlier, and a view showing only them (the
    attention grid's badges) need not wait."""
    profiles = head_profiles(model, x, class_ids(tokenizer.chars), batch_size=PROFILE_BATCH)
    labels = label_heads(profiles)
    report = _report(profiles, labels, x, step)
    if ablation is None or not profiles.shape[0]:
        return report
    if labelled is not None:
        labelled(report)
    losses = knockout_losses(model, x, y, ablation_values(model, x, ablation), ablation)
    return _report(profiles, labels, x, step, losses, ablation)


def _report(
    profiles: HeadProfiles,
    labels: list[list[HeadLabel]],
    x: torch.Tensor,
    step: int,
    losses: KnockoutLosses | None = None,
    ablation: str | None = None,
) -> HeadReport:
    """The report of head_report from its parts (losses None: not measured)."""
    further = profiles.further
    rows = []
    for layer, row in enumerate(labels):
        for head, label in enumerate(row):
            at = (layer, head)
            rows.append(
                {
                    "layer": layer,
                    "head": head,
                    "label": label.text,
                    "kind": label.kind.value,
                    "entropy": float(profiles.entropy[at]),
                    "evenness": float(profiles.evenness[at]),
                    "offset": profiles.offset[at].tolist(),
                    "further": None if further is None else float(further[at]),
                    "classes": profiles.classes[at].tolist(),
                    "same_char": float(profiles.same_char[at]),
                    "first": float(profiles.first[at]),
                    "delta_loss": None if losses is None else float(losses.delta[at]),
                    "delta_loss_kept_only": (
                        None if losses is None else float(losses.delta_kept_only[at])
                    ),
                }
            )
    base = {
        "offset": profiles.offset_base.tolist(),
        "further": profiles.further_base,
        "classes": profiles.class_base.tolist(),
        "same_char": profiles.same_char_base,
        "first": profiles.first_base,
    }
    n, t = x.shape
    return HeadReport(
        rows=rows,
        labels=[[label.text for label in row] for row in labels],
        kinds=[[label.kind.value for label in row] for row in labels],
        base=base,
        classes=CHAR_CLASSES,
        description=f"{n} validation windows of {t} characters, weights at step {step:,}",
        base_loss=None if losses is None else losses.base,
        ablation=None if losses is None else ablation,
        step=step,
    )
