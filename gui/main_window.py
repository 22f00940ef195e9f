"""HeadWatch's one window: setup dock, prompt, attention grid, feed-forward, loss, predictions.

The window only wires widgets to the two worker threads (training, inspection) through signals;
all model maths happens in core, in those threads.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gc
import json
import logging
import math
import platform
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
import PySide6
from headwatch.core import __version__ as headwatch_version
from headwatch.core.compare import differing_labels, flat_settings
from headwatch.core.config import ConfigError
from headwatch.core.control import SnapshotBox
from headwatch.core.corpus import Corpus, CorpusError, builtin_corpus, load_corpus, load_text_file
from headwatch.core.paths import config_dir
from headwatch.core.storage import RunError
from headwatch.gui.attention_grid import AttentionGrid
from headwatch.gui.compare_view import CompareView
from headwatch.gui.ffn_view import FfnView
from headwatch.gui.head_table import HeadTable
from headwatch.gui.lines_view import AttentionLinesView
from headwatch.gui.loss_plot import LossPlot
from headwatch.gui.neuron_view import NeuronView
from headwatch.gui.prediction_view import PredictionView, SampleView
from headwatch.gui.setup_panel import SetupPanel
from headwatch.gui.text_display import quoted_char
from headwatch.gui.threads import WorkerThread
from PySide6.QtCore import QByteArray, QPoint, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:  # torch-backed: imported once the window shows, for a fast start
    from headwatch.core.inspection import HeadReport, PromptInspection, UnitReport
    from headwatch.core.ladder import Stage
    from headwatch.gui.training import TrainingSession

PAUSED = "paused"  # gui.training's state names, without importing it (and torch) at start

log = logging.getLogger("headwatch")

STARTUP_DELAY_MS = 150
AUTO_ANALYSIS_MAX_PARAMS = 2_000_000  # larger models analyse heads on request only (CPU cost)
# While training, heads are re-analysed at an evaluation at most this often, and once more when
# the run pauses or ends. At baby an analysis costs ~0.15 s of a core; at every evaluation (~6 s)
# it took ~9 % of training's speed in the window (bench/ui_latency.py rounds, with and without).
AUTO_ANALYSIS_SECONDS = 15.0
LADDER_ITERS = 2000  # per stage: the smallest budget at which the lecture's ordering held
DEFAULT_PROMPT = "ROMEO:\\nBut soft, what light"


@functools.cache  # once a process: a collection takes ~0.15 s, and tests build many windows
def settle_startup_objects() -> None:
    """Exempt everything built at start-up (torch, Qt, the widgets) from Python's full garbage
    collections: each one walked them all, holding the GIL for 120-240 ms (every thread stopped;
    at the lecture preset a keystroke waited ~270 ms). Collected first, so no garbage is kept."""
    gc.collect()
    gc.freeze()


def prompt_from_field(text: str) -> str:
    """The prompt line edit cannot hold a newline, so '\\n' typed there stands for one."""
    return text.replace("\\n", "\n")


def render_svg(widget: QWidget, path: str | Path) -> None:
    """The widget as drawn, into an SVG file (text and lines as vectors, heatmaps as images)."""
    if not Path(path).parent.is_dir():
        raise FileNotFoundError(2, "no such folder", str(Path(path).parent))
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(widget.size())
    generator.setViewBox(widget.rect())
    generator.setTitle(f"HeadWatch — {widget.objectName()}")
    painter = QPainter(generator)
    try:
        widget.render(painter, QPoint(0, 0))
    finally:
        painter.end()


def titled(title: str, widget: QWidget) -> QWidget:
    """A view under a small bold heading."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    label = QLabel(title)
    label.setObjectName("viewTitle")
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    return box


