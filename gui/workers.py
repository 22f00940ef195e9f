"""QObject workers that run core code in their own QThreads and talk back only through signals.

TrainWorker builds a trainer and runs core.session.train_into_run; InspectWorker turns the
latest weight snapshot and the latest prompt into a PromptInspection; AnalysisWorker runs the
longer jobs (head and unit analyses, samples) in a third thread, so that typing never waits
behind them. None touches a widget: every signal crosses to the GUI thread as a queued
connection, carrying one typed message (gui/messages.py).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal, SignalInstance, Slot

from headwatch.core.config import ConfigError, GPTConfig
from headwatch.core.control import Snapshot, SnapshotBox, TrainControl
from headwatch.core.corpus import Corpus, CorpusError, Tokenizer
from headwatch.core.embedding_map import EmbeddingMap, embedding_map
from headwatch.core.head_knockout import Knockout
from headwatch.core.inspection import Analyst, Inspector, PromptInspection
from headwatch.core.performance import (
    ANALYSIS_NICENESS,
    TRAIN_THREADS,
    ThreadTuner,
    freeze_torch_optimizer_imports,
    give_way_to_the_window,
    lower_priority,
    release_free_memory,
    use_torch_threads,
)
from headwatch.core.runs import RunWriter
from headwatch.core.session import train_into_run
from headwatch.core.snapshot_store import DEFAULT_BUDGET_MB, DEFAULT_EVERY_S, SnapshotStore
from headwatch.core.storage import RunError
from headwatch.core.tensorboard_log import check_tensorboard
from headwatch.core.timeline import (
    drop_shared_cache,
    labels_over_time,
    shared_cache,
    write_labels_csv,
)
from headwatch.core.trainer import Trainer, TrainingDiverged, seeded_gpt
from headwatch.gui.messages import (
    Evaluation,
    RunEnded,
    RunStarted,
    Sample,
    ShownRequest,
    StepBatch,
)

log = logging.getLogger("headwatch")

BATCH_SECONDS = 0.2  # per-step points are sent in batches: about 5 signals a second


def _deliver(
    job: Callable[[], object], done: Callable[[object], None], failed: SignalInstance, what: str
) -> None:
    """done(job()); an exception is logged and told as "Could not <what>: <error>", so the
    worker's thread never dies of one."""
    try:
        result = job()
    except Exception as exc:
        log.error("could not %s:\n%s", what, traceback.format_exc())
        failed.emit(f"Could not {what}: {exc}")
        return
    done(result)


@dataclass(frozen=True)
class TrainJob:
    """What a TrainWorker trains: `build` runs in the training thread (building a model,
    its optimizer and its run folder takes seconds at the lecture preset) and returns the
    trainer, the writer of its run folder, and how many steps to train (None: to max_iters).
    tensorboard: also write TensorBoard events in RUN/tb/, as `headwatch train --tensorboard`."""

    run_id: str
    build: Callable[[], tuple[Trainer, RunWriter, int | None]]
    tensorboard: bool = False
    # the run folder keeps weight snapshots for the timeline, as `headwatch train` does
    # (core.snapshot_store), within this many MiB; None: DEFAULT_BUDGET_MB, 0: none kept
    snapshot_budget_mb: float | None = None


