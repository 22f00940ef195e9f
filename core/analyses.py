"""What each head does, measured: profiles and labels (core.head_profiles) with the validation
loss lost when the head is knocked out (core.ablation), over one set of validation windows; and
those windows for a saved run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from headwatch.core.ablation import (
    KnockoutLosses,
    ablation_values,
    knockout_losses,
    val_windows,
)
from headwatch.core.char_classes import CHAR_CLASSES, class_ids
from headwatch.core.config import ConfigError
from headwatch.core.corpus import Corpus, Tokenizer, load_corpus
from headwatch.core.head_profiles import (
    HeadLabel,
    HeadProfiles,
    base_json,
    head_profiles,
    label_heads,
    profile_json,
)
from headwatch.core.model import GPT
from headwatch.core.runs import RunRecord
from headwatch.core.storage import RunError

# validation windows the CLI's analyses average over by default (64 x 64 characters at the
# baby preset, as the window's head analysis)
DEFAULT_WINDOWS = 64
# more windows than this would hold gigabytes of token ids and take hours to measure
MAX_WINDOWS = 8192


def run_corpus(record: RunRecord) -> Corpus:
    """The text a run was trained on. Raises CorpusError when it cannot be read, RunError when
    it now has another vocabulary than the run (the file changed since)."""
    corpus = load_corpus(record.corpus.get("path"))
    if corpus.tokenizer.chars != record.tokenizer.chars:
        raise RunError(
            f"{record.path}: its corpus {corpus.name} has changed since training (another "
            "vocabulary), so there are no validation windows to measure on"
        )
    return corpus


def run_windows(
    record: RunRecord, n: int = DEFAULT_WINDOWS, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """n validation windows of the run's block size from its corpus: (inputs (n, T), targets
    (n, T)). Raises CorpusError or RunError as run_corpus, CorpusError for a validation text
    shorter than one window, ConfigError for n outside 1..MAX_WINDOWS."""
    if not 1 <= n <= MAX_WINDOWS:
        raise ConfigError(f"the number of windows must be from 1 to {MAX_WINDOWS}, got {n}")
    block_size = record.model_config.block_size
    corpus = run_corpus(record)
    corpus.check_block_size(block_size)
    return val_windows(corpus, n, block_size, seed=seed)


@dataclass(frozen=True)
class HeadAnalysis:
    """Every head's profile, label and knockout losses over the same validation windows."""

    profiles: HeadProfiles
    labels: list[list[HeadLabel]]  # [layer][head]
    losses: KnockoutLosses
    block_size: int

    def rows(self) -> list[dict]:
        """One dict per head, layer and head numbered from 1 as the window shows them."""
        delta, kept = self.losses.delta, self.losses.delta_kept_only
        return [
            {
                "layer": layer + 1,
                "head": head + 1,
                "label": label.text,
                "label_kind": label.kind.value,
                "label_detail": label.detail,
                **profile_json(self.profiles, layer, head),
                "delta_loss": float(delta[layer, head]),
                "delta_loss_kept_only": float(kept[layer, head]),
            }
            for layer, row in enumerate(self.labels)
            for head, label in enumerate(row)
        ]

    def to_json(self) -> dict:
        """The schema of `headwatch heads --json`."""
        return {
            "windows": self.profiles.windows,
            "block_size": self.block_size,
            "ablation": self.losses.ablation,
            "base_loss": self.losses.base,
            "classes": list(CHAR_CLASSES),
            "base": base_json(self.profiles),
            "heads": self.rows(),
        }


def analyse_heads(
    model: GPT, tokenizer: Tokenizer, x: torch.Tensor, y: torch.Tensor, ablation: str = "mean"
) -> HeadAnalysis:
    """Profiles, labels and knockout losses of every head over windows x with targets y (N, T),
    knocked-out heads replaced per `ablation` ("mean" or "zero", see core.ablation)."""
    profiles = head_profiles(model, x, class_ids(tokenizer.chars))
    values = ablation_values(model, x, ablation)
    losses = knockout_losses(model, x, y, values, ablation)
    return HeadAnalysis(profiles, label_heads(profiles), losses, x.shape[1])
