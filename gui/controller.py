"""The application's state and its threads, with no widgets: what the window shows and does.

AppController owns the corpus, the session's runs (gui/run_list.py), the training lifecycle (one
training thread at a time), the prompt inspection and the analyses (two viewing threads), the
head-analysis schedule, head knockout, the embedding map, the logit lens, and opening, saving and
exporting runs. Three concerns have modules of their own, which it owns and whose public calls it
delegates: following a run another process writes (gui/follow_controller.py), the timeline of
the current run's weight snapshots (gui/timeline_controller.py) and the lecture's ladder
(gui/ladder_controller.py). The window sends it the user's intent and renders what it publishes;
every signal carries one typed object.

Nothing here waits for a thread. A stop takes effect after the step in flight (the state reads
STOPPING meanwhile), and whatever was asked for next — a Retrain, an opened run, the ladder's
next stage — starts when the old training thread has ended (WorkerThread.ended).
Signals of a run that is no longer current still land on that run's own record, so no late
signal has to be filtered out.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from headwatch.core.compare import flat_settings
from headwatch.core.config import ConfigError, GPTConfig, TrainConfig, tokens_per_s
from headwatch.core.corpus import Corpus, CorpusError, builtin_corpus, load_text_file
from headwatch.core.storage import RunError
from headwatch.gui.exports import write_inspection_json, write_loss_csv
from headwatch.gui.follow_controller import FollowController
from headwatch.gui.ladder_controller import LadderController
from headwatch.gui.messages import (
    Evaluation,
    KnockoutState,
    Problem,
    Progress,
    RunEnded,
    RunRead,
    RunStarted,
    RunState,
    StepBatch,
    Timeline,
    nothing_changed,
)
from headwatch.gui.run_list import RunInfo, RunList
from headwatch.gui.run_opener import OpenRequest, RunOpener, RunReader, read_saved_run
from headwatch.gui.shown_analyses import ShownAnalyses
from headwatch.gui.threads import WorkerThread
from headwatch.gui.timeline_controller import TimelineController

if TYPE_CHECKING:  # torch-backed: loaded in start(), once the window shows
    from headwatch.core.control import TrainControl
    from headwatch.core.inspection import PromptInspection
    from headwatch.core.runs import RunRecord
    from headwatch.core.trainer import Trainer
    from headwatch.gui.workers import AnalysisWorker, InspectWorker

log = logging.getLogger("headwatch")

# new weights for the views at most this often: more only takes CPU from training (each one is
# an inspection and a repaint)
SNAPSHOT_SECONDS = 0.4
AUTO_ANALYSIS_MAX_PARAMS = 2_000_000  # larger models analyse heads on request only (CPU cost)
# While training, heads are re-analysed at an evaluation at most this often, and once more when
# the run pauses or ends: at every evaluation the analyses took ~9 % of training's speed at baby.
AUTO_ANALYSIS_SECONDS = 15.0
LADDER_ITERS = 2000  # per stage: the smallest budget at which the lecture's ordering held
# The ETA comes from the steps of the last ETA_WINDOW_S seconds, once they span ETA_MIN_SPAN_S:
# the first steps (allocations, warm-up) are slower than the rest and would inflate it.
ETA_WINDOW_S = 30.0
ETA_MIN_SPAN_S = 2.0


@dataclass
class _Training:
    """The one live training thread and what drives it."""

    thread: WorkerThread
    control: TrainControl


class AppController(QObject):
    """The app's state and lifecycle; see the module docstring. No widgets, signals only."""

    runAdded = Signal(object)  # RunInfo of a new run
    runChanged = Signal(object)  # RunInfo, replaced whole
    stepsReady = Signal(object)  # StepBatch
    evaluated = Signal(object)  # Evaluation
    progressChanged = Signal(object)  # Progress of the current run
    stateChanged = Signal(object)  # RunState
    runEnded = Signal(object)  # RunEnded
    problem = Signal(object)  # Problem: a message for the user
    status = Signal(str)  # a line for the status bar
    corpusChanged = Signal(object)  # Corpus now in use (also after a failed load: the old one)
    corpusLoading = Signal(str)
    weightsCleared = Signal()  # nothing to show: the settings do not fit the corpus
    inspected = Signal(object)  # PromptInspection
    headsAnalysing = Signal(bool)  # True: an analysis is on its way
    headsAnalysed = Signal(object)  # HeadReport
    headsLabelled = Signal(object)  # HeadReport without the knockout losses, which follow
    viewedHeadsAnalysed = Signal(object)  # HeadReport of the timeline's viewed snapshot
    unitAnalysing = Signal()
    unitAnalysed = Signal(object)  # UnitReport
    sampling = Signal(object)  # a sample is being written: at this viewed step, None: newest
    sampled = Signal(object)  # Sample, or None: it could not be written (the reason was told)
    embeddingsMapped = Signal(object)  # core.embedding_map.EmbeddingMap
    lensAnalysing = Signal()  # the loss by depth is being measured
    lensAnalysed = Signal(object)  # DepthLosses
    ladderChanged = Signal(object)  # LadderStatus
    knockoutChanged = Signal(object)  # KnockoutState
    allThreadsEnded = Signal()  # after shutdown(): every thread has ended; the app may quit
    followChanged = Signal(object)  # FollowStatus of the run followed (state "off": none)
    timelineChanged = Signal(object)  # Timeline: the current run's snapshots, the viewed step
    labelsExported = Signal(str)  # the path of a CSV of head labels over time, written
    runOpened = Signal(object)  # RunInfo of a run opened from disk, once it is shown

    # to the viewing threads (queued)
    _inspect = Signal(str)
    _refresh = Signal()
    _preview = Signal(object)
    _setCorpus = Signal(object)
    _analyseHeads = Signal(bool)  # True: measure the knockout losses too
    _setKnockout = Signal(object)  # core.head_knockout.Knockout
    _releaseMemory = Signal()
    _mapEmbeddings = Signal(object)  # (run folder, step) of a kept snapshot, or None: the newest
    _showLens = Signal(bool)
    _view = Signal(object)  # (run folder, step) or None: to the inspection thread
    _analyseHeadsAt = Signal(object)  # (run folder, step): the viewed snapshot's head labels
    _exportLabels = Signal(str, str)  # (run folder, CSV path): to the analysis thread
    _openRun = Signal(object)  # OpenRequest

    def __init__(
        self,
        trainer_factory: Callable[..., Trainer] | None = None,
        parent: QObject | None = None,
    ) -> None:
        """trainer_factory builds a run's trainer in the training thread, called like
        headwatch.core.trainer.Trainer (the default)."""
        super().__init__(parent)
        self.trainer_factory = trainer_factory
        self.corpus: Corpus | None = None
        self.runs = RunList()
        self.last_inspection: PromptInspection | None = None
        self._prompt = ""
        self.snapshots = None  # a SnapshotBox, made in start()
        self._state = RunState.IDLE
        self._started = False
        self._closing = False
        self._ended_told = False
        self._viewers: list[WorkerThread] = []
        self._live = 0  # threads started and not yet finished
        self._training: _Training | None = None
        self._pending: Callable[[], None] | None = None  # to start once training has ended
        self._current_id: str | None = None
        self._trainer: Trainer | None = None  # the current run's, to continue it
        self._resume: tuple[RunRecord, Corpus] | None = None  # an opened run's, to continue it
        self._current_done = False  # the current run reached its total
        self._counter = 0
        self._preview_version = 0
        self._recent: deque[tuple[float, int]] = deque()  # (monotonic s, step) for the ETA
        self._auto_analysis_at = -math.inf  # time.monotonic() of the last automatic analysis
        self._auto_analysis_owed = False  # an evaluation came since then
        self.tensorboard = False  # the window's runs also write TensorBoard events in RUN/tb/
        self._follow_embeddings = False  # the embedding map is on show: map new weights
        self._knockout = KnockoutState()
        self._lens_shown = False  # the Lens tab is on show: inspections carry the logit lens
        # MiB of weight snapshots each run of the window keeps for the timeline; None: the
        # CLI's default (core.snapshot_store.DEFAULT_BUDGET_MB), 0: none
        self.snapshot_budget_mb: float | None = None
        self._timeline_control = self._make_timeline_control()
        self._follow_control = self._make_follow_control()
        self._ladder_control = self._make_ladder_control()
        self._shown_analyses = self._make_shown_analyses()
        # Open run: the folder reader (a seam for tests), and the newest Open's version
        self.run_reader: RunReader = read_saved_run
        self._open_version = 0

    # --- start and end ----------------------------------------------------------------------

    def start(self) -> bool:
        """Load torch, start the inspection and analysis threads. Call once the window shows.
        False when it had started already or was shut down before."""
        from headwatch.core.control import SnapshotBox
        from headwatch.core.performance import keep_gui_thread_serial
        from headwatch.core.trainer import Trainer
        from headwatch.gui.workers import AnalysisWorker, InspectWorker

        if self._started or self._closing:
            return False
        keep_gui_thread_serial()  # before this thread's first torch op: training keeps the cores
        self.trainer_factory = self.trainer_factory or Trainer
        self.snapshots = SnapshotBox()
        inspect = InspectWorker(self.snapshots)
        self._wire_inspect(inspect)
        analysis = AnalysisWorker(self.snapshots)
        self._wire_analysis(analysis)
        self._opener = RunOpener()
        self._openRun.connect(self._opener.open)
        self._opener.read.connect(self._on_run_read)
        threads = ((inspect, "inspect"), (analysis, "analyse"), (self._opener, "open"))
        for worker, name in threads:
            thread = WorkerThread(worker, name)
            self._viewers.append(thread)
            self._start_thread(thread, worker.start)
        self._started = True
        self._send_knockout()
        self._showLens.emit(self._lens_shown)
        self._inspect.emit(self._prompt)  # typed before the thread was there to hear it
        return True

    def _publish(self, part: QObject, *names: str) -> None:
        """Publish the signals `names` of a part (a worker, a sub-controller) as the
        controller's own signals of the same names: its results, its state, its messages."""
        for name in names:
            getattr(part, name).connect(getattr(self, name))

    def _wire_inspect(self, inspect: InspectWorker) -> None:
        """The prompt's inspection: what the views ask of it, and its answers."""
        self._inspect.connect(inspect.request)
        self._refresh.connect(inspect.refresh)
        self._preview.connect(inspect.preview)
        self._view.connect(inspect.view)
        inspect.failed.connect(lambda message: self._tell("Inspection", message))
        inspect.inspected.connect(self._on_inspected)
        self._showLens.connect(inspect.set_lens)
        self._setKnockout.connect(inspect.set_knockout)

    def _wire_analysis(self, analysis: AnalysisWorker) -> None:
        """The analyses, by topic: the model they measure (corpus, knockout, memory), heads,
        the unit and the lens of the shown model, samples, embeddings, labels over time."""
        self._setCorpus.connect(analysis.set_corpus)
        self._setKnockout.connect(analysis.set_knockout)
        self._releaseMemory.connect(analysis.release_memory)
        self._analyseHeads.connect(analysis.analyse_heads)
        self._analyseHeadsAt.connect(analysis.analyse_heads_at)
        self._shown_analyses.analyseUnit.connect(analysis.analyse_unit)
        analysis.unitAnalysed.connect(self._shown_analyses.on_unit_analysed)
        self._shown_analyses.analyseLens.connect(analysis.analyse_lens)
        analysis.lensAnalysed.connect(self._shown_analyses.on_lens_analysed)
        self._shown_analyses.writeSample.connect(analysis.sample)
        analysis.sampled.connect(self._shown_analyses.on_sampled)
        self._mapEmbeddings.connect(analysis.map_embeddings)
        self._exportLabels.connect(analysis.export_labels)
        analysis.labelsExported.connect(self._timeline_control.on_labels_exported)
        analysis.failed.connect(lambda message: self._tell("Analysis", message))
        self._publish(
            analysis, "headsAnalysed", "headsLabelled", "viewedHeadsAnalysed", "embeddingsMapped"
        )

    @staticmethod
    def devices() -> list[str]:
        """What the Device box offers: auto and cpu, and cuda / mps where torch can use them."""
        import torch

        devices = ["auto", "cpu"]
        if torch.cuda.is_available():
            devices.append("cuda")
        if torch.backends.mps.is_available():
            devices.append("mps")
        return devices

    def is_ready(self) -> bool:
        return self._started and not self._closing

    def shutdown(self) -> None:
        """Stop training after its step in flight (it saves the run) and end every thread;
        returns at once. allThreadsEnded follows when they have ended."""
        if not self._closing:
            self._closing = True
            self._pending = None
            self._ladder_control.drop()
            self.stop_following()
            if self._training is not None:
                self._training.control.stop()
                self._set_state(RunState.STOPPING)
            for thread in self._viewers:
                thread.quit()
        # told from the event loop, so a caller connected after this call still hears it
        QTimer.singleShot(0, self._tell_if_ended)

    def threads_ended(self) -> bool:
        """True when no thread of this controller runs."""
        return self._live == 0

    def _start_thread(self, thread: WorkerThread, entry: Callable[[], None]) -> None:
        """Start a thread that is counted until it has ended (allThreadsEnded waits for it)."""
        thread.ended.connect(self._on_thread_ended)
        self._live += 1
        thread.start(entry)

    @Slot()
    def _on_thread_ended(self) -> None:
        self._live -= 1
        self._tell_if_ended()

    def _tell_if_ended(self) -> None:
        if self._closing and self._live == 0 and not self._ended_told:
            self._ended_told = True
            self._trainer = self._resume = None
            self.allThreadsEnded.emit()

    # --- corpus -----------------------------------------------------------------------------

    def set_corpus(self, path: str | None, quiet: bool = False) -> bool:
        """Load a corpus (None: the built-in one). On failure the previous corpus stays.

        quiet: raise the CorpusError instead of telling the user."""
        if path is None:
            self.corpusLoading.emit("Loading the Shakespeare corpus…")
            self.status.emit("Loading the built-in Shakespeare corpus…")
        try:
            corpus = builtin_corpus() if path is None else load_text_file(path)
        except CorpusError as exc:
            if self.corpus is not None:
                self.corpusChanged.emit(self.corpus)
            if quiet:
                raise
            self._tell("Cannot use this corpus", f"{exc}\n\nThe previous corpus stays loaded.")
            return False
        self._use_corpus(corpus)
        self.status.emit(corpus.summary())
        return True

    def _use_corpus(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self._setCorpus.emit(corpus)
        self._send_knockout()  # mean-ablation takes its means over this corpus
        self.corpusChanged.emit(corpus)

    def preview(
        self, model_config: GPTConfig | None, train_config: TrainConfig | None, replace: bool
    ) -> bool:
        """Untrained weights for these settings on show, so the views show something before any
        training (built in the inspection thread). Only when nothing is shown, or `replace`
        (a new corpus: the weights on show may have another vocabulary); nothing while training.
        None for a config: the settings are invalid, and with `replace` the views are cleared.
        True when fresh weights are on their way."""
        if not self._started or self.corpus is None or self._training is not None:
            return False
        if not replace and self._current_id is not None and self.snapshots.latest() is not None:
            return False
        from headwatch.gui.workers import PreviewRequest

        self._preview_version += 1
        valid = model_config is not None and train_config is not None
        if valid:
            try:
                self.corpus.check_block_size(model_config.block_size)
            except CorpusError as exc:
                log.info("no preview weights: %s", exc)
                valid = False
        if not valid:
            if replace:
                self.snapshots.clear()
                self.last_inspection = None
                self.weightsCleared.emit()
            return False
        version = self._preview_version
        request = PreviewRequest(
            model_config,
            self.corpus.tokenizer,
            train_config.seed,
            lambda: self._preview_version == version,
        )
        self._preview.emit(request)
        return True

    # --- training ---------------------------------------------------------------------------

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def current(self) -> RunInfo | None:
        """The run the controls act on (the one training, or last trained or opened)."""
        return self.runs.get(self._current_id) if self._current_id else None

    def is_training(self) -> bool:
        """A training thread is alive (training, paused or stopping)."""
        return self._training is not None

    def can_continue(self) -> bool:
        """Train would continue the current run: it has weights and its corpus."""
        return self._trainer is not None or self._resume is not None

    def train(self, model_config: GPTConfig, train_config: TrainConfig) -> None:
        """F5: resume a pause; continue the current run if its settings are these; else a new
        run. While a run is stopping, this waits for it (unless something else already does)."""
        if not self.is_ready():
            return
        if self.is_following() and not self._train_while_following():
            return
        if self._state is RunState.PAUSED:
            self.resume()
            return
        if self._state is RunState.STOPPING:
            if self._pending is None:
                self._pending = lambda: self.train(model_config, train_config)
            return
        if self._training is not None:
            return
        run = self.current
        settings = self._settings(model_config, train_config)
        same = run is not None and (self._resume is not None or run.settings == settings)
        if same and self.can_continue() and not self._current_done:
            self._continue_current()
            return
        self.retrain(model_config, train_config)

    def retrain(self, model_config: GPTConfig, train_config: TrainConfig, title: str = "") -> bool:
        """Fresh weights with these settings, as a new run; a run in progress is stopped first
        and this starts when its thread has ended. A title (a ladder stage) names the run.
        False (and a message) when the corpus cannot take these settings."""
        if not self.is_ready():
            return False
        if self.corpus is None:
            self._tell("No corpus yet", "Wait for the corpus to load, or open a text file.")
            return False
        corpus = self.corpus
        try:
            corpus.check_block_size(model_config.block_size)
            if corpus.vocab_size != model_config.vocab_size:
                raise ConfigError("the model's vocabulary is not the corpus's", "vocab_size")
        except (ConfigError, CorpusError) as exc:
            self._tell("Cannot start training", str(exc))
            return False
        self._start(lambda: self._launch_new(corpus, model_config, train_config, title))
        return True

    def pause(self) -> None:
        if self._training is not None and self._state is RunState.TRAINING:
            self._training.control.pause()
            self._set_state(RunState.PAUSED)

    def resume(self) -> None:
        if self._training is not None and self._state is RunState.PAUSED:
            self._training.control.resume()
            self._recent.clear()  # the pause is no part of the pace
            self._set_state(RunState.TRAINING)

    def toggle_pause(self) -> None:
        if self._state is RunState.PAUSED:
            self.resume()
        else:
            self.pause()

    def stop(self) -> None:
        """Stop after the step in flight (the run is saved); also drops a start waiting for it."""
        self._pending = None
        if self.ladder_running():
            self._ladder_control.end("The ladder was stopped.")
        if self._training is not None:
            self._training.control.stop()
            self._set_state(RunState.STOPPING)

    def _start(self, launch: Callable[[], None]) -> None:
        """launch() now, or once the training thread in progress has stopped."""
        self.stop_following()
        if self._training is None:
            launch()
            return
        self._pending = launch
        self._training.control.stop()
        self._set_state(RunState.STOPPING)

    def _settings(self, model_config: GPTConfig, train_config: TrainConfig) -> dict:
        name = self.corpus.name if self.corpus is not None else "?"
        return flat_settings(model_config.to_dict(), train_config.to_dict(), name)

    def _new_run(self, settings: dict, title: str = "", **figures) -> str:
        self._release_current()
        self._counter += 1
        run_id = f"run{self._counter}"
        new, *relabelled = self.runs.add(run_id, settings, title, **figures)
        self._current_id = run_id
        self._current_done = False
        self._recent.clear()
        self._auto_analysis_at, self._auto_analysis_owed = -math.inf, False  # new heads: at once
        self.restore_all_heads()  # another model: its heads all start in
        self.runAdded.emit(new)
        for run in relabelled:
            self.runChanged.emit(run)
        return run_id

    def _launch_new(
        self, corpus: Corpus, model_config: GPTConfig, train_config: TrainConfig, title: str
    ) -> None:
        from headwatch.core.oom import build_trainer
        from headwatch.core.runs import RunWriter, new_run_dir

        settings = flat_settings(model_config.to_dict(), train_config.to_dict(), corpus.name)
        run_id = self._new_run(settings, title, total=train_config.max_iters)
        factory, box = self.trainer_factory, self.snapshots
        folder_name = f"L{model_config.n_layer}H{model_config.n_head}C{model_config.n_embd}"

        def build() -> tuple:  # in the training thread
            trainer = build_trainer(
                corpus,
                model_config,
                train_config,
                factory,
                snapshots=box,
                snapshot_every_s=SNAPSHOT_SECONDS,
            )
            writer = RunWriter.create(
                new_run_dir(folder_name), corpus, model_config, trainer.config
            )
            return trainer, writer, None

        self._launch(run_id, build)

    def _continue_current(self) -> None:
        from headwatch.core.runs import RunWriter, trainer_for

        run = self.current
        box = self.snapshots
        if self._trainer is not None:
            trainer, folder = self._trainer, run.folder

            def build() -> tuple:
                return trainer, RunWriter(folder), _steps_left(trainer)
        else:
            record, corpus = self._resume

            def build() -> tuple:
                trainer = trainer_for(
                    record, corpus, snapshots=box, snapshot_every_s=SNAPSHOT_SECONDS
                )
                return trainer, RunWriter.reopen(record), _steps_left(trainer)

            self._resume = None  # the trainer it builds takes over (RunStarted)

        self._recent.clear()
        self._launch(run.run_id, build)

    def _launch(self, run_id: str, build: Callable[[], tuple]) -> None:
        from headwatch.core.control import TrainControl
        from headwatch.gui.workers import TrainJob, TrainWorker

        self._preview_version += 1  # a preview still queued would cover the run's weights
        self._open_version += 1  # so would a run still being read: training is the newer intent
        control = TrainControl()
        job = TrainJob(run_id, build, self.tensorboard, self.snapshot_budget_mb)
        worker = TrainWorker(job, control)
        # receivers live in the GUI thread, so these connections are queued
        worker.started.connect(self._on_run_started)
        self._hear_losses(worker)
        worker.snapshotReady.connect(self._refresh)
        worker.ended.connect(self._on_run_ended)
        thread = WorkerThread(worker, f"train-{run_id}")
        # direct: the worker's last act, in its own thread, ends that thread's event loop
        worker.done.connect(thread.thread.quit, Qt.ConnectionType.DirectConnection)
        thread.ended.connect(self._on_training_ended)
        self._training = _Training(thread, control)
        self._live += 1
        thread.start(worker.run)
        self._set_state(RunState.TRAINING)

    @Slot()
    def _on_training_ended(self) -> None:
        self._training = None
        self._on_thread_ended()
        if self._closing:
            return
        self._set_state(RunState.IDLE)
        pending, self._pending = self._pending, None
        if pending is not None:
            pending()

    def _release_current(self) -> None:
        """A run that stops being current can no longer be continued from the window: drop its
        trainer (weights, optimizer state, data views), or every Retrain would keep one alive."""
        if self._trainer is not None or self._resume is not None:
            self._trainer = None
            self._resume = None
            self._releaseMemory.emit()

    # --- what the training thread reports ---------------------------------------------------

    def _hear_losses(self, source: QObject) -> None:
        """A run's losses as they come, from its training thread here or from the run another
        process writes that the window follows: its stepsReady and evaluated signals."""
        source.stepsReady.connect(self._on_steps)
        source.evaluated.connect(self._on_evaluated)

    def _update_run(self, run_id: str, **fields) -> RunInfo:
        """Change these fields of a run's record and publish it (runChanged)."""
        run = self.runs.update(run_id, **fields)
        self.runChanged.emit(run)
        return run

    @Slot(object)
    def _on_run_started(self, message: RunStarted) -> None:
        run = self._update_run(message.run_id, state=RunState.TRAINING, **_run_fields(message))
        if message.run_id == self._current_id and not self._closing:
            self._trainer = message.trainer
        self.status.emit(f"Training into {message.folder}")
        if message.run_id == self._current_id:
            self._publish_progress(run)

    @Slot(object)
    def _on_steps(self, batch: StepBatch) -> None:
        self.stepsReady.emit(batch)
        run = self._update_run(batch.run_id, **_run_fields(batch))
        if batch.run_id == self._current_id:
            self._recent.append((time.monotonic(), batch.step))
            self._publish_progress(run)

    def _eta(self, run: RunInfo) -> float | None:
        """Seconds to the run's total at the pace of its recent steps; None until known."""
        recent = self._recent
        while recent and recent[-1][0] - recent[0][0] > ETA_WINDOW_S:
            recent.popleft()
        if len(recent) < 3 or recent[-1][0] - recent[1][0] < ETA_MIN_SPAN_S:
            return None  # recent[0] ends the warm-up batch: the pace is counted after it
        (t0, s0), (t1, s1) = recent[1], recent[-1]
        if s1 <= s0:
            return None
        return (run.total - run.step) * (t1 - t0) / (s1 - s0)

    def _publish_progress(self, run: RunInfo) -> None:
        eta = self._eta(run) if self._state is RunState.TRAINING else None
        self.progressChanged.emit(
            Progress(run.step, run.total, run.tokens_per_s or 0.0, eta, self._state)
        )

    @Slot(object)
    def _on_evaluated(self, evaluation: Evaluation) -> None:
        run = self._update_run(
            evaluation.run_id,
            step=max(evaluation.step, self.runs.get(evaluation.run_id).step),
            last_train=evaluation.train,
            val=evaluation.val,
        )
        small = _analysed_by_itself(run)
        if small and evaluation.run_id == self._current_id:  # the badges follow training
            self._auto_analysis_owed = True
            if time.monotonic() - self._auto_analysis_at >= AUTO_ANALYSIS_SECONDS:
                self._analyse_heads_owed()
        self.evaluated.emit(evaluation)

    @Slot(object)
    def _on_run_ended(self, message: RunEnded) -> None:
        if message.failed:
            self._run_failed(message)
        else:
            self._run_finished(message)
        self.runEnded.emit(message)
        if not self.ladder_running():
            return
        if message.reason == "done" and message.run_id == self._current_id:
            self._ladder_control.next_stage()
        else:
            self._ladder_control.end("" if message.failed else "The ladder was stopped.")

    def _run_finished(self, message: RunEnded) -> None:
        # ended, it shows its mean speed, as when it is opened again (a trial saw 19.8k tok/s
        # here, the last 20 steps', and 396 on opening it: it had been starved for minutes)
        ended = replace(self.runs.get(message.run_id), step=message.step)
        run = self._update_run(
            message.run_id,
            state=RunState.IDLE,
            step=message.step,
            tokens_per_s=ended.mean_tokens_per_s(),
        )
        if message.run_id == self._current_id:
            self._current_done = run.step >= run.total
            # the knockout losses too, unless the ladder's next stage starts training now; owed
            # even when the last evaluation's analysis has the labels: it had no losses
            losses = not self.ladder_running()
            self._auto_analysis_owed |= losses and _analysed_by_itself(run)
            self._analyse_heads_owed(losses=losses)
        word = "Finished" if message.reason == "done" else "Stopped"
        self.status.emit(f"{word}; the run is saved in {run.folder}")

    def _run_failed(self, message: RunEnded) -> None:
        self._update_run(message.run_id, state=RunState.IDLE)
        if message.run_id == self._current_id:
            self._trainer = None  # diverged or broken weights: this run cannot continue
        self._tell("Training stopped", message.message)

    def _set_state(self, state: RunState) -> None:
        if state is not self._state:
            self._state = state
            self.stateChanged.emit(state)
            # someone stopped to look: the badges catch up; not the knockout losses, whose
            # seconds of CPU would still be running against training after a quick resume
            if state is RunState.PAUSED:
                self._analyse_heads_owed()
            if self.current is not None and not self._closing:
                self._publish_progress(self.current)

    # --- prompt, analyses, samples ----------------------------------------------------------

    def inspect(self, prompt: str) -> None:
        """Inspect the prompt on the latest weights (in the inspection thread)."""
        self._prompt = prompt
        self._inspect.emit(prompt)

    @Slot(object)
    def _on_inspected(self, result: PromptInspection) -> None:
        # answers come in order; one for a prompt already changed is still shown (a newer one
        # follows), or fast typing on a big model would show nothing until the typing stops
        if self.snapshots.latest() is None and self.viewed_step is None:
            return  # made on weights cleared since it began (another vocabulary's): not shown
        self.last_inspection = result
        self.inspected.emit(result)
        # new weights on show are inspected first, whatever brought them: map them too
        if self._follow_embeddings:
            self._map_shown_embeddings(result.step)

    def analyse_heads(self, losses: bool = False) -> None:
        """Every head's profile and label; with losses, also the validation loss lost without
        each head (1 + 2 * n_layer * n_head forward passes: ~5 s at the baby preset on one core,
        so not at every evaluation while training runs)."""
        self.headsAnalysing.emit(True)
        self._analyseHeads.emit(losses)
        # the loss by depth follows the head analyses' schedule; a viewed snapshot never changes
        if self._lens_shown and self.viewed_step is None:
            self.analyse_lens()

    def _analyse_heads_owed(self, losses: bool = False) -> None:
        if self._auto_analysis_owed:
            self._auto_analysis_owed = False
            self._auto_analysis_at = time.monotonic()
            self.analyse_heads(losses)

    # --- head knockout ----------------------------------------------------------------------

    @property
    def knockout(self) -> KnockoutState:
        """The heads knocked out in every view of the prompt (never in training), and how."""
        return self._knockout

    def toggle_knockout(self, layer: int, head: int) -> None:
        """Knock head (layer, head) (0-based) out, or back in."""
        self.set_knocked_out(self._knockout.heads ^ {(layer, head)})

    def set_knocked_out(self, heads: frozenset[tuple[int, int]]) -> None:
        self._set_knockout(KnockoutState(frozenset(heads), self._knockout.ablation))

    def restore_all_heads(self) -> None:
        self.set_knocked_out(frozenset())

    def set_ablation(self, ablation: str) -> None:
        """How a knocked-out head's output is replaced: "mean" (its mean over validation
        windows) or "zero". Raises ValueError for another."""
        if ablation not in ("mean", "zero"):
            raise ValueError(f"ablation must be 'mean' or 'zero', got {ablation!r}")
        self._set_knockout(KnockoutState(self._knockout.heads, ablation))

    def _set_knockout(self, state: KnockoutState) -> None:
        if state != self._knockout:
            self._knockout = state
            self._send_knockout()
            self.knockoutChanged.emit(state)
            self._shown_model_changed()

    def _send_knockout(self) -> None:
        """To both viewing threads: the prompt is inspected again and samples follow it."""
        if self._started:
            from headwatch.core.head_knockout import Knockout

            state = self._knockout
            self._setKnockout.emit(Knockout(state.heads, state.ablation, self.corpus))

    def analyse_unit(self, layer: int, unit: int) -> None:
        """The contexts that excite hidden unit `unit` of layer `layer` (0-based) most, on the
        model the views show (the viewed step, the knockout), which the Unit tab then follows
        (gui/shown_analyses.py)."""
        if self.is_ready():
            self._shown_analyses.analyse_unit(layer, unit)

    def sample(self, prompt: str, temperature: float, n_chars: int) -> None:
        """n_chars characters after prompt, written at temperature by the model the views show
        (the viewed step, without the knocked-out heads), in the analysis thread; the sample
        then follows that model while the sample box shows (gui/shown_analyses.py)."""
        if self.is_ready():
            self._shown_analyses.sample(prompt, temperature, n_chars)

    def show_sample(self, shown: bool) -> None:
        """The sample box came into view (or left it): while it shows, its sample is written
        again by each new model on show."""
        self._shown_analyses.show_sample(shown)

    # --- the embedding map ----------------------------------------------------------------

    def follow_embeddings(self, on: bool) -> None:
        """While on (the map is on show), every new weights on show are mapped, in the analysis
        thread; turning it on maps the weights on show now."""
        self._follow_embeddings = on
        if on:
            self._map_shown_embeddings(self.viewed_step)

    def _map_shown_embeddings(self, step: int | None) -> None:
        """Map the weights on show in the analysis thread: the timeline's snapshot of step
        while one is viewed (read from the run folder), else the newest weights (unless mapped
        already); embeddingsMapped follows, aligned to the frame mapped before."""
        if self.is_ready():
            viewed = self.viewed_step is not None and self.timeline.folder
            self._mapEmbeddings.emit((self.timeline.folder, step) if viewed else None)

    # --- the logit lens ---------------------------------------------------------------------

    def show_lens(self, shown: bool) -> None:
        """The Lens tab came into view (or left it): inspections carry the logit lens only while
        it shows, as reading every stage costs each keystroke a few ms more. Coming into view,
        the prompt is inspected again and the loss by depth measured."""
        if shown == self._lens_shown:
            return
        self._lens_shown = shown
        self._showLens.emit(shown)
        self._shown_analyses.show_lens(shown)
        if shown:
            self.analyse_lens()

    def analyse_lens(self) -> None:
        """Measure the loss by depth over validation windows (in the analysis thread), of the
        model the views show: the viewed step, without the knocked-out heads."""
        if self.is_ready() and self.corpus is not None and self.snapshots.latest() is not None:
            self._shown_analyses.analyse_lens()

    # --- the Unit tab and the loss by depth follow the model on show (gui/shown_analyses.py) --

    def _make_shown_analyses(self) -> ShownAnalyses:
        part = ShownAnalyses(self._shown_model, self)
        self._publish(part, "unitAnalysing", "unitAnalysed", "lensAnalysing", "lensAnalysed")
        self._publish(part, "sampling", "sampled")
        self._timeline_control.rested.connect(self._shown_model_changed)
        self.runAdded.connect(part.forget_unit)
        self.runAdded.connect(part.forget_sample)
        return part

    def _shown_model(self) -> tuple:
        """What the prompt views show: ((run folder, step) on the timeline, or None for the
        newest weights; the core Knockout)."""
        from headwatch.core.head_knockout import Knockout

        timeline, state = self.timeline, self._knockout
        viewed = (timeline.folder, timeline.viewed) if timeline.viewed is not None else None
        return viewed, Knockout(state.heads, state.ablation, self.corpus)

    def show_unit(self, shown: bool) -> None:
        """The Unit tab came into view (or left it): while it shows, its unit follows the model
        on show."""
        self._shown_analyses.show_unit(shown and self.is_ready())

    @Slot()
    def _shown_model_changed(self) -> None:
        if self.is_ready() and self.corpus is not None and self.snapshots.latest() is not None:
            self._shown_analyses.model_changed()

    # --- the timeline: the current run's weight snapshots (gui/timeline_controller.py) ------

    def _make_timeline_control(self) -> TimelineController:
        control = TimelineController(
            lambda: self._current_id,
            lambda: self.current is not None and _analysed_by_itself(self.current),
            self,
        )
        self.runAdded.connect(control.follow_run)
        self.runChanged.connect(control.follow_run)
        self._publish(control, "timelineChanged", "labelsExported", "problem", "status")
        control.view.connect(self._view)
        control.analyseHeadsAt.connect(self._analyseHeadsAt)
        control.exportLabels.connect(self._exportLabels)
        return control

    @property
    def timeline(self) -> Timeline:
        return self._timeline_control.timeline

    @property
    def viewed_step(self) -> int | None:
        """The snapshot step the prompt views show; None: they follow the newest weights."""
        return self._timeline_control.timeline.viewed

    def view_step(self, step: int | None) -> None:
        """Show the prompt views at the current run's snapshot of step (the nearest kept), or
        follow the newest weights again (None: Live). Ignored when the run keeps no snapshot."""
        self._timeline_control.view_step(step)

    def export_labels_over_time(self, path: str | Path) -> bool:
        """Every head's label at every snapshot of the current run as CSV (core.timeline), in
        the analysis thread; labelsExported(path) when written."""
        return self._timeline_control.export_labels_over_time(path)

    # --- the lecture's ladder (gui/ladder_controller.py) -----------------------------------

    def _make_ladder_control(self) -> LadderController:
        control = LadderController(
            lambda: self.corpus.vocab_size,
            lambda model_config, train_config, title: self.retrain(
                model_config, train_config, title=title
            ),
            self,
        )
        self._publish(control, "ladderChanged", "problem")
        return control

    def run_ladder(self) -> None:
        """Train every stage of the lecture's ladder in turn, each a run of this session."""
        if not self.is_ready():
            return
        if self.corpus is None:
            self._tell("No corpus yet", "Wait for the corpus to load, or open a text file.")
            return
        self._ladder_control.begin(LADDER_ITERS)
        self._start(self._ladder_control.next_stage)

    def ladder_running(self) -> bool:
        return self._ladder_control.running()

    def open_run(self, path: str | Path) -> bool:
        """Show a saved run: its weights in the views, its curve on the plot; continue it with
        Train when its corpus is still there. Returns at once: the folder is read in a thread
        of its own (the status says "Opening …" meanwhile), then a run in progress is
        stopped and the run opens once it has (runOpened). A newer Open, or a training started
        meanwhile, supersedes it. A folder that is not a usable run is one message (problem),
        and nothing changes. False when the controller is not running."""
        if not self.is_ready():
            return False
        self._open_version += 1
        version = self._open_version
        self.status.emit(f"Opening {Path(path).name}…")  # the name: a long path is cut short

        def is_current() -> bool:  # asked in the reading thread
            return self._open_version == version

        self._openRun.emit(OpenRequest(str(path), version, self.run_reader, is_current))
        return True

    @Slot(object)
    def _on_run_read(self, message: RunRead) -> None:
        if message.version != self._open_version or self._closing:
            return  # superseded by a newer Open or a training start, or closing
        if message.record is None:
            self.status.emit("Open run failed; nothing was changed")  # not "Opening …" still
            self._tell("Cannot open this run", nothing_changed(message.why))
            return
        record, corpus, why = message.record, message.corpus, message.why
        self._start(lambda: self._adopt(record, corpus, why))

    def _adopt(self, record: RunRecord, corpus: Corpus | None, why: str = "") -> None:
        from headwatch.core.model import GPT

        settings = flat_settings(
            record.model_config.to_dict(),
            record.train_config.to_dict(),
            record.corpus.get("name", "?"),
        )
        vals = [row.val for row in record.metrics if row.val is not None]
        trains = [row.train for row in record.metrics if row.train is not None]
        elapsed = record.checkpoint["elapsed"]  # seconds in steps, every session of the run
        run_id = self._new_run(
            settings,
            folder=str(record.path),
            parameters=GPT.unfilled(record.model_config, "meta").num_parameters(),
            best_val=min(vals) if vals else None,
            last_train=trains[-1] if trains else None,
            elapsed=elapsed,
            tokens_per_s=tokens_per_s(
                record.step,
                record.train_config.batch_size * record.model_config.block_size,
                elapsed,
            ),
            step=record.step,
            total=record.train_config.max_iters,
        )
        self._resume = (record, corpus) if corpus is not None else None
        self._preview_version += 1
        if corpus is not None:  # the window now shows (and would continue) this run
            self._use_corpus(corpus)
        self.snapshots.publish(
            record.step, record.model_config, record.tokenizer, record.checkpoint["model"]
        )
        losses = [(row.step, row.loss) for row in record.metrics if row.loss is not None]
        run = self.current
        if losses:
            steps, values = zip(*losses, strict=True)
            self.stepsReady.emit(StepBatch(run_id, steps, values, run.step, run.total, 0.0, 0.0))
        for row in record.metrics:
            if row.val is not None:
                self.evaluated.emit(Evaluation(run_id, row.step, row.train, row.val))
        self._publish_progress(run)
        self._refresh.emit()
        note = f" ({why})" if why else ""
        if corpus is None:
            note = f" — to view only: {why or 'its corpus is not available'}"
        self.status.emit(f"Opened {record.path} at step {record.step:,}{note}")
        self.runOpened.emit(run)
        if corpus is not None and _analysed_by_itself(run):
            self.analyse_heads()  # the badges and the Heads tab, without a click

    # --- following a run another process writes (gui/follow_controller.py) -----------------

    def _make_follow_control(self) -> FollowController:
        control = FollowController(
            self.runs, self._new_run, self._update_run, self._start_thread, self
        )
        self._publish(control, "followChanged", "problem", "status")
        control.runReset.connect(self.runAdded)
        control.opened.connect(self._on_follow_opened)
        control.weightsRead.connect(self._on_follow_weights)
        self._hear_losses(control)
        control.resumable.connect(self._on_follow_resumable)
        control.stopped.connect(self._on_follow_stopped)
        control.ended.connect(self._on_follow_ended)
        return control

    def follow_run(self, path: str | Path, interval_s: float | None = None) -> bool:
        """Follow the run folder that another process is writing: its curves grow and its
        newest weights are shown as they land (looked for every interval_s seconds, default
        gui.following.POLL_SECONDS, off the GUI thread). Training in progress is stopped first
        and following starts once it has; following another run ends. Never writes into the
        run. A folder that is no run is told as a message. False when the app is not ready."""
        if not self.is_ready():
            return False
        self._start(lambda: self._follow_control.begin(Path(path), interval_s))
        return True

    def is_following(self) -> bool:
        return self._follow_control.is_following()

    def stop_following(self) -> None:
        """Stop looking at the followed run; it stays in the session's runs, on show."""
        self._follow_control.stop()

    @Slot(object)
    def _on_follow_opened(self, corpus: Corpus | None) -> None:
        self._preview_version += 1  # a preview still queued would cover the run's weights
        if corpus is not None:  # analyses run on its text; Train may continue it
            self._use_corpus(corpus)

    @Slot(object, object, object)
    def _on_follow_weights(self, step: int, record: RunRecord, state: dict) -> None:
        self._preview_version += 1
        self.snapshots.publish(step, record.model_config, record.tokenizer, state)
        self._refresh.emit()

    @Slot(object)
    def _on_follow_resumable(self, resume: tuple[RunRecord, Corpus] | None) -> None:
        self._resume = resume

    @Slot()
    def _on_follow_ended(self) -> None:
        """The followed run ended: its heads are analysed on its last weights, with their
        knockout losses, as a run trained here is at its end (evaluations within
        AUTO_ANALYSIS_SECONDS of an analysis only leave one owed)."""
        run = self.current
        if self.corpus is not None and run is not None and _analysed_by_itself(run):
            self._auto_analysis_owed = True
            self._analyse_heads_owed(losses=True)

    @Slot()
    def _on_follow_stopped(self) -> None:
        if self.current is not None and not self._closing:
            self._publish_progress(self.current)

    def _train_while_following(self) -> bool:
        """Train pressed while a run is followed: True (following stops) when its writer is gone
        and Train may continue it here; else False, and a message saying why not."""
        why = self._follow_control.why_not_train(self._resume is not None)
        if why is None:
            self.stop_following()
            return True
        self._tell(*why)
        return False

    def save_run_as(self, destination: str | Path) -> bool:
        """Copy the current run's folder to destination (which must not exist)."""
        run = self.current
        if run is None or not run.folder:
            self._tell("Nothing to save", "Train a model or open a run first.")
            return False
        from headwatch.core.runs import copy_run

        try:
            copy_run(run.folder, destination)
        except RunError as exc:
            self._tell("Cannot save the run", str(exc))
            return False
        self.status.emit(f"Run copied to {destination}")
        return True

    def export_loss_csv(self, path: str | Path) -> bool:
        """Every run of the session: its per-step losses and its evaluations, one row each."""
        return self.write_file(path, lambda target: write_loss_csv(list(self.runs), target))

    def export_inspection_json(self, path: str | Path) -> bool:
        """The prompt's inspection, in the schema of `headwatch inspect --json`."""
        result = self.last_inspection
        if result is None or result.empty:
            self._tell("Nothing to export", "Type a prompt first.")
            return False
        return self.write_file(path, lambda target: write_inspection_json(result, target))

    def write_file(self, path: str | Path, write: Callable[[str | Path], None]) -> bool:
        """write(path), a failure told as one message; True when it worked."""
        try:
            write(path)
        except OSError as exc:
            self._tell("Cannot export", f"{path}: {exc.strerror or exc}")
            return False
        return True

    def _tell(self, title: str, message: str) -> None:
        self.problem.emit(Problem(title, message))


_RUN_FIELDS = frozenset(f.name for f in fields(RunInfo)) - {"run_id"}


def _run_fields(message: RunStarted | StepBatch) -> dict:
    """The fields a training thread's message shares with its run's record, by name (a run
    started: folder, parameters, step, total; a batch of steps: step, total, tokens_per_s,
    elapsed)."""
    return {f.name: getattr(message, f.name) for f in fields(message) if f.name in _RUN_FIELDS}


def _analysed_by_itself(run: RunInfo) -> bool:
    """Whether the run's heads are analysed without a click (small enough for the CPU)."""
    return 0 < run.parameters <= AUTO_ANALYSIS_MAX_PARAMS


def _steps_left(trainer: Trainer) -> int | None:
    """Up to the run's max_iters, or another full round once it got there."""
    return trainer.config.max_iters if trainer.step >= trainer.config.max_iters else None
