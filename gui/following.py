"""Following a run folder that another process is writing, off the GUI thread.

A FollowWorker lives in its own QThread. Once a second (a QTimer in that thread) it asks
core.follow.RunFollower what changed (one stat per file: size and mtime), reads new weights when
there are some (the newest snapshot, or the checkpoint of a run kept without snapshots), and sends
the controller one FollowPolled message per look. It never writes into the run and never takes
its lock; the controller alone publishes the weights to the views (so a look still in flight when
following stops can never cover a training run's weights).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from headwatch.core.config import tokens_per_s
from headwatch.core.corpus import Corpus
from headwatch.core.follow import FollowUpdate, RunFollower
from headwatch.core.runs import MetricRow, RunRecord, load_run, resumable_corpus
from headwatch.core.storage import RunError
from headwatch.gui.messages import ENDED_STATES, Evaluation, StepBatch
from headwatch.gui.run_list import RunInfo
from headwatch.gui.threads import WorkerThread

log = logging.getLogger("headwatch")

POLL_SECONDS = 1.0  # network filesystems send no change notifications: look this often


@dataclass(frozen=True)
class FollowOpened:
    """The run folder was read: its settings and vocabulary (no weights yet), and its corpus
    when that is still there (None: view only, for the reason in why)."""

    token: str  # which following this is: messages of an ended one are dropped
    record: RunRecord
    corpus: Corpus | None
    why: str


@dataclass(frozen=True)
class FollowPolled:
    """One look at the run. weights: (step, state dict of fp32 CPU tensors) when newer weights
    were read; ended_record: the run loaded whole (checkpoint with optimizer state) once the
    writer is gone, so that Train can continue it here."""

    token: str
    update: FollowUpdate
    weights: tuple[int, dict] | None = None
    ended_record: RunRecord | None = None


@dataclass
class Following:
    """The controller's record of the run it follows: the thread that looks, and what it saw."""

    token: str
    thread: WorkerThread
    worker: FollowWorker
    folder: str
    run_id: str | None = None  # its entry in the session's runs, once the folder was read
    record: RunRecord | None = None
    corpus: Corpus | None = None  # None: view only, for the reason in why
    why: str = ""
    state: str = "opening"
    owner: dict | None = None  # the lock's {"pid", "host", "time"}


class FollowWorker(QObject):
    """Polls one run folder every interval_s seconds in its thread; signals only."""

    opened = Signal(object)  # FollowOpened
    polled = Signal(object)  # FollowPolled
    failed = Signal(str, str)  # token, a message for the user: the run cannot be read

    def __init__(self, token: str, path: str | Path, interval_s: float = POLL_SECONDS) -> None:
        super().__init__()
        self.token, self.path, self.interval_s = token, Path(path), interval_s
        self.follower: RunFollower | None = None
        self.record: RunRecord | None = None
        self._timer: QTimer | None = None
        self._shown_step = -1  # the step of the newest weights sent
        self._has_snapshots = False  # then the checkpoint adds nothing the snapshots lack
        self._ended_sent = False
        self._poll_failed = False

    @Slot()
    def start(self) -> None:
        """In the worker's thread: read the run's settings, then look now and every interval."""
        try:
            self.follower = RunFollower(self.path)
            self.record = load_run(self.path, with_checkpoint=False)
            corpus, why = resumable_corpus(self.record)
        except RunError as exc:
            self.failed.emit(self.token, str(exc))
            return
        self.opened.emit(FollowOpened(self.token, self.record, corpus, why))
        self._timer = QTimer(self)
        self._timer.setInterval(round(self.interval_s * 1000))
        self._timer.timeout.connect(self.poll)
        self._timer.start()
        self.poll()

    @Slot()
    def stop(self) -> None:
        """In the worker's thread: no more looks; the thread ends after this."""
        if self._timer is not None:
            self._timer.stop()
        QThread.currentThread().quit()

    @Slot()
    def poll(self) -> None:
        try:
            update = self.follower.poll()
            message = FollowPolled(self.token, update, self._new_weights(update))
            if update.state in ENDED_STATES and not self._ended_sent:
                message = self._with_ended_record(message)
            elif update.state not in ENDED_STATES:
                self._ended_sent = False  # written again (resumed elsewhere): not ended now
        except Exception as exc:  # a look must never end the thread; said once, then retried
            log.exception("could not read the followed run %s", self.path)
            if not self._poll_failed:
                self._poll_failed = True
                self.failed.emit(self.token, f"Could not read {self.path}: {exc}")
            return
        self._poll_failed = False
        self.polled.emit(message)

    def _new_weights(self, update: FollowUpdate) -> tuple[int, dict] | None:
        if update.snapshot is not None:
            self._has_snapshots = True
            if update.snapshot.step > self._shown_step:
                try:
                    model = self.record.build_snapshot_model(update.snapshot)
                except RunError as exc:  # thinned away or replaced while we read: next look
                    log.info("followed snapshot not read: %s", exc)
                else:
                    return self._sent(update.snapshot.step, model.state_dict())
        if update.checkpoint_changed and not self._has_snapshots:
            try:
                record = load_run(self.path)
            except RunError as exc:
                log.info("followed checkpoint not read: %s", exc)
                return None
            if record.checkpoint is not None and record.step > self._shown_step:
                return self._sent(record.step, record.checkpoint["model"])
        return None

    def _sent(self, step: int, state: dict) -> tuple[int, dict]:
        self._shown_step = step
        return step, state

    def _with_ended_record(self, message: FollowPolled) -> FollowPolled:
        """The run loaded whole, and its final weights if no snapshot had them."""
        try:
            record = load_run(self.path)
        except RunError as exc:
            log.info("ended run not loaded: %s", exc)
            return message
        self._ended_sent = True
        weights = message.weights
        if record.checkpoint is not None and record.step > self._shown_step:
            weights = self._sent(record.step, record.checkpoint["model"])
        return FollowPolled(self.token, message.update, weights, record)


