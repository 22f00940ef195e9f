"""One training run at a time, in its own QThread, with pause / resume / stop / retrain."""

from __future__ import annotations

from dataclasses import dataclass, field

from headwatch.core.compare import flat_settings
from headwatch.core.control import SnapshotBox, TrainControl
from headwatch.core.corpus import Corpus
from headwatch.core.model import GPTConfig
from headwatch.core.performance import release_free_memory
from headwatch.core.runs import RunRecord, RunWriter, new_run_dir, trainer_for
from headwatch.core.trainer import TrainConfig, Trainer
from headwatch.gui.threads import WorkerThread
from headwatch.gui.workers import TrainWorker
from PySide6.QtCore import QObject, Signal, Slot

IDLE, TRAINING, PAUSED = "idle", "training", "paused"
# new weights for the views at most this often: the task asks for twice a second; more only
# takes CPU from training (each one is an inspection and a repaint)
SNAPSHOT_SECONDS = 0.4


@dataclass
class RunHandle:
    """A run of this session: its folder, settings, and (while it can continue) its trainer."""

    run_id: str
    path: str
    settings: dict
    trainer: Trainer | None = None
    finished: bool = False
    extra: dict = field(default_factory=dict)


class TrainingSession(QObject):
    stepsReady = Signal(str, list, list, int, int, float, float)  # run_id + TrainWorker.stepsReady
    evaluated = Signal(str, int, float, float)
    snapshotReady = Signal(int)
    stateChanged = Signal(str)
    runStarted = Signal(str)  # run_id of a new run (settings in self.runs[run_id])
    failed = Signal(str)
    finished = Signal(str, str)  # run_id, "done" / "stopped"

    def __init__(self, snapshots: SnapshotBox, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.snapshots = snapshots
        self.runs: dict[str, RunHandle] = {}
        self.current: RunHandle | None = None
        self.state = IDLE
        self._thread: WorkerThread | None = None
        self._control: TrainControl | None = None
        self._thread_run_id: str | None = None
        self._counter = 0

    # --- starting ---------------------------------------------------------------------------

    def start_new(
        self,
        corpus: Corpus,
        model_config: GPTConfig,
        train_config: TrainConfig,
        title: str | None = None,
    ) -> str:
        """A fresh run with fresh weights. Raises ConfigError/CorpusError/RunError on bad input.

        A title (a ladder stage's name) names the run instead of what sets it apart."""
        self.stop(wait=True)
        self._release_current()
        trainer = Trainer(
            corpus,
            model_config,
            train_config,
            snapshots=self.snapshots,
            snapshot_every_s=SNAPSHOT_SECONDS,
        )
        label = f"L{model_config.n_layer}H{model_config.n_head}C{model_config.n_embd}"
        path = new_run_dir(label)
        writer = RunWriter.create(path, corpus, model_config, trainer.config)
        self._counter += 1
        run_id = f"run{self._counter}"
        settings = flat_settings(model_config.to_dict(), trainer.config.to_dict(), corpus.name)
        self.current = self.runs[run_id] = RunHandle(run_id, str(path), settings, trainer)
        if title:
            self.current.extra["title"] = title
        self.runStarted.emit(run_id)
        self._launch(trainer, writer, steps=None)
        return run_id

    def adopt(self, record: RunRecord, corpus: Corpus | None) -> str:
        """Make a run loaded from disk the current one (trainable when its corpus is given)."""
        self.stop(wait=True)
        self._release_current()
        trainer = trainer_for(
            record, corpus, snapshots=self.snapshots, snapshot_every_s=SNAPSHOT_SECONDS
        )
        trainer.publish_snapshot(force=True)
        self._counter += 1
        run_id = f"run{self._counter}"
        settings = flat_settings(
            record.model_config.to_dict(),
            record.train_config.to_dict(),
            record.corpus.get("name", "?"),
        )
        handle = RunHandle(run_id, str(record.path), settings, trainer if corpus else None)
        handle.extra["record"] = record
        self.current = self.runs[run_id] = handle
        self.runStarted.emit(run_id)
        return run_id

    def _release_current(self) -> None:
        """A run that stops being current can no longer be continued from the window: drop its
        trainer (weights, optimizer state, data views), or every Retrain would keep one alive."""
        if self.current is not None:
            self.current.trainer = None
            self.current.extra.pop("record", None)
            release_free_memory()

    def can_continue(self) -> bool:
        run = self.current
        return run is not None and run.trainer is not None and run.trainer.train_data is not None

    def continue_current(self, steps: int | None = None) -> None:
        """Train the current run further: to its max_iters, or `steps` more when it got there."""
        run = self.current
        if run is None or run.trainer is None or self.state != IDLE:
            return
        trainer = run.trainer
        if steps is None and trainer.step >= trainer.config.max_iters:
            steps = trainer.config.max_iters  # another full round
        record = run.extra.pop("record", None)
        writer = RunWriter.reopen(record) if record is not None else RunWriter(run.path)
        self._launch(trainer, writer, steps)

    def _launch(self, trainer: Trainer, writer: RunWriter, steps: int | None) -> None:
        self._control = TrainControl()
        worker = TrainWorker(self.current.run_id, trainer, writer, self._control, steps)
        # receivers live in the GUI thread, so these connections are queued
        worker.stepsReady.connect(self.stepsReady)
        worker.evaluated.connect(self.evaluated)
        worker.snapshotReady.connect(self.snapshotReady)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        self._thread = WorkerThread(worker, f"train-{worker.run_id}")
        self._thread_run_id = worker.run_id
        self._thread.start(worker.run)
        self._set_state(TRAINING)

    # --- controls ---------------------------------------------------------------------------

    def pause(self) -> None:
        if self._control is not None and self.state == TRAINING:
            self._control.pause()
            self._set_state(PAUSED)

    def resume(self) -> None:
        if self._control is not None and self.state == PAUSED:
            self._control.resume()
            self._set_state(TRAINING)

    def stop(self, wait: bool = False) -> None:
        """Ask the run to stop (it saves itself); with wait, join its thread before returning."""
        if self._control is not None:
            self._control.stop()
        if wait:
            self._join()

    def shutdown(self) -> None:
        self.stop(wait=True)
        self._release_current()

    def is_training(self) -> bool:
        return self._thread is not None and self._thread.is_running()

    # --- endings ----------------------------------------------------------------------------

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
            self._control = None
            self._thread_run_id = None
            self._set_state(IDLE)

    @Slot(str, str)
    def _on_finished(self, run_id: str, reason: str) -> None:
        run = self.runs.get(run_id)
        if run is not None and run.trainer is not None:
            run.finished = run.trainer.step >= run.trainer.config.max_iters
        if run_id == self._thread_run_id:  # not a late signal of a run already joined
            self._join()
        self.finished.emit(run_id, reason)

    @Slot(str, str)
    def _on_failed(self, run_id: str, message: str) -> None:
        run = self.runs.get(run_id)
        if run is not None:
            run.trainer = None  # diverged or broken weights: this run cannot continue
        if run_id == self._thread_run_id:
            self._join()
        self.failed.emit(message)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)
