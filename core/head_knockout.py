"""The window's head knockout: which heads are knocked out and how, and running a viewer's model
with them knocked out (core.ablation) on every snapshot it is shown.

Mean-ablation values are measured over the same validation windows as the head analysis
(analysis_windows) and cached per snapshot version, so a keystroke on unchanged weights costs
only the hooks; they are measured again only when new weights arrive.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from headwatch.core.ablation import Head, ablation_values, knocked_out, val_windows
from headwatch.core.control import Snapshot
from headwatch.core.corpus import Corpus
from headwatch.core.model import GPT, GPTConfig

# The head analysis and the mean-ablation values average over this many validation characters:
# small enough to be re-measured at evaluations while training runs (docs/performance.md).
HEAD_ANALYSIS_TOKENS = 64 * 64
MIN_ANALYSIS_WINDOWS = 8


@dataclass(frozen=True)
class Knockout:
    """Heads to knock out (0-based (layer, head)), replaced per `ablation` ("mean" or "zero");
    `corpus` holds the validation windows the mean is taken over."""

    heads: frozenset[Head] = frozenset()
    ablation: str = "mean"
    corpus: Corpus | None = None

    def heads_in(self, config: GPTConfig) -> list[Head]:
        """The knocked-out heads a model of this shape has, sorted (another model's are left
        out: a knockout outlives the run it was chosen on)."""
        return sorted((i, h) for i, h in self.heads if i < config.n_layer and h < config.n_head)


# (id(corpus), block_size) -> (corpus, windows): the corpus is held so its id is not reused
_windows_cache: dict[tuple, tuple[Corpus, tuple[torch.Tensor, torch.Tensor]]] = {}
_windows_lock = threading.Lock()  # the inspection and the analysis threads share the cache


def analysis_windows(corpus: Corpus, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """About HEAD_ANALYSIS_TOKENS characters of validation windows (inputs (N, T), targets
    (N, T), T = block_size), the same ones every time for a corpus. Raises CorpusError when the
    validation text is shorter than one window."""
    key = (id(corpus), block_size)
    with _windows_lock:
        if key not in _windows_cache:
            if len(_windows_cache) >= 8:  # old corpora and block sizes: let them go
                _windows_cache.clear()
            n = max(MIN_ANALYSIS_WINDOWS, HEAD_ANALYSIS_TOKENS // block_size)
            _windows_cache[key] = (corpus, val_windows(corpus, n, block_size, seed=0))
        return _windows_cache[key][1]


class KnockoutRunner:
    """Applies a Knockout to one viewer's model (never the training weights: a viewer holds its
    own copy), with the ablation values cached per (snapshot version, ablation)."""

    def __init__(self) -> None:
        self.knockout = Knockout()
        self._values: tuple[tuple, torch.Tensor] | None = None

    def set(self, knockout: Knockout) -> None:
        self.knockout = knockout

    @contextlib.contextmanager
    def applied(self, model: GPT, snapshot: Snapshot) -> Iterator[GPT]:
        """Inside, the model (loaded from snapshot) runs with the knocked-out heads that exist
        in it; with none, nothing is installed. Raises ValueError when mean-ablation has no
        validation windows of this model's vocabulary (no corpus, or another one)."""
        heads = self.knockout.heads_in(model.config)
        if not heads:
            yield model
            return
        with knocked_out(model, heads, self._values_for(model, snapshot)):
            yield model

    def _values_for(self, model: GPT, snapshot: Snapshot) -> torch.Tensor:
        ablation, corpus = self.knockout.ablation, self.knockout.corpus
        key = (snapshot.version, ablation, id(corpus) if ablation == "mean" else None)
        if self._values is not None and self._values[0] == key:
            return self._values[1]
        x = None
        if ablation == "mean":
            if corpus is None or corpus.tokenizer.chars != snapshot.tokenizer.chars:
                raise ValueError(
                    "mean-ablation takes each head's mean over the validation text of the "
                    "model's corpus, which is not loaded: load it, or choose zero-ablation"
                )
            x, _ = analysis_windows(corpus, model.config.block_size)
        values = ablation_values(model, x, ablation)
        self._values = (key, values)
        return values
