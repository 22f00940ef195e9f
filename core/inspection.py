"""What the views show for a prompt: attention, FFN activations, next-character guesses.

An Inspector keeps its own copy of the model and loads a snapshot only when a newer one arrives,
so it can run in its own thread while training goes on in another.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from headwatch.core.config import GREEDY_BELOW, check_sampling
from headwatch.core.control import Snapshot
from headwatch.core.corpus import Corpus, EncodedPrompt, Tokenizer
from headwatch.core.diagnostics import dead_units, sample_windows, unit_top_contexts
from headwatch.core.formatting import knockout_text
from headwatch.core.head_knockout import (
    MIN_ANALYSIS_WINDOWS,
    Head,
    Knockout,
    KnockoutRunner,
    analysis_windows,
)
from headwatch.core.head_report import HeadReport, head_report
from headwatch.core.logit_lens import (
    LensResult,
    read_lens,
    reading_stages,
    stage_losses,
    stage_names,
    stage_note,
)
from headwatch.core.model import GPT, GPTConfig
from headwatch.core.performance import inspect_in_bf16


@dataclass(frozen=True)
class PromptInspection:
    """What the views show for one prompt: its characters, every head's attention pattern, the
    FFN activations and the likeliest next characters, from the weights of one training step."""

    prompt: EncodedPrompt
    tokens: list[str]  # the T characters shown (unknown ones left out, cropped to block size)
    attention: np.ndarray  # float32 (n_layer, n_head, T, T)
    ffn: np.ndarray  # float32 (n_layer, T, 4C)
    next_chars: list[tuple[str, float]]  # top-k after the last character, most likely first
    step: int  # the training step of the weights used
    lens: LensResult | None = None  # the logit lens, when it was asked for (the Lens tab shows)

    @property
    def empty(self) -> bool:
        return not self.tokens

    def to_json(self) -> dict:
        """The schema of `headwatch inspect --json`."""
        return {
            "tokens": self.tokens,
            "attention": self.attention.tolist(),
            "ffn": self.ffn.tolist(),
            "next": [[ch, p] for ch, p in self.next_chars],
            "truncated": self.prompt.truncated,  # characters cut from the front to fit block_size
        }


def inspect_prompt(
    model: GPT,
    tokenizer: Tokenizer,
    text: str,
    step: int = 0,
    top_k: int = 10,
    lens: bool = False,
) -> PromptInspection:
    """The prompt (cut to its last block_size known characters) on the model: attention
    (n_layer, n_head, T, T), FFN activations (n_layer, T, 4C), the top_k next characters and,
    with `lens`, the logit lens (core.logit_lens) read from the same forward pass."""
    config = model.config
    prompt = tokenizer.encode_prompt(text, max_len=config.block_size)
    tokens = list(prompt.text)
    if not tokens:
        L, H, F = config.n_layer, config.n_head, config.ffn_size
        return PromptInspection(
            prompt,
            [],
            np.zeros((L, H, 0, 0), np.float32),
            np.zeros((L, 0, F), np.float32),
            [],
            step,
        )
    device = next(model.parameters()).device
    # the lens reads the stream of the same forward pass: no second pass per keystroke
    with reading_stages(model) if lens else contextlib.nullcontext([]) as stream:
        result = model.inspect(torch.tensor(prompt.ids, dtype=torch.long, device=device))
    last = result.probs[-1].float()
    top = torch.topk(last, min(top_k, last.numel()))
    next_chars = [
        (tokenizer.chars[i], float(p))
        for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
    ]
    return PromptInspection(
        prompt,
        tokens,
        np.ascontiguousarray(result.attention.float().numpy(), dtype=np.float32),
        np.ascontiguousarray(result.ffn.float().numpy(), dtype=np.float32),
        next_chars,
        step,
        read_lens(model, tokenizer, prompt, torch.stack(stream)) if lens else None,
    )


def sample_text(
    model: GPT,
    tokenizer: Tokenizer,
    prompt: str,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
) -> tuple[str, str]:
    """(prompt as used, continuation); an empty prompt starts from a newline, as in the lecture.

    temperature: 0, or anything below GREEDY_BELOW, samples greedily (the most likely character
    every time). Raises ConfigError for a token count or temperature out of range
    (core.config.check_sampling)."""
    check_sampling(max_new_tokens, temperature)
    if temperature < GREEDY_BELOW:  # top_k 1 leaves only the most likely character
        temperature, top_k = 1.0, 1
    encoded = tokenizer.encode_prompt(prompt)
    ids = encoded.ids or [tokenizer.stoi.get("\n", 0)]
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    device = next(model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    out = model.generate(idx, max_new_tokens, temperature, top_k, generator=generator)
    return encoded.text, tokenizer.decode(out[0, len(ids) :].tolist())


class Inspector:
    """Turns the latest snapshot into inspections; reloads weights only when they changed."""

    def __init__(self) -> None:
        self._model: GPT | None = None
        self._config: GPTConfig | None = None
        self._version: int | None = None  # of the weights loaded; None: none yet
        self._viewing = contextlib.nullcontext  # see _precision
        self._knockout = KnockoutRunner()

    def load(self, snapshot: Snapshot) -> GPT:
        if self._model is None or self._config != snapshot.config:
            self._model = GPT.unfilled(snapshot.config)
            self._model.eval()
            self._viewing = self._precision(self._model)
            self._config = snapshot.config
            self._version = None
        if snapshot.version != self._version:
            self._model.load_state_dict(snapshot.state)
            self._version = snapshot.version
        return self._model

    def inspect(
        self, snapshot: Snapshot, text: str, top_k: int = 10, lens: bool = False
    ) -> PromptInspection:
        model = self.load(snapshot)
        with self.viewing(), self._knockout.applied(model, snapshot):
            return inspect_prompt(model, snapshot.tokenizer, text, snapshot.step, top_k, lens)

    def set_knockout(self, knockout: Knockout) -> None:
        """Heads knocked out in every later inspect and sample (core.head_knockout); the
        training weights are never touched: the Inspector runs its own copy."""
        self._knockout.set(knockout)

    @staticmethod
    def _precision(model: GPT) -> Callable[[], contextlib.AbstractContextManager]:
        """What this model is viewed in (inspections, samples, analyses), decided once per model
        (core.performance.inspect_in_bf16): bf16 autocast for big models on a CPU with bf16 in
        hardware, which keeps typing on a big model live; attention weights move by ~1e-2, below
        what the colour scale shows. Its Linear layers are then kept in bf16 (weights load into
        them converted), so autocast has no weights to cast at every keystroke."""
        if not inspect_in_bf16(model.num_parameters(), next(model.parameters()).device):
            return contextlib.nullcontext
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.to(torch.bfloat16)
        return lambda: torch.autocast("cpu", dtype=torch.bfloat16)

    def sample(
        self, snapshot: Snapshot, prompt: str, max_new_tokens: int, temperature: float
    ) -> tuple[str, str]:
        model = self.load(snapshot)
        with self.viewing(), self._knockout.applied(model, snapshot):
            return sample_text(model, snapshot.tokenizer, prompt, max_new_tokens, temperature)

    def viewing(self) -> contextlib.AbstractContextManager:
        """The context every use of the loaded model runs in (see _precision)."""
        return self._viewing()


# --- analyses over validation windows (heads, feed-forward units) ----------------------------

# Units are analysed only on request, so their sample is larger than the heads'
# (core.head_knockout.HEAD_ANALYSIS_TOKENS).
UNIT_ANALYSIS_TOKENS = 200 * 64
# windows per forward pass: bounds an analysis's memory, and more are no faster
ANALYSIS_BATCH = 8


@dataclass(frozen=True)
class UnitReport:
    """One FFN hidden unit's strongest validation contexts, and the dead units of every layer."""

    layer: int
    unit: int
    contexts: list[tuple[str, int, float]]  # (text, index of the triggering char, activation)
    dead: list[int]  # per layer, units never active over the sample
    hidden: int
    description: str
    step: int = 0  # the training step of the weights used
    knocked_out: tuple[Head, ...] = ()  # the heads knocked out while measuring (0-based)