def ago(seconds: float) -> str:
    """3 s, 2 min, 1 h 5 min: how long ago, to the unit a person reads."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    hours, minutes = divmod(int(seconds // 60), 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def describe(update: FollowUpdate) -> tuple[str, str]:
    """(the status bar's line, the progress area's few words) for one look at the run."""
    step = f"step {update.step:,}" if update.step is not None else "no step yet"
    if update.state == "ended":
        return f"the run ended at {step} — Train continues it here", "the run ended"
    if update.state == "dead":
        pid = (update.owner or {}).get("pid", "?")
        return (
            f"the writer (PID {pid}) is no longer running: stopped at {step} — Train "
            "continues the run from its last checkpoint",
            "the writer stopped",
        )
    if update.state == "waiting":
        return "following · waiting for the first checkpoint", "waiting"
    if update.state == "stale":
        silent = f"no update for {ago(update.idle_s)}"
        return f"following · {step} · {silent}", silent
    return f"following · {step} · last update {ago(update.idle_s)} ago", "following"


def followed_steps(
    run_id: str, record: RunRecord, rows: list[MetricRow], run: RunInfo
) -> StepBatch | None:
    """The per-step losses among rows as the training thread would send them, with tokens/s
    from their elapsed times (the run's last figure when they span no time); None if none."""
    losses = [row for row in rows if row.loss is not None]
    if not losses:
        return None
    first, last = losses[0], losses[-1]
    tokens_per_step = record.global_batch * record.model_config.block_size
    speed = tokens_per_s(last.step - first.step, tokens_per_step, last.elapsed - first.elapsed)
    return StepBatch(
        run_id,
        tuple(row.step for row in losses),
        tuple(row.loss for row in losses),
        last.step,
        max(run.total, last.step),
        speed or run.tokens_per_s or 0.0,
        last.elapsed,
    )


def followed_evaluations(run_id: str, rows: list[MetricRow]) -> list[Evaluation]:
    return [
        Evaluation(run_id, row.step, row.train, row.val)
        for row in rows
        if row.val is not None and row.train is not None
    ]


def why_not_train(follow: Following) -> tuple[str, str]:
    """(title, message) when Train cannot continue the followed run here."""
    if follow.state in ENDED_STATES:
        return (
            "Cannot continue this run here",
            f"{follow.folder} has ended, but it can only be viewed here: {follow.why}. "
            "Retrain starts a new run with these settings.",
        )
    owner = follow.owner or {}
    writer = f"PID {owner['pid']} on {owner.get('host', '?')}" if "pid" in owner else ""
    return (
        "The run is still being trained",
        f"{follow.folder} is being trained by {writer or 'another process'}; the window follows "
        "it. Train continues it here once it has ended. Retrain starts a new run with these "
        "settings (and stops following).",
    )