class TrainWorker(QObject):
    """Builds and trains one run in its thread; every signal carries one typed message."""

    started = Signal(object)  # RunStarted
    stepsReady = Signal(object)  # StepBatch
    evaluated = Signal(object)  # Evaluation
    snapshotReady = Signal(int)  # step of a newly published snapshot
    ended = Signal(object)  # RunEnded, after the run's last StepBatch
    done = Signal()  # the last signal, after ended: the thread may end

    def __init__(self, job: TrainJob, control: TrainControl) -> None:
        super().__init__()
        self.job, self.control = job, control

    @Slot()
    def run(self) -> None:
        give_way_to_the_window()
        use_torch_threads(TRAIN_THREADS)
        try:
            self._train()
        finally:
            self.done.emit()

    def _train(self) -> None:
        run_id = self.job.run_id
        steps: list[int] = []
        losses: list[float] = []
        last_flush = time.monotonic()
        progress = None
        board = None

        def flush() -> None:
            nonlocal last_flush
            if steps and progress is not None:
                self.stepsReady.emit(
                    StepBatch(
                        run_id,
                        tuple(steps),
                        tuple(losses),
                        progress.step,
                        progress.total,
                        progress.tokens_per_s,
                        progress.elapsed,
                    )
                )
                steps.clear()
                losses.clear()
            last_flush = time.monotonic()

        try:
            # checked before build makes a run folder: no folder is left by a missing extra
            tensorboard = check_tensorboard() if self.job.tensorboard else None
            trainer, writer, n_steps = self.job.build()
            trainer.thread_tuner = ThreadTuner.for_training(trainer.device.type)
            board = tensorboard(writer.path, trainer) if tensorboard else None
            self._keep_snapshots(trainer, writer)
            box = trainer.snapshots
            seen_version = box.latest().version if box and box.latest() else None
            total = trainer.step + n_steps if n_steps is not None else trainer.config.max_iters
            self.started.emit(
                RunStarted(
                    run_id,
                    str(writer.path),
                    trainer.model.num_parameters(),
                    trainer.step,
                    total,
                    trainer,
                )
            )
            for progress in train_into_run(trainer, writer, self.control, n_steps):
                if board is not None:
                    board.record(progress)
                if progress.is_eval:
                    flush()
                    self.evaluated.emit(
                        Evaluation(
                            run_id, progress.step, progress.train_estimate, progress.val_estimate
                        )
                    )
                else:
                    steps.append(progress.step)
                    losses.append(progress.loss)
                    # a pause shows the step it stopped at, not the last batch's
                    if time.monotonic() - last_flush >= BATCH_SECONDS or self.control.paused:
                        flush()
                latest = box.latest() if box else None
                if latest is not None and latest.version != seen_version:
                    seen_version = latest.version
                    self.snapshotReady.emit(latest.step)
            flush()
            reason = "stopped" if self.control.stop_requested else "done"
            self.ended.emit(RunEnded(run_id, reason, trainer.step))
        except TrainingDiverged as exc:
            flush()
            log.warning("training diverged: %s", exc)
            self._fail(f"{exc}. The last good checkpoint is kept.")
        except (ConfigError, CorpusError, RunError) as exc:  # said for a person already
            flush()
            self._fail(str(exc))
        except Exception as exc:  # the thread must never die silently
            flush()
            log.error("training failed:\n%s", traceback.format_exc())
            self._fail(f"Training stopped by an error: {type(exc).__name__}: {exc}")
        finally:
            if board is not None:
                board.close()  # joins the event writer's thread

    def _fail(self, message: str) -> None:
        self.ended.emit(RunEnded(self.job.run_id, "failed", None, message))

    def _keep_snapshots(self, trainer: Trainer, writer: RunWriter) -> None:
        """Give the writer a SnapshotStore with the CLI's defaults, unless the job keeps none or
        one snapshot of this model would not fit the budget (then the run trains without)."""
        budget = self.job.snapshot_budget_mb
        if budget is None:
            budget = DEFAULT_BUDGET_MB
        if writer.snapshots is not None or budget == 0:
            return
        try:
            store = SnapshotStore(writer.path, DEFAULT_EVERY_S, budget)
            store.check_room(trainer.model)
        except ConfigError as exc:
            log.warning("no weight snapshots for the timeline: %s", exc)
            return
        writer.snapshots = store


@dataclass(frozen=True)
class PreviewRequest:
    """Fresh weights to show: a model of model_config drawn with seed (as a Trainer would)."""

    model_config: GPTConfig
    tokenizer: Tokenizer
    seed: int
    is_current: Callable[[], bool]  # False once the window asked for something newer


class InspectWorker(QObject):
    """Inspects the newest prompt on the newest snapshot; stale requests are skipped.

    Only this, so a keystroke never waits behind an analysis or a sample (AnalysisWorker)."""

    inspected = Signal(object)  # core.inspection.PromptInspection
    failed = Signal(str)

    def __init__(self, snapshots: SnapshotBox) -> None:
        super().__init__()
        self.snapshots = snapshots
        self.inspector = Inspector()
        self._prompt = ""
        self._pending = False
        self._lens = False  # the logit lens is computed only while the Lens tab shows it
        self._viewed: tuple[str, int] | None = None  # (run folder, step) on the timeline

    @Slot()
    def start(self) -> None:
        """In the worker's thread: one torch thread here (see keep_gui_thread_serial)."""
        use_torch_threads(1)

    @Slot(str)
    def request(self, prompt: str) -> None:
        self._prompt = prompt
        self._schedule()

    @Slot()
    def refresh(self) -> None:
        """New weights arrived: show the current prompt on them (unless a past step is viewed)."""
        if self._viewed is None:
            self._schedule()

    @Slot(object)
    def view(self, viewed: tuple[str, int] | None) -> None:
        """Show the prompt on the snapshot of (run folder, step) — the nearest kept — or on the
        newest weights again (None). Moves made while an inspection runs collapse into one."""
        self._viewed = viewed
        if viewed is None:
            drop_shared_cache()  # back to Live: the snapshots' memory goes
        self._schedule()

    @Slot(bool)
    def set_lens(self, shown: bool) -> None:
        """Add the logit lens to every inspection (shown) or leave it out; shown: inspect now."""
        self._lens = shown
        if shown:
            self._schedule()

    @Slot(object)
    def set_knockout(self, knockout: Knockout) -> None:
        """Heads to knock out from now on: the current prompt is shown without them."""
        self.inspector.set_knockout(knockout)
        self._schedule()

    def _inspect_viewed(self) -> PromptInspection:
        folder, step = self._viewed
        snapshot = shared_cache(folder).get(step)
        return self.inspector.inspect(snapshot, self._prompt, lens=self._lens)

    @Slot(object)
    def preview(self, request: PreviewRequest) -> None:
        """Untrained weights for the settings, so the views show a model before any training.

        Dropped when a newer request (or a clear) was made since: it would show stale weights."""
        if not request.is_current():
            return
        state = seeded_gpt(request.model_config, request.seed).state_dict()
        if request.is_current():
            self.snapshots.publish(0, request.model_config, request.tokenizer, state)
            self._schedule()

    def _schedule(self) -> None:
        # many requests queued while one inspection runs collapse into a single next one
        if not self._pending:
            self._pending = True
            QTimer.singleShot(0, self._process)

    @Slot()
    def _process(self) -> None:
        self._pending = False
        if self._viewed is not None:
            _deliver(self._inspect_viewed, self.inspected.emit, self.failed, "show that step")
            return
        snapshot = self.snapshots.latest()
        if snapshot is None:
            return
        _deliver(
            lambda: self.inspector.inspect(snapshot, self._prompt, lens=self._lens),
            self.inspected.emit,
            self.failed,
            "inspect the prompt",
        )