class Analyst:
    """Head and unit diagnostics for a snapshot, on windows of the current corpus."""

    def __init__(self, inspector: Inspector) -> None:
        self.inspector = inspector
        self._windows: dict[tuple, torch.Tensor] = {}
        # the unit and the loss by depth measure the model as the views show it; its own
        # runner, so the ablation values it caches are not the samples' (the inspector's)
        self._knockout = KnockoutRunner()

    def windows(self, corpus: Corpus, block_size: int, tokens: int) -> torch.Tensor:
        """About `tokens` characters of validation windows, the same ones every time."""
        key = (id(corpus), block_size, tokens)
        if key not in self._windows:
            if len(self._windows) >= 4:  # old corpora and block sizes: let them go
                self._windows.clear()
            n = max(MIN_ANALYSIS_WINDOWS, tokens // block_size)
            self._windows[key] = sample_windows(corpus, n, block_size, seed=0)
        return self._windows[key]

    def _describe(
        self,
        snapshot: Snapshot,
        windows: torch.Tensor,
        heads: Sequence[Head] = (),
        ablation: str = "",
    ) -> str:
        n, t = windows.shape
        text = f"{n} validation windows of {t} characters, weights at step {snapshot.step:,}"
        return f"{text}, {knockout_text(heads, ablation)}" if heads else text

    @contextlib.contextmanager
    def _as_shown(
        self, snapshot: Snapshot, knockout: Knockout | None
    ) -> Iterator[tuple[GPT, list[Head]]]:
        """Inside, the snapshot's model in the viewing precision with the knockout's heads
        knocked out (none for None); yields it and those heads. Raises ValueError as
        KnockoutRunner.applied."""
        model = self.inspector.load(snapshot)
        knockout = knockout or Knockout()
        self._knockout.set(knockout)
        with self.inspector.viewing(), self._knockout.applied(model, snapshot):
            yield model, knockout.heads_in(model.config)

    def heads(
        self,
        snapshot: Snapshot,
        corpus: Corpus,
        ablation: str | None = None,
        labelled: Callable[[HeadReport], None] | None = None,
    ) -> HeadReport:
        """Every head's profile and label over validation windows of the corpus; with an
        ablation ("mean" or "zero"), also the loss lost without each head, and `labelled` is
        called with the labels' report before those losses are measured (core.head_report)."""
        model = self.inspector.load(snapshot)
        x, y = analysis_windows(corpus, snapshot.config.block_size)
        with self.inspector.viewing():
            return head_report(model, snapshot.tokenizer, x, y, snapshot.step, ablation, labelled)

    def unit(
        self,
        snapshot: Snapshot,
        corpus: Corpus,
        layer: int,
        unit: int,
        knockout: Knockout | None = None,
        *,
        k: int = 20,
    ) -> UnitReport:
        """Unit `unit` of layer `layer` (0-based): its k strongest contexts over
        UNIT_ANALYSIS_TOKENS characters of validation windows, and every layer's dead units, on
        the snapshot's weights with the knockout's heads knocked out (as the feed-forward view
        shows them). Raises ValueError for a unit the model does not have, or as _as_shown."""
        windows = self.windows(corpus, snapshot.config.block_size, UNIT_ANALYSIS_TOKENS)
        with self._as_shown(snapshot, knockout) as (model, heads):
            contexts = unit_top_contexts(
                model, snapshot.tokenizer, windows, layer, unit, k, batch_size=ANALYSIS_BATCH
            )
            dead = dead_units(model, windows, batch_size=ANALYSIS_BATCH)
        ablation = knockout.ablation if heads else ""
        return UnitReport(
            layer,
            unit,
            [(c.text, c.index, c.activation) for c in contexts],
            dead,
            snapshot.config.ffn_size,
            self._describe(snapshot, windows, heads, ablation),
            snapshot.step,
            tuple(heads),
        )

    def depth_losses(
        self, snapshot: Snapshot, corpus: Corpus, knockout: Knockout | None = None
    ) -> DepthLosses:
        """The logit lens's loss by depth over as many validation windows as the head analysis
        uses (core.logit_lens.stage_losses), on the snapshot's weights with the knockout's heads
        knocked out. Raises CorpusError for a validation text shorter than one window,
        ValueError as _as_shown."""
        x, y = analysis_windows(corpus, snapshot.config.block_size)
        with self._as_shown(snapshot, knockout) as (model, heads):
            losses = stage_losses(model, x, y, rows_per_forward=ANALYSIS_BATCH)
        ablation = knockout.ablation if heads else ""
        return DepthLosses(
            stage_names(snapshot.config),
            losses,
            stage_note(snapshot.config),
            snapshot.step,
            self._describe(snapshot, x, heads, ablation),
            tuple(heads),
            ablation,
        )


@dataclass(frozen=True)
class DepthLosses:
    """The logit lens's loss by depth over validation windows, as the Lens tab shows it."""

    stages: list[str]  # S names (core.logit_lens.stage_names)
    losses: list[float]  # S cross-entropies, nats per character; the last is the model's own
    note: str | None  # what a stage means when it is not a running sum (stage_note)
    step: int  # the training step of the weights used
    description: str  # "64 validation windows of 64 characters, weights at step 1,200"
    knocked_out: tuple[Head, ...] = ()  # the heads knocked out while measuring (0-based)
    ablation: str = ""  # how they were replaced ("mean" or "zero"); "" with none out
