"""What crosses a thread or a module boundary in the window: one typed object per signal.

Workers send these to the controller (queued signals), the controller publishes them to the
views. Plain frozen dataclasses with no Qt and no torch, so every layer can import them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any


class RunState(str, Enum):
    """Where the training lifecycle is: which run buttons work and what the progress says."""

    IDLE = "idle"  # no training thread
    TRAINING = "training"
    PAUSED = "paused"  # the thread waits between steps
    STOPPING = "stopping"  # asked to stop; the step in flight finishes and the run is saved

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__
    __hash__ = str.__hash__  # Enum hashes the name: a dict keyed by members must find "self"


@dataclass(frozen=True)
class RunStarted:
    """The training thread built its trainer and opened the run folder."""

    run_id: str
    folder: str
    parameters: int
    step: int  # where it starts (a continued run: its saved step)
    total: int  # the step it trains towards
    trainer: Any  # headwatch.core.trainer.Trainer, kept to continue the run later


@dataclass(frozen=True)
class StepBatch:
    """Per-step train losses since the last batch (about 5 a second) and where the run is."""

    run_id: str
    steps: tuple[int, ...]
    losses: tuple[float, ...]  # nats per character, one per step
    step: int  # the last step done
    total: int
    tokens_per_s: float
    elapsed: float  # seconds of training, resumed sessions included


@dataclass(frozen=True)
class Evaluation:
    """Loss estimates (nats per character) over eval_iters batches at one step."""

    run_id: str
    step: int
    train: float
    val: float


@dataclass(frozen=True)
class RunEnded:
    """The training thread's run ended (one per run started): reason "done" (it reached its
    total), "stopped" (it was asked to) or "failed" (it could not start or go on: it diverged or
    met an error, which `message` tells the user)."""

    run_id: str
    reason: str
    step: int | None  # the last step done; None when failed: its last steps may be unsaved
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.reason == "failed"


@dataclass(frozen=True)
class Progress:
    """What the progress bar shows for the current run; eta_s None while it is estimating."""

    step: int
    total: int
    tokens_per_s: float
    eta_s: float | None
    state: RunState


@dataclass(frozen=True)
class Problem:
    """A message for the user: a title and what was wrong and what to do."""

    title: str
    message: str


def nothing_changed(message: str) -> str:
    """message, then "Nothing was changed." unless it says so already: for a refused action."""
    if "nothing was changed" in message.lower():
        return message
    return f"{message}\n\nNothing was changed."


@dataclass(frozen=True)
class LadderStatus:
    """The lecture's ladder of runs: whether it runs, and its stage or its outcome in words."""

    running: bool
    text: str


@dataclass(frozen=True)
class Sample:
    """Text written by the model the views showed when it was asked for."""

    prompt: str  # as used (unknown characters left out)
    continuation: str
    step: int = 0  # the training step of the weights that wrote it
    knocked_out: tuple[tuple[int, int], ...] = ()  # the heads out while writing (0-based)
    ablation: str = ""  # how they were replaced ("mean" or "zero"); "" with none out


# a followed run's states once its writer is gone: the checkpoint on disk is its last word
ENDED_STATES = ("ended", "dead")


@dataclass(frozen=True)
class FollowStatus:
    """Where following a run another process writes stands (gui/following.py).

    state: "opening", core.follow's "following" / "stale" / "ended" / "dead" / "waiting", or
    "off" once the window stopped following. text: the status bar's line ("following · step
    1,240 · last update 3 s ago"); short: the progress area's few words ("following").
    why_not_train: why Train cannot continue the run here, in a line ("" when it can)."""

    folder: str
    state: str
    text: str
    short: str = ""
    step: int = 0
    total: int = 0
    why_not_train: str = ""

    @property
    def active(self) -> bool:
        return self.state != "off"

    @property
    def ended(self) -> bool:
        """The followed run's writer has ended or died: nothing trains it now."""
        return self.state in ENDED_STATES


@dataclass(frozen=True)
class KnockoutState:
    """The heads knocked out in every view of the prompt (0-based (layer, head)), and how their
    outputs are replaced: "mean" (their mean over validation windows) or "zero"."""

    heads: frozenset[tuple[int, int]] = frozenset()
    ablation: str = "mean"


@dataclass(frozen=True)
class Timeline:
    """The current run's weight snapshots, and the step the prompt views show (None: live)."""

    folder: str  # the run folder ("" when there is no current run on disk)
    steps: tuple[int, ...]  # snapshot steps kept in the folder, ascending
    viewed: int | None  # None: the views follow the newest weights


@dataclass(frozen=True)
class RunRead:
    """A saved run's folder, read and checked in a worker thread for Open run; with no record,
    Open refused: the folder is not a usable run, and `why` says so to the user."""

    version: int  # the Open it answers: an answer to a superseded one is dropped
    record: Any  # headwatch.core.runs.RunRecord, with its checkpoint; None: refused
    corpus: Any  # headwatch.core.corpus.Corpus to continue it on, or None: to view only
    why: str  # why it cannot be opened or continued, or a note; "" when none


@dataclass(frozen=True)
class ShownRequest:
    """An analysis of the model the views show: the weights of `viewed` ((run folder, step) on
    the timeline; None: the newest), with `knockout`'s heads knocked out. `unit`: the (layer,
    unit) of a feed-forward unit's analysis; None for the loss by depth. `sample`: (prompt,
    temperature, characters) of a sample of text."""

    viewed: tuple[str, int] | None
    knockout: Any  # headwatch.core.head_knockout.Knockout
    is_current: Callable[[], bool]  # False once the window asked for a newer one: skipped
    unit: tuple[int, int] | None = None
    sample: tuple[str, float, int] | None = None