class AnalysisWorker(QObject):
    """The longer jobs on the newest snapshot: head and unit analyses, samples of text."""

    sampled = Signal(object)  # (ShownRequest, Sample or None: it failed)
    headsAnalysed = Signal(object)  # core.head_report.HeadReport
    # the same report without the knockout losses, sent before they are measured (seconds)
    headsLabelled = Signal(object)
    viewedHeadsAnalysed = Signal(object)  # HeadReport of a snapshot the timeline shows
    unitAnalysed = Signal(object)  # (ShownRequest, core.inspection.UnitReport)
    embeddingsMapped = Signal(object)  # core.embedding_map.EmbeddingMap
    lensAnalysed = Signal(object)  # (ShownRequest, core.inspection.DepthLosses)
    labelsExported = Signal(str)  # the path of a CSV of head labels over time, written
    failed = Signal(str)

    def __init__(self, snapshots: SnapshotBox) -> None:
        super().__init__()
        self.snapshots = snapshots
        self.inspector = Inspector()  # its own copy of the weights: no sharing across threads
        self.analyst = Analyst(self.inspector)
        self.corpus: Corpus | None = None
        # the snapshot mapped last (a version, or (run folder, step)): not mapped twice
        self._mapped: int | tuple[str, int] | None = None  # the frame mapped last
        self._last_map: EmbeddingMap | None = None  # the frame shown last: the next aligns to it
        self._ablation = "mean"  # how the knockout losses replace a head, as the window does

    @Slot()
    def start(self) -> None:
        """One torch thread, and below the inspection thread's priority (above training's):
        a keystroke's inspection takes the core from an analysis at once. Then torch's lazy
        imports, frozen (core.performance.freeze_torch_optimizer_imports)."""
        use_torch_threads(1)
        lower_priority(ANALYSIS_NICENESS)
        freeze_torch_optimizer_imports()  # seconds, so here and not in the GUI thread

    @Slot(object)
    def set_corpus(self, corpus: Corpus) -> None:
        self.corpus = corpus

    @Slot()
    def release_memory(self) -> None:
        """Hand freed memory back to the system (a dropped trainer's): at the lecture preset
        that takes a few hundred ms, which the window must not wait for."""
        release_free_memory()

    @Slot(object)
    def set_knockout(self, knockout: Knockout) -> None:
        """Samples run without these heads; knockout losses use its ablation."""
        self.inspector.set_knockout(knockout)
        self._ablation = knockout.ablation

    @Slot(bool)
    def analyse_heads(self, losses: bool = False) -> None:
        """Profiles and labels of every head; with losses, the knockout losses too, and the
        labels are sent first (headsLabelled)."""
        snapshot = self.snapshots.latest()
        if snapshot is None or self.corpus is None:
            return
        corpus, ablation = self.corpus, self._ablation if losses else None
        _deliver(
            lambda: self.analyst.heads(snapshot, corpus, ablation, self.headsLabelled.emit),
            self.headsAnalysed.emit,
            self.failed,
            "analyse the heads",
        )
        release_free_memory()  # an analysis's batches, else kept for reuse (core/performance.py)

    @Slot(object)
    def analyse_heads_at(self, viewed: tuple[str, int]) -> None:
        """Profiles and labels of every head at the snapshot (run folder, step) the timeline
        shows, for the grid's badges of that step (viewedHeadsAnalysed)."""
        if self.corpus is None:
            return
        corpus = self.corpus
        _deliver(
            lambda: self.analyst.heads(self._kept(viewed), corpus),
            self.viewedHeadsAnalysed.emit,
            self.failed,
            "analyse the heads at that step",
        )

    @Slot(object)
    def analyse_unit(self, request: ShownRequest) -> None:
        """A feed-forward unit's top contexts and the dead units, on the model the views show
        (unitAnalysed); skipped when a newer request was made meanwhile."""
        layer, unit = request.unit
        self._analyse_shown(
            request,
            lambda snapshot, corpus: self.analyst.unit(
                snapshot, corpus, layer, unit, knockout=request.knockout
            ),
            self.unitAnalysed,
            f"analyse unit {unit} of layer {layer + 1}",
        )

    @Slot(object)
    def analyse_lens(self, request: ShownRequest) -> None:
        """The logit lens's loss by depth over validation windows, on the model the views show
        (lensAnalysed); skipped when a newer request was made meanwhile."""
        self._analyse_shown(
            request,
            lambda snapshot, corpus: self.analyst.depth_losses(
                snapshot, corpus, knockout=request.knockout
            ),
            self.lensAnalysed,
            "measure the loss by depth",
        )

    def _analyse_shown(
        self,
        request: ShownRequest,
        analyse: Callable[[Snapshot, Corpus], object],
        done: SignalInstance,
        what: str,
    ) -> None:
        """done((request, analyse(the request's snapshot, corpus))), unless superseded."""
        if not request.is_current() or self.corpus is None:
            return
        latest = self.snapshots.latest()
        if request.viewed is None and latest is None:
            return
        corpus = self.corpus
        _deliver(
            lambda: analyse(self._kept(request.viewed or latest), corpus),
            lambda report: done.emit((request, report)),
            self.failed,
            what,
        )
        release_free_memory()  # an analysis's batches, else kept for reuse (core/performance.py)

    @Slot(object)
    def sample(self, request: ShownRequest) -> None:
        """A sample of text (request.sample) written by the model the views show, without the
        knocked-out heads: sampled((request, Sample)), or (request, None) after telling why it
        could not be written; skipped when a newer request was made."""
        if not request.is_current():
            return
        latest = self.snapshots.latest()
        prompt, temperature, n_chars = request.sample

        def write() -> Sample:
            snapshot = self._kept(request.viewed or latest)
            text = self.inspector.sample(snapshot, prompt, n_chars, temperature)
            heads = tuple(request.knockout.heads_in(snapshot.config))  # as set_knockout set them
            return Sample(*text, snapshot.step, heads, request.knockout.ablation if heads else "")

        written: list[Sample] = []
        if request.viewed is None and latest is None:
            self.failed.emit("There is no model to sample from yet: train one or open a run.")
        else:
            _deliver(write, written.append, self.failed, "sample")
        self.sampled.emit((request, written[0] if written else None))  # None: failed, as told

    @Slot(object)
    def map_embeddings(self, snapshot: tuple[str, int] | None) -> None:
        """The embedding map of snapshot — (run folder, step) of one kept for the timeline, or
        None: the newest weights — unless that one was mapped last, turned to match the frame
        mapped before it (an SVD of the vocab_size x n_embd table)."""
        if snapshot is None:
            snapshot = self.snapshots.latest()
            if snapshot is None or snapshot.version == self._mapped:
                return
            self._mapped = snapshot.version
        elif snapshot == self._mapped:
            return
        else:
            self._mapped = snapshot
        _deliver(
            lambda: embedding_map(self._kept(snapshot), self._last_map),
            self._on_mapped,
            self.failed,
            "map the embeddings",
        )

    def _kept(self, snapshot: Snapshot | tuple[str, int]) -> Snapshot:
        """A (run folder, step) read from the folder's snapshots (core.timeline); a Snapshot as
        it is. Raises RunError for a damaged or missing snapshot."""
        if not isinstance(snapshot, tuple):
            return snapshot
        folder, step = snapshot
        return shared_cache(folder).get(step)

    def _on_mapped(self, frame: EmbeddingMap) -> None:
        self._last_map = frame
        self.embeddingsMapped.emit(frame)

    @Slot(str, str)
    def export_labels(self, folder: str, path: str) -> None:
        """Every head's label at every snapshot of the run folder (core.timeline) as CSV."""

        def write() -> str:
            rows = labels_over_time(folder)
            with open(path, "w", newline="", encoding="utf-8") as out:
                write_labels_csv(rows, out)
            return path

        _deliver(write, self.labelsExported.emit, self.failed, "export the head labels")
        release_free_memory()
