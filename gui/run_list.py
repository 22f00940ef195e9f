"""The session's runs as typed records: what the loss plot, the compare table and the exports show.

The controller owns one RunList; it names runs by what sets them apart ("heads=1", "heads=4"),
an opened run by its folder's name (its settings may be those of a new run beside it), gives
each a colour, and keeps each run's figures. No Qt, no torch: views import the records.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from headwatch.core.compare import differing_labels, settings_summary
from headwatch.core.config import tokens_per_s
from headwatch.gui.messages import RunState

# Matplotlib's tab10 with its grey swapped for navy: grey would read as "disabled".
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#393b79", "#bcbd22", "#17becf",
)  # fmt: skip


def pick_colour(used: Collection[str], count: int) -> str:
    """The first palette colour no run uses; when all are taken, cycle by the number of runs."""
    free = [c for c in PALETTE if c not in used]
    return free[0] if free else PALETTE[count % len(PALETTE)]


@dataclass(frozen=True)
class RunInfo:
    """One run of the session, as the views show it. Losses in nats per character."""

    run_id: str
    label: str  # what sets it apart from the session's other runs, or its ladder stage
    colour: str  # "#rrggbb", the same on the plot and in the table
    settings: dict  # flat GPTConfig + TrainConfig fields and "corpus" (the corpus's name)
    folder: str = ""  # the run folder, once the training thread has made it
    title: str = ""  # its own name, used as the label: a ladder stage's, a run folder's
    parameters: int = 0
    best_val: float | None = None
    last_train: float | None = None  # the last evaluation's train estimate
    tokens_per_s: float | None = None
    elapsed: float = 0.0  # seconds of training
    step: int = 0
    total: int = 0
    state: RunState = RunState.IDLE

    def mean_tokens_per_s(self) -> float | None:
        """The run's mean training speed over all its steps and sessions (what an opened run
        shows), where tokens_per_s while it trains covers its last 20 steps; None before any."""
        tokens_per_step = self.settings.get("batch_size", 0) * self.settings.get("block_size", 0)
        return tokens_per_s(self.step, tokens_per_step, self.elapsed)

    def compare_row(self) -> dict:
        """The compare table's row (headwatch.gui.compare_view.ROW_KEYS)."""
        return {
            "label": self.label,
            "colour": self.colour,
            "params": self.parameters,
            "step": self.step,
            "best_val": self.best_val,
            "last_train": self.last_train,
            "tokens_per_s": self.tokens_per_s,
            "seconds": self.elapsed,
            "path": self.folder,
            "settings": settings_summary(self.settings),
        }


class RunList:
    """The runs in the order they were started; records are replaced whole, never edited."""

    def __init__(self) -> None:
        self._runs: dict[str, RunInfo] = {}

    def add(self, run_id: str, settings: dict, title: str = "", **figures) -> list[RunInfo]:
        """A new run with the next free colour; returns every record whose label changed (the
        new one first), since a new run can change what sets the others apart. A run that has
        its folder from the start (an opened one) is named by it unless title names it."""
        if not title and figures.get("folder"):
            title = Path(figures["folder"]).name
        used = {run.colour for run in self._runs.values()}
        colour = pick_colour(used, len(self._runs))
        self._runs[run_id] = RunInfo(run_id, run_id, colour, settings, title=title, **figures)
        changed = self._relabel()
        return [self._runs[run_id], *(r for r in changed if r.run_id != run_id)]

    def update(self, run_id: str, **changes) -> RunInfo | None:
        """The run with `changes` applied (best_val keeps the lowest val given); None if unknown."""
        run = self._runs.get(run_id)
        if run is None:
            return None
        if "val" in changes:
            val = changes.pop("val")
            changes["best_val"] = val if run.best_val is None else min(run.best_val, val)
        run = self._runs[run_id] = replace(run, **changes)
        return run

    def _relabel(self) -> list[RunInfo]:
        """Ladder runs are named by their stage, opened runs by their folder, other runs by
        what sets them apart."""
        plain = [r for r in self._runs.values() if not r.title]
        names = dict(
            zip(
                (r.run_id for r in plain),
                differing_labels([r.settings for r in plain]),
                strict=True,
            )
        )
        changed = []
        for run in list(self._runs.values()):
            label = run.title or names[run.run_id]
            if label != run.label:
                changed.append(self.update(run.run_id, label=label))
        return changed

    def get(self, run_id: str) -> RunInfo | None:
        return self._runs.get(run_id)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._runs

    def __iter__(self) -> Iterator[RunInfo]:
        return iter(list(self._runs.values()))

    def __len__(self) -> int:
        return len(self._runs)