class MainWindow(QMainWindow):
    # to the inspection thread (queued)
    inspectRequested = Signal(str)
    refreshRequested = Signal()
    sampleRequested = Signal(str, float, int)
    corpusChanged = Signal(object)
    headsAnalysisRequested = Signal()
    unitAnalysisRequested = Signal(int, int)

    def __init__(self, settings_path: str | Path | None = None) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("HeadWatch — watch a transformer learn")
        self.corpus: Corpus | None = None
        self.last_error = ""
        self.last_inspection: PromptInspection | None = None
        self.head_labels: list[list[str]] | None = None
        self._auto_analysis_at = -math.inf  # time.monotonic() of the last automatic analysis
        self._auto_analysis_owed = False  # an evaluation came since then
        self._ladder: list[Stage] = []  # stages still to train, when the ladder runs
        self._run_stats: dict[str, dict] = {}  # per run: best val, last train, tokens/s, seconds
        self._settings = QSettings(
            str(settings_path or config_dir() / "headwatch.ini"), QSettings.Format.IniFormat
        )

        self.snapshots = SnapshotBox()
        self.session: TrainingSession | None = None  # made once the window shows (torch loads)
        self.inspect_thread: WorkerThread | None = None
        self.analysis_thread: WorkerThread | None = None
        self._build_widgets()
        self._build_menus()
        self._connect()
        self._restore_settings()
        # after the first paint, so the window is on screen while torch loads
        QTimer.singleShot(STARTUP_DELAY_MS, self._finish_startup)

    def _finish_startup(self) -> None:
        """The window is up: now load torch, start the worker threads, load the corpus."""
        from headwatch.core.performance import keep_gui_thread_serial
        from headwatch.gui.training import TrainingSession

        keep_gui_thread_serial()  # before this thread's first torch op: training keeps the cores
        self.session = TrainingSession(self.snapshots, self)
        self._connect_session()
        self._start_inspector()
        self._load_startup_corpus()
        settle_startup_objects()

    def ready(self) -> bool:
        return self.session is not None

    # --- construction -----------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.setup = SetupPanel()
        # F5 belongs to the Train action (it also resumes a pause); one owner avoids an ambiguity
        self.setup.train_button.setShortcut(QKeySequence())
        self.setup_dock = QDockWidget("Setup", self)
        self.setup_dock.setObjectName("setupDock")
        self.setup_dock.setWidget(self.setup)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.setup_dock)

        self.prompt_edit = QLineEdit(DEFAULT_PROMPT)
        self.prompt_edit.setObjectName("promptEdit")
        self.prompt_edit.setPlaceholderText("Type a prompt — \\n starts a new line")
        self.prompt_edit.setClearButtonEnabled(True)
        self.prompt_status = QLabel()
        self.prompt_status.setObjectName("promptStatus")
        self.prompt_status.setWordWrap(False)

        self.attention_grid = AttentionGrid()
        self.ffn_view = FfnView()
        # both heatmap views at once, stacked: the grid is about as tall as it is wide
        self.views = QSplitter(Qt.Orientation.Vertical)
        self.views.setObjectName("viewSplitter")
        self.views.addWidget(
            titled("Attention — communication: rows are layers, columns heads", self.attention_grid)
        )
        self.views.addWidget(
            titled(
                "Feed-forward — computation: hidden units (after ReLU) per character", self.ffn_view
            )
        )
        self.views.setSizes([620, 330])

        self.loss_plot = LossPlot()
        self.prediction_view = PredictionView()
        self.sample_view = SampleView()
        self.sample_view.set_enabled(False)
        self.head_table = HeadTable()
        self.lines_view = AttentionLinesView()
        self.neuron_view = NeuronView()
        self.compare_view = CompareView()

        predictions = QSplitter(Qt.Orientation.Vertical)
        predictions.addWidget(self.prediction_view)
        predictions.addWidget(self.sample_view)
        heads = QSplitter(Qt.Orientation.Vertical)
        heads.addWidget(self.head_table)
        heads.addWidget(self.lines_view)
        self.analysis_tabs = QTabWidget()
        self.analysis_tabs.setObjectName("analysisTabs")
        self.analysis_tabs.addTab(predictions, "Predictions")
        self.analysis_tabs.addTab(heads, "Heads")
        self.analysis_tabs.addTab(self.neuron_view, "FFN unit")
        self.analysis_tabs.addTab(self.compare_view, "Compare runs")

        right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("rightSplitter")
        right.addWidget(self.loss_plot)
        right.addWidget(self.analysis_tabs)
        right.setSizes([400, 500])

        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.main_splitter.setObjectName("mainSplitter")
        self.main_splitter.addWidget(self.views)
        self.main_splitter.addWidget(right)
        self.main_splitter.setStretchFactor(0, 3)
        self.main_splitter.setStretchFactor(1, 2)
        self.main_splitter.setSizes([820, 540])  # the heads get the larger share

        prompt_row = QHBoxLayout()
        prompt_label = QLabel("Prompt")
        prompt_label.setObjectName("promptLabel")
        prompt_row.addWidget(prompt_label)
        prompt_row.addWidget(self.prompt_edit, 1)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(prompt_row)
        layout.addWidget(self.prompt_status)
        layout.addWidget(self.main_splitter, 1)
        self.setCentralWidget(central)
        self.resize(1500, 950)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_corpus_action = self._action(
            file_menu, "Open &corpus…", self.choose_corpus, "Ctrl+O"
        )
        self._action(file_menu, "Open &run…", self.choose_run, "Ctrl+Shift+O")
        self._action(file_menu, "&Save run as…", self.choose_save_run, "Ctrl+S")
        export_menu = file_menu.addMenu("&Export")
        self._action(
            export_menu,
            "Both &heatmaps as PNG…",
            lambda: self.choose_export("heatmaps", "png"),
            "Ctrl+E",
        )
        for kind, title in (
            ("attention", "&Attention grid"),
            ("ffn", "&Feed-forward view"),
            ("loss", "&Loss plot"),
        ):
            for fmt in ("png", "svg"):
                self._action(
                    export_menu,
                    f"{title} as {fmt.upper()}…",
                    lambda k=kind, f=fmt: self.choose_export(k, f),
                )
        export_menu.addSeparator()
        self._action(export_menu, "Loss &history as CSV…", self.choose_export_csv)
        self._action(export_menu, "Prompt &inspection as JSON…", self.choose_export_json)
        self._action(export_menu, "&Compare table as CSV…", self.choose_export_compare)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        train_menu = self.menuBar().addMenu("&Train")
        self.train_action = self._action(train_menu, "&Train", self.train, "F5")
        self._action(train_menu, "&Pause / Resume", self.toggle_pause, "F6")
        self._action(train_menu, "&Stop", self.stop, "Shift+F5")
        self._action(train_menu, "&Retrain", self.retrain, "Ctrl+F5")
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.setup_dock.toggleViewAction())
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About HeadWatch", self.show_about)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _connect(self) -> None:
        self.setup.trainRequested.connect(self.train)
        self.setup.pauseRequested.connect(self.toggle_pause)
        self.setup.resumeRequested.connect(self.toggle_pause)
        self.setup.stopRequested.connect(self.stop)
        self.setup.retrainRequested.connect(self.retrain)
        self.setup.openCorpusRequested.connect(self.choose_corpus)
        self.setup.builtinCorpusRequested.connect(lambda: self.set_corpus(None))
        self.prompt_edit.textChanged.connect(self._on_prompt_changed)
        # before the first run, the views follow the setup with fresh weights (debounced)
        self._preview_timer = QTimer(self, singleShot=True, interval=150)
        self._preview_timer.timeout.connect(self._preview_settings)
        self.setup.settingsChanged.connect(self._preview_timer.start)
        self.sample_view.sampleRequested.connect(self._on_sample_requested)
        self.attention_grid.headSelected.connect(self._on_head_selected)
        self.head_table.headSelected.connect(self.attention_grid.select_head)
        self.head_table.analyseRequested.connect(self.analyse_heads)
        self.ffn_view.unitSelected.connect(self.analyse_unit)
        self.compare_view.ladderRequested.connect(self.run_ladder)
        self.compare_view.runSelected.connect(self._on_compare_selected)

    def _connect_session(self) -> None:
        self.session.runStarted.connect(self._on_run_started)
        self.session.stepsReady.connect(self._on_steps)
        self.session.evaluated.connect(self._on_eval)
        self.session.snapshotReady.connect(self.refreshRequested)
        self.session.stateChanged.connect(self.setup.set_state)
        self.session.stateChanged.connect(self._on_state_changed)
        self.session.failed.connect(lambda message: self.show_error("Training stopped", message))
        self.session.finished.connect(self._on_finished)

    def _start_inspector(self) -> None:
        from headwatch.gui.workers import AnalysisWorker, InspectWorker

        worker = InspectWorker(self.snapshots)
        self.inspect_worker = worker
        self.inspectRequested.connect(worker.request)
        self.refreshRequested.connect(worker.refresh)
        worker.inspected.connect(self._on_inspected)
        worker.failed.connect(lambda message: self.show_error("Inspection", message))
        self.inspect_thread = WorkerThread(worker, "inspect")
        self.inspect_thread.start(worker.start)

        analysis = AnalysisWorker(self.snapshots)
        self.analysis_worker = analysis
        self.sampleRequested.connect(analysis.sample)
        self.corpusChanged.connect(analysis.set_corpus)
        self.headsAnalysisRequested.connect(analysis.analyse_heads)
        self.unitAnalysisRequested.connect(analysis.analyse_unit)
        analysis.headsAnalysed.connect(self._on_heads_analysed)
        analysis.unitAnalysed.connect(self._on_unit_analysed)
        analysis.sampled.connect(self._on_sampled)
        analysis.failed.connect(lambda message: self.show_error("Analysis", message))
        self.analysis_thread = WorkerThread(analysis, "analyse")
        self.analysis_thread.start(analysis.start)

    # --- corpus -----------------------------------------------------------------------------

    def _load_startup_corpus(self) -> None:
        path = self._settings.value("corpus/path", "", type=str)
        if path:
            try:
                self.set_corpus(path, quiet=True)
                return
            except CorpusError as exc:
                log.warning("last corpus not usable: %s", exc)
        self.set_corpus(None)

    def set_corpus(self, path: str | None, quiet: bool = False) -> bool:
        """Load a corpus (None: built-in). On failure the previous corpus stays loaded."""
        if path is None:
            self.setup.set_corpus_loading("Loading the Shakespeare corpus…")
            self.statusBar().showMessage("Loading the built-in Shakespeare corpus…")
            QApplication.processEvents()
        try:
            corpus = builtin_corpus() if path is None else load_text_file(path)
        except CorpusError as exc:
            if self.corpus is not None:
                self.setup.set_corpus(self.corpus)
            if quiet:
                raise
            self.show_error("Cannot use this corpus", f"{exc}\n\nThe previous corpus stays loaded.")
            return False
        self.corpus = corpus
        self.setup.set_corpus(corpus)
        self.corpusChanged.emit(corpus)
        self._settings.setValue("corpus/path", corpus.path or "")
        self.statusBar().showMessage(corpus.summary(), 5000)
        if not self.session.is_training() and not self._publish_fresh_weights():
            # the weights on show belong to another vocabulary: show nothing rather than them
            self.snapshots.clear()
            self.last_inspection = None
            for view in (self.attention_grid, self.ffn_view, self.prediction_view, self.lines_view):
                view.clear()
            self.sample_view.set_enabled(False)
            self.prompt_status.setText("Fix the settings under Setup to see the model")
        return True

    @Slot()
    def _preview_settings(self) -> None:
        # before the first run, or when nothing is on show (e.g. after a corpus change)
        if not self.ready():
            return
        nothing_shown = self.session.current is None or self.snapshots.latest() is None
        if self.corpus is not None and not self.session.is_training() and nothing_shown:
            self._publish_fresh_weights()

    def _publish_fresh_weights(self) -> bool:
        """Untrained weights, so the views show something the moment a prompt is typed."""
        from headwatch.core.trainer import Trainer

        try:
            model_config = self.setup.model_config()
            train_config = self.setup.train_config()
            Trainer(
                self.corpus, model_config, train_config, snapshots=self.snapshots
            ).publish_snapshot(force=True)
        except (ConfigError, CorpusError) as exc:
            log.info("no preview weights: %s", exc)
            return False
        self.sample_view.set_enabled(True)
        self._request_inspection()
        return True

    # --- training controls ------------------------------------------------------------------

    def _current_settings(self) -> dict | None:
        try:
            return flat_settings(
                self.setup.model_config().to_dict(),
                self.setup.train_config().to_dict(),
                self.corpus.name,
            )
        except (ConfigError, AttributeError):
            return None

    @Slot()
    def train(self) -> None:
        """F5: resume a pause, continue the current run if its settings match, else a new run."""
        if not self.ready():
            return
        if self.session.state == PAUSED:
            self.session.resume()
            return
        if self.session.is_training():
            return
        run = self.session.current
        if (
            run is not None
            and self.session.can_continue()
            and not run.finished
            and run.settings == self._current_settings()
        ):
            self.session.continue_current()
            return
        self.retrain()

    def _can_start(self) -> bool:
        """Training needs the worker threads up and a corpus; says so when there is none."""
        if not self.ready():
            return False
        if self.corpus is None:
            self.show_error("No corpus yet", "Wait for the corpus to load, or open a text file.")
            return False
        return True

    @Slot()
    def retrain(self) -> None:
        """Fresh weights with the current settings, as a new run."""
        if not self._can_start():
            return
        try:
            model_config = self.setup.model_config()
            train_config = self.setup.train_config()
            self.session.start_new(self.corpus, model_config, train_config)
        except (ConfigError, CorpusError, RunError) as exc:
            self.show_error("Cannot start training", str(exc))
            return
        self.sample_view.set_enabled(True)

    @Slot()
    def stop(self) -> None:
        if self.ready():
            self.session.stop()

    @Slot()
    def toggle_pause(self) -> None:
        if not self.ready():
            return
        if self.session.state == PAUSED:
            self.session.resume()
        else:
            self.session.pause()

    @Slot(str)
    def _on_run_started(self, run_id: str) -> None:
        self.loss_plot.start_run(run_id, run_id)
        self._relabel_runs()
        self.setup.reset_progress()
        self._auto_analysis_at, self._auto_analysis_owed = -math.inf, False  # new heads: at once
        self.statusBar().showMessage(f"Training into {self.session.runs[run_id].path}", 5000)

    def _relabel_runs(self) -> None:
        """Ladder runs are named by their stage, other runs by what sets them apart."""
        runs = [r for r in self.session.runs.values() if "title" not in r.extra]
        names = differing_labels([r.settings for r in runs])
        labels = dict(zip((r.run_id for r in runs), names, strict=True))
        for run in self.session.runs.values():
            label = run.extra.get("title") or labels[run.run_id]
            if run.run_id in self.loss_plot.run_ids():
                self.loss_plot.set_label(run.run_id, label)
            self._update_compare(run.run_id, label=label)

    def _update_compare(self, run_id: str, **changes) -> None:
        run = self.session.runs.get(run_id)
        if run is None:
            return
        stats = self._run_stats.setdefault(run_id, {"label": run_id, "best_val": None})
        stats.update(changes)
        trainer = run.trainer
        if "val" in changes:
            best = stats["best_val"]
            stats["best_val"] = changes["val"] if best is None else min(best, changes["val"])
        if trainer is not None:
            stats["params"] = trainer.model.num_parameters()
            stats["step"] = trainer.step
        self.compare_view.upsert_run(
            run_id,
            {
                "label": stats["label"],
                "colour": self.loss_plot.colour(run_id)
                if run_id in self.loss_plot.run_ids()
                else "#888",
                "params": stats.get("params", 0),
                "step": stats.get("step", 0),
                "best_val": stats["best_val"],
                "last_train": stats.get("train"),
                "tokens_per_s": stats.get("tokens_per_s"),
                "seconds": stats.get("seconds", 0.0),
                "path": run.path,
            },
        )

    @Slot(str, list, list, int, int, float, float)
    def _on_steps(self, run_id, steps, losses, step, total, tokens_per_s, elapsed) -> None:
        self.loss_plot.add_train_points(run_id, steps, losses)
        self._update_compare(run_id, tokens_per_s=tokens_per_s, seconds=elapsed)
        if self.session.current is not None and run_id == self.session.current.run_id:
            remaining = (total - step) * elapsed / step if step else None
            self.setup.set_progress(step, total, tokens_per_s, remaining)

    @Slot(str, int, float, float)
    def _on_eval(self, run_id: str, step: int, train: float, val: float) -> None:
        self.loss_plot.add_val_point(run_id, step, train, val)
        self._update_compare(run_id, train=train, val=val)
        current = self.session.current
        small = (
            current is not None
            and current.trainer is not None
            and current.trainer.model.num_parameters() <= AUTO_ANALYSIS_MAX_PARAMS
        )
        if small and run_id == current.run_id:  # the badges follow training
            self._auto_analysis_owed = True
            if time.monotonic() - self._auto_analysis_at >= AUTO_ANALYSIS_SECONDS:
                self._analyse_heads_owed()

    def _analyse_heads_owed(self) -> None:
        if self._auto_analysis_owed:
            self._auto_analysis_owed = False
            self._auto_analysis_at = time.monotonic()
            self.analyse_heads()

    @Slot(str)
    def _on_state_changed(self, state: str) -> None:
        if state == PAUSED:  # someone stopped to look: the badges catch up
            self._analyse_heads_owed()

    @Slot(str, str)
    def _on_finished(self, run_id: str, reason: str) -> None:
        self._analyse_heads_owed()
        run = self.session.runs.get(run_id)
        where = run.path if run else ""
        word = "Finished" if reason == "done" else "Stopped"
        self.statusBar().showMessage(f"{word}; the run is saved in {where}", 10000)
        if self._ladder and reason == "done":
            self._next_ladder_stage()
        elif self._ladder:
            self._end_ladder("The ladder was stopped.")

    # --- prompt and inspection --------------------------------------------------------------

    def prompt(self) -> str:
        return prompt_from_field(self.prompt_edit.text())

    @Slot(str)
    def _on_prompt_changed(self, _text: str) -> None:
        self._request_inspection()

    def _request_inspection(self) -> None:
        self.inspectRequested.emit(self.prompt())

    @Slot(object)
    def _on_inspected(self, result: PromptInspection) -> None:
        # answers come in order; one for a prompt already changed is still shown (a newer one
        # follows), or fast typing on a big model would show nothing until the typing stops
        self.last_inspection = result
        self._show_prompt_status(result)
        if result.empty:
            self.attention_grid.clear()
            self.ffn_view.clear()
            self.prediction_view.clear()
            return
        # ladder stages without attention (the bigram) or without feed-forward have nothing to draw
        if result.attention.shape[0]:
            self.attention_grid.set_data(result.attention, result.tokens)
        else:
            self.attention_grid.clear()
        if result.ffn.shape[0] and result.ffn.shape[2]:
            self.ffn_view.set_data(result.ffn, result.tokens)
        else:
            self.ffn_view.clear()
        self.prediction_view.set_predictions(result.next_chars)
        self._show_lines()

    def _show_prompt_status(self, result: PromptInspection) -> None:
        notes, problem = [], False
        if result.prompt.unknown:
            chars = ", ".join(quoted_char(u.char) for u in result.prompt.unknown[:8])
            notes.append(f"Not in the vocabulary, left out: {chars}")
            problem = True
        if result.prompt.truncated:
            notes.append(
                f"Longer than the block size: showing the last {len(result.tokens)} characters"
            )
        if not notes:
            notes.append(
                f"{len(result.tokens)} characters · weights at step {result.step:,}"
                if result.tokens
                else "Type a prompt to see what every head attends to"
            )
        self.prompt_status.setText(" · ".join(notes))
        self.prompt_edit.setToolTip(result.prompt.describe_unknown() if problem else "")
        if self.prompt_edit.property("problem") != problem:  # re-styling costs every keystroke
            for widget in (self.prompt_status, self.prompt_edit):
                widget.setProperty("problem", problem)
                widget.style().unpolish(widget)
                widget.style().polish(widget)

    # --- what heads and units do ------------------------------------------------------------

    @Slot(int, int)
    def _on_head_selected(self, layer: int, head: int) -> None:
        self.head_table.select(layer, head)
        self._show_lines()

    def _show_lines(self) -> None:
        """The selected head of the latest inspection, as BertViz-style lines."""
        result = self.last_inspection
        layer, head = self.attention_grid.selected_head
        if result is None or result.empty or layer >= result.attention.shape[0]:
            self.lines_view.clear()
            return
        if head >= result.attention.shape[1]:
            self.lines_view.clear()
            return
        labels = self.head_labels
        label = (
            labels[layer][head]
            if labels and layer < len(labels) and head < len(labels[layer])
            else ""
        )
        self.lines_view.set_head(
            result.attention[layer, head],
            result.tokens,
            f"Layer {layer + 1} · Head {head + 1}",
            label,
        )

    @Slot()
    def analyse_heads(self) -> None:
        self.head_table.set_busy(True)
        self.headsAnalysisRequested.emit()

    @Slot(object)
    def _on_heads_analysed(self, report: HeadReport) -> None:
        self.head_table.set_busy(False)
        self.head_labels = report.labels
        self.head_table.set_stats(report.rows, report.description)
        self.attention_grid.set_head_labels(report.labels)
        self._show_lines()

    @Slot(int, int)
    def analyse_unit(self, layer: int, unit: int) -> None:
        self.neuron_view.set_busy(True)
        self.analysis_tabs.setCurrentWidget(self.neuron_view)
        self.unitAnalysisRequested.emit(layer, unit)

    @Slot(object)
    def _on_unit_analysed(self, report: UnitReport) -> None:
        self.neuron_view.set_busy(False)
        self.neuron_view.set_unit(report.layer, report.unit, report.contexts, report.description)
        self.neuron_view.set_dead_units(report.dead, report.hidden)

    # --- the lecture's ladder ---------------------------------------------------------------

    @Slot()
    def run_ladder(self) -> None:
        """Train every stage of the lecture's ladder in turn, each a run of this session."""
        from headwatch.core.ladder import STAGES

        if not self._can_start():
            return
        self.session.stop(wait=True)
        self._ladder = list(STAGES)
        self.compare_view.set_ladder_running(True)
        self.analysis_tabs.setCurrentWidget(self.compare_view)
        self._next_ladder_stage()

    def _next_ladder_stage(self) -> None:
        from headwatch.core.ladder import STAGES
        from headwatch.core.ladder import train_config as ladder_train_config

        if not self._ladder:
            self._end_ladder("The ladder is done: compare the stages' val loss.")
            return
        stage = self._ladder.pop(0)
        done = len(STAGES) - len(self._ladder)
        self.compare_view.set_ladder_status(f"stage {done} of {len(STAGES)}: {stage.label}")
        try:
            self.session.start_new(
                self.corpus,
                stage.model_config(self.corpus.vocab_size),
                ladder_train_config(LADDER_ITERS, eval_iters=50),
                title=stage.label,
            )
        except (ConfigError, CorpusError, RunError) as exc:
            self._end_ladder("")
            self.show_error("Cannot run the ladder", str(exc))
            return
        self.analysis_tabs.setCurrentWidget(self.compare_view)

    def _end_ladder(self, status: str) -> None:
        self._ladder = []
        self.compare_view.set_ladder_running(False)
        self.compare_view.set_ladder_status(status)

    @Slot(str)
    def _on_compare_selected(self, run_id: str) -> None:
        run = self.session.runs.get(run_id)
        if run is not None:
            self.statusBar().showMessage(f"{self.loss_plot.label(run_id)}: {run.path}", 8000)

    @Slot(float, int)
    def _on_sample_requested(self, temperature: float, n_chars: int) -> None:
        self.sample_view.set_busy(True)
        self.sampleRequested.emit(self.prompt(), temperature, n_chars)

    @Slot(str, str)
    def _on_sampled(self, prompt: str, continuation: str) -> None:
        self.sample_view.set_busy(False)
        self.sample_view.set_sample(prompt, continuation)

    # --- files ------------------------------------------------------------------------------

    def choose_corpus(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a UTF-8 text file", "", "Text (*.txt);;All files (*)"
        )
        if path:
            self.set_corpus(path)

    def choose_run(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a HeadWatch run folder")
        if path:
            self.open_run(path)

    def open_run(self, path: str | Path) -> bool:
        """Show a saved run: its weights in the views, its curve on the plot."""
        from headwatch.core.runs import load_run

        if not self.ready():
            return False
        try:
            record = load_run(path)
            if record.checkpoint is None:
                raise RunError(f"{path}: has no checkpoint yet, so there are no weights to show")
        except RunError as exc:
            self.show_error("Cannot open this run", f"{exc}\n\nNothing was changed.")
            return False
        corpus = None
        try:
            corpus = load_corpus(record.corpus.get("path"))
            if corpus.tokenizer.chars != record.tokenizer.chars:
                corpus = None
        except CorpusError as exc:
            log.info("run corpus unavailable: %s", exc)
        try:
            run_id = self.session.adopt(record, corpus)
        except (RunError, ConfigError, CorpusError) as exc:
            self.show_error("Cannot open this run", str(exc))
            return False
        if corpus is not None:  # the window now shows (and would continue) this run
            self.corpus = corpus
            self.setup.set_corpus(corpus)
            self.corpusChanged.emit(corpus)
        self.setup.restore({**record.model_config.to_dict(), **record.train_config.to_dict()})
        steps = [r.step for r in record.metrics if r.loss is not None]
        losses = [r.loss for r in record.metrics if r.loss is not None]
        self.loss_plot.add_train_points(run_id, steps, losses)
        for row in record.metrics:
            if row.val is not None:
                self.loss_plot.add_val_point(run_id, row.step, row.train, row.val)
        self.sample_view.set_enabled(True)
        self._request_inspection()
        note = "" if corpus else " (its corpus is not available: inspect only)"
        self.statusBar().showMessage(f"Opened {path} at step {record.step:,}{note}", 10000)
        return True

    def choose_save_run(self) -> None:
        if self.session.current is None:
            self.show_error("Nothing to save", "Train a model or open a run first.")
            return
        path = QFileDialog.getExistingDirectory(self, "Choose a folder to copy the run into")
        if path:
            self.save_run_as(Path(path) / Path(self.session.current.path).name)

    def save_run_as(self, destination: str | Path) -> bool:
        run = self.session.current
        if run is None:
            return False
        try:
            shutil.copytree(run.path, destination)
        except (OSError, shutil.Error) as exc:
            self.show_error("Cannot save the run", f"{destination}: {exc}")
            return False
        self.statusBar().showMessage(f"Run copied to {destination}", 8000)
        return True

    def _save_path(self, title: str, name: str, pattern: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, title, name, pattern)
        return path

    def choose_export(self, kind: str, fmt: str) -> None:
        name = f"headwatch-{kind}.{fmt}"
        path = self._save_path(f"Export the {kind} view", name, f"{fmt.upper()} (*.{fmt})")
        if path:
            self.export_view(kind, path)

    def choose_export_csv(self) -> None:
        path = self._save_path("Export the loss history", "headwatch-loss.csv", "CSV (*.csv)")
        if path:
            self.export_loss_csv(path)

    def choose_export_json(self) -> None:
        name = "headwatch-inspection.json"
        path = self._save_path("Export the prompt's inspection", name, "JSON (*.json)")
        if path:
            self.export_inspection_json(path)

    def choose_export_compare(self) -> None:
        path = self._save_path("Export the compare table", "headwatch-runs.csv", "CSV (*.csv)")
        if path:
            self._guarded_write(path, self.compare_view.export_csv)

    def export_view(self, kind: str, path: str | Path) -> bool:
        """kind: heatmaps, attention, ffn or loss; PNG or SVG by the file's suffix."""
        widget = {
            "heatmaps": self.views,
            "attention": self.attention_grid,
            "ffn": self.ffn_view,
            "loss": self.loss_plot,
        }[kind]
        if Path(path).suffix.lower() == ".svg":
            return self._guarded_write(path, lambda p: render_svg(widget, p))
        if not widget.grab().save(str(path), "PNG"):
            self.show_error("Cannot export", f"{path}: the image could not be written")
            return False
        return True

    def export_loss_csv(self, path: str | Path) -> bool:
        """Every run of the session: its per-step losses and its evaluations, one row each."""
        from headwatch.core.runs import read_metrics

        def write(target: str | Path) -> None:
            with open(target, "w", newline="", encoding="utf-8") as fh:
                out = csv.writer(fh)
                out.writerow(["run", "label", "folder", "step", "elapsed", "loss", "train", "val"])
                for run in self.session.runs.values():
                    shown = run.run_id in self.loss_plot.run_ids()
                    label = self.loss_plot.label(run.run_id) if shown else ""
                    for row in read_metrics(Path(run.path)):
                        values = ["" if v is None else v for v in (row.loss, row.train, row.val)]
                        out.writerow([run.run_id, label, run.path, row.step, row.elapsed, *values])

        return self._guarded_write(path, write)

    def export_inspection_json(self, path: str | Path) -> bool:
        """The prompt's inspection, in the schema of `headwatch inspect --json`."""
        result = self.last_inspection
        if result is None or result.empty:
            self.show_error("Nothing to export", "Type a prompt first.")
            return False
        text = json.dumps(result.to_json())
        return self._guarded_write(path, lambda p: Path(p).write_text(text, encoding="utf-8"))

    def _guarded_write(self, path: str | Path, write) -> bool:
        try:
            write(path)
        except OSError as exc:
            self.show_error("Cannot export", f"{path}: {exc.strerror or exc}")
            return False
        return True

    # --- messages ---------------------------------------------------------------------------

    def show_error(self, title: str, message: str) -> None:
        """A clear, non-blocking message; the app keeps running."""
        log.warning("%s: %s", title, message)
        self.last_error = message
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self
        )
        box.setObjectName("errorBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def show_about(self) -> None:
        import torch

        versions = (
            f"HeadWatch {headwatch_version}<br>Python {platform.python_version()}"
            f" · torch {torch.__version__} · PySide6 {PySide6.__version__}"
            f" · pyqtgraph {pg.__version__} · numpy {np.__version__}"
        )
        QMessageBox.about(
            self,
            "About HeadWatch",
            "<b>HeadWatch</b> trains the character-level GPT of the “let's build GPT” lecture "
            f"and shows every attention head learn.<br><br>{versions}",
        )

    # --- settings and shutdown --------------------------------------------------------------

    def _restore_settings(self) -> None:
        geometry = self._settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = self._settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        for splitter in (self.main_splitter, self.views):
            sizes = self._settings.value(f"window/{splitter.objectName()}")
            if isinstance(sizes, QByteArray):
                splitter.restoreState(sizes)
        with contextlib.suppress(ValueError, TypeError):  # a garbled entry: keep the defaults
            self.setup.restore(json.loads(self._settings.value("setup", "{}", type=str)))
        prompt = self._settings.value("prompt", None, type=str)
        if prompt:
            self.prompt_edit.setText(prompt)

    def save_settings(self) -> None:
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/state", self.saveState())
        for splitter in (self.main_splitter, self.views):
            self._settings.setValue(f"window/{splitter.objectName()}", splitter.saveState())
        self._settings.setValue("setup", json.dumps(self.setup.settings()))
        self._settings.setValue("prompt", self.prompt_edit.text())
        self._settings.sync()

    def shutdown(self) -> None:
        """Stop training (it saves the run), then join the viewing threads."""
        if self.session is not None:
            self.session.shutdown()
        for thread in (self.inspect_thread, self.analysis_thread):
            if thread is not None and thread.is_running():
                thread.stop()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)
