"""HeadWatch's one window: layout, menus, shortcuts, settings, and the wiring of views to the
application controller (gui/controller.py), which holds the state and runs the threads.

Widgets render what the controller publishes and send the user's intent back to it; dialogs
live here, what they choose is done there.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import platform
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
import PySide6
from PySide6.QtCore import QByteArray, QRect, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QWidget,
)

from headwatch.core import __version__ as headwatch_version
from headwatch.core.config import ConfigError, GPTConfig, TrainConfig
from headwatch.core.corpus import Corpus, CorpusError
from headwatch.core.paths import config_dir
from headwatch.gui.attention_grid import AttentionGrid
from headwatch.gui.compare_view import CompareView
from headwatch.gui.controller import AppController
from headwatch.gui.embedding_view import EmbeddingView
from headwatch.gui.exports import save_widget
from headwatch.gui.ffn_view import FfnView
from headwatch.gui.follow_bar import FollowBar
from headwatch.gui.heads_panel import HeadsPanel
from headwatch.gui.lens_view import LensPanel
from headwatch.gui.loss_plot import LossPlot
from headwatch.gui.messages import (
    Evaluation,
    FollowStatus,
    KnockoutState,
    LadderStatus,
    Problem,
    RunState,
    Sample,
    Timeline,
)
from headwatch.gui.neuron_view import NeuronView
from headwatch.gui.prediction_view import PredictionView, SampleView
from headwatch.gui.prompt_bar import PromptBar
from headwatch.gui.replay_export import ReplayExporter
from headwatch.gui.run_list import RunInfo
from headwatch.gui.setup_panel import SetupPanel
from headwatch.gui.timeline_bar import TimelineBar
from headwatch.gui.widgets import column, splitter, titled

if TYPE_CHECKING:  # torch-backed: imported once the window shows, for a fast start
    from headwatch.core.head_report import HeadReport
    from headwatch.core.inspection import DepthLosses, PromptInspection, UnitReport

log = logging.getLogger("headwatch")

STARTUP_DELAY_MS = 150
DEFAULT_SIZE = (1500, 950)  # the first window's size where the screen has room for it
# what the prompt's views say while they have nothing to show though a prompt is typed
LOADING_HINT = "Loading the model…"
SETTINGS_HINT = "Fix the settings under Setup to see the model"


@functools.cache  # once a process: a collection takes ~0.15 s, and tests build many windows
def settle_startup_objects() -> None:
    """Exempt everything built at start-up (torch, Qt, the widgets) from Python's full garbage
    collections: each one walked them all, holding the GIL for 120-240 ms (every thread stopped;
    at the lecture preset a keystroke waited ~270 ms). Collected first, so no garbage is kept."""
    gc.collect()
    gc.freeze()


def fit_rect(rect: QRect, available: QRect) -> QRect:
    """rect shrunk to fit inside available and moved into it (a window restored on a smaller
    screen, or a first window larger than the screen)."""
    width = min(rect.width(), available.width())
    height = min(rect.height(), available.height())
    left = min(max(rect.left(), available.left()), available.right() - width + 1)
    top = min(max(rect.top(), available.top()), available.bottom() - height + 1)
    return QRect(left, top, width, height)


class MainWindow(QMainWindow):
    """The window. `controller` holds the app's state; tests drive both."""

    def __init__(
        self,
        settings_path: str | Path | None = None,
        controller: AppController | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("HeadWatch — watch a transformer learn")
        # not a child of the window: it outlives it while its threads end
        self.controller = controller or AppController()
        self.last_error = ""
        self.follow_at_start: str | None = None  # `headwatch --follow RUN_DIR`
        self.replay: ReplayExporter | None = None  # the GIF export in progress, if any
        # the latest analysis's badges: (labels, kinds), each [layer][head]
        self._head_labels: tuple[list[list[str]], list[list[str]]] | None = None
        self._settings = QSettings(
            str(settings_path or config_dir() / "headwatch.ini"), QSettings.Format.IniFormat
        )
        self._build_widgets()
        self._build_menus()
        self._connect()
        # the prompt is there, the model is not yet: "type a prompt" would tell the user wrong;
        # and the corpus is on its way (after torch), not missing
        self._show_hints(LOADING_HINT)
        self.setup.set_corpus_loading("Loading the corpus…")
        self._restore_settings()
        self._restore_snapshot_budget()
        # after the first paint, so the window is on screen while torch loads
        QTimer.singleShot(STARTUP_DELAY_MS, self._finish_startup)

    def _finish_startup(self) -> None:
        """The window is up: now load torch, start the worker threads, load the corpus."""
        self.request_inspection()  # the prompt restored before there was anyone to ask
        if not self.controller.start():  # closed before it started
            return
        self.setup.set_devices(self.controller.devices())
        self._restore_device()
        path = self._settings.value("corpus/path", "", type=str)
        try:
            if not path or not self.set_corpus(path, quiet=True):
                self.set_corpus(None)
        except CorpusError as exc:
            log.warning("last corpus not usable: %s", exc)
            self.set_corpus(None)
        settle_startup_objects()
        if self.follow_at_start:
            self.controller.follow_run(self.follow_at_start)

    def _build_widgets(self) -> None:
        self.setup = SetupPanel()
        # F5 belongs to the Train action (it also resumes a pause); one owner avoids an ambiguity
        self.setup.train_button.setShortcut(QKeySequence())
        self.setup_dock = QDockWidget("Setup", self)
        self.setup_dock.setObjectName("setupDock")
        self.setup_dock.setWidget(self.setup)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.setup_dock)

        self.prompt_bar = PromptBar()
        self.prompt_edit, self.prompt_status = self.prompt_bar.edit, self.prompt_bar.status

        self.attention_grid = AttentionGrid()
        self.ffn_view = FfnView()
        # both heatmap views at once, stacked: the grid is about as tall as it is wide
        self.views = splitter(
            Qt.Orientation.Vertical,
            [
                titled(
                    "Attention — communication: rows are layers, columns heads", self.attention_grid
                ),
                titled(
                    "Feed-forward — computation: hidden units (after ReLU) per character",
                    self.ffn_view,
                ),
            ],
            sizes=[620, 330],
            name="viewSplitter",
        )

        self.loss_plot = LossPlot()
        self.prediction_view = PredictionView()
        self.sample_view = SampleView()
        self.sample_view.set_enabled(False)
        self.heads_panel = HeadsPanel()
        self.head_table, self.lines_view = self.heads_panel.table, self.heads_panel.lines
        self.neuron_view = NeuronView()
        self.compare_view = CompareView()
        self.embedding_view = EmbeddingView()

        predictions = splitter(Qt.Orientation.Vertical, [self.prediction_view, self.sample_view])
        self.analysis_tabs = QTabWidget()
        self.analysis_tabs.setObjectName("analysisTabs")
        self.analysis_tabs.addTab(predictions, "Predictions")
        self.analysis_tabs.addTab(self.heads_panel, "Heads")
        # short titles, so that every tab shows on a laptop's screen; the tooltips say more
        self.analysis_tabs.addTab(self.neuron_view, "Unit")
        self.analysis_tabs.addTab(self.compare_view, "Runs")
        self.analysis_tabs.addTab(self.embedding_view, "Embeddings")
        for widget, tip in (
            (self.heads_panel, "What each head does; knock heads out"),
            (self.neuron_view, "One feed-forward hidden unit's strongest contexts"),
            (self.compare_view, "Compare the session's runs; the lecture's ladder"),
            (self.embedding_view, "The token embeddings' map and the position similarities"),
        ):
            self.analysis_tabs.setTabToolTip(self.analysis_tabs.indexOf(widget), tip)
        self.lens_panel = LensPanel()
        self.analysis_tabs.insertTab(2, self.lens_panel, "Lens")
        self.analysis_tabs.setTabToolTip(2, "The logit lens: each sub-layer's guess, loss by depth")

        # the tabs' tables need the height more than the curves
        right = splitter(
            Qt.Orientation.Vertical,
            [self.loss_plot, self.analysis_tabs],
            sizes=[330, 630],
            name="rightSplitter",
        )
        # the heads get the larger share
        self.main_splitter = splitter(
            Qt.Orientation.Horizontal,
            [self.views, right],
            sizes=[820, 540],
            stretch=[3, 2],
            name="mainSplitter",
        )

        central = QWidget()
        self.timeline_bar = TimelineBar()
        column(central, self.prompt_bar, self.timeline_bar, (self.main_splitter, 1), margin=6)
        self.setCentralWidget(central)

        # following a run another process writes: what it is doing, and a way to stop
        self.follow_bar = FollowBar()
        self.follow_label, self.stop_follow_button = self.follow_bar.label, self.follow_bar.button
        self.stop_follow_action = self.follow_bar.action
        self.statusBar().addPermanentWidget(self.follow_bar)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_corpus_action = self._action(
            file_menu, "Open &corpus…", self.choose_corpus, "Ctrl+O"
        )
        self._action(file_menu, "Open &run…", self.choose_run, "Ctrl+Shift+O")
        self._action(file_menu, "&Follow run…", self.choose_follow_run, "Ctrl+Shift+F")
        file_menu.addAction(self.stop_follow_action)
        self._action(file_menu, "&Save run as…", self.choose_save_run, "Ctrl+S")
        export_menu = file_menu.addMenu("&Export")
        self._action(export_menu, "Both &heatmaps as PNG…", self._export("heatmaps.png"), "Ctrl+E")
        for kind, title in (("attention", "&Attention grid"), ("ffn", "&Feed-forward view"),
                            ("loss", "&Loss plot")):  # fmt: skip
            for fmt in ("png", "svg"):
                self._action(
                    export_menu, f"{title} as {fmt.upper()}…", self._export(f"{kind}.{fmt}")
                )
        export_menu.addSeparator()
        for name, title in (("loss.csv", "Loss &history as CSV…"),
                            ("inspection.json", "Prompt &inspection as JSON…"),
                            ("runs.csv", "&Compare table as CSV…")):  # fmt: skip
            self._action(export_menu, title, self._export(name))
        export_menu.addSeparator()
        self._action(export_menu, "&Replay of the views as GIF…", self.choose_replay_gif)
        self._action(export_menu, "Head labels &over time as CSV…", self.choose_labels_csv)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        train_menu = self.menuBar().addMenu("&Train")
        train_menu.setToolTipsVisible(True)  # a disabled action's tooltip says why
        self.train_action = self._action(train_menu, "&Train", self.train, "F5")
        pause = self._action(train_menu, "&Pause / Resume", self.controller.toggle_pause, "F6")
        stop = self._action(train_menu, "&Stop", self.controller.stop, "Shift+F5")
        self.retrain_action = self._action(train_menu, "&Retrain", self.retrain, "Ctrl+F5")
        setup = self.setup
        self._run_actions = (
            (self.train_action, setup.train_button),
            (pause, setup.pause_button),
            (stop, setup.stop_button),
            (self.retrain_action, setup.retrain_button),
        )
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
        """User intent to the controller; what it publishes to the views. The controller's
        signals go to bound methods only: Qt drops those connections when the window is
        deleted, and the controller can outlive it while its threads end."""
        self._connect_training()
        self._connect_prompt_views()
        self._connect_analyses()

    def _connect_training(self) -> None:
        """The setup panel, the loss plot and the status bar: the corpus, the runs and their
        lifecycle, following a run."""
        c = self.controller
        self.setup.trainRequested.connect(self.train)
        self.setup.pauseRequested.connect(c.pause)
        self.setup.resumeRequested.connect(c.resume)
        self.setup.stopRequested.connect(c.stop)
        self.setup.retrainRequested.connect(self.retrain)
        self.setup.builtinCorpusRequested.connect(lambda: self.set_corpus(None))
        self.setup.openCorpusRequested.connect(self.choose_corpus)
        self.setup.tensorboard_check.toggled.connect(self._on_tensorboard_toggled)
        # before the first run, the views follow the setup with fresh weights (debounced)
        self._preview_timer = QTimer(self, singleShot=True, interval=150)
        self._preview_timer.timeout.connect(lambda: self._preview(replace=False))
        self.setup.settingsChanged.connect(self._preview_timer.start)
        c.stateChanged.connect(self._on_state_changed)
        self.setup.runButtonsChanged.connect(self._sync_run_actions)
        self._sync_run_actions()
        c.progressChanged.connect(self.setup.set_progress)
        c.progressChanged.connect(self.loss_plot.show_progress)
        c.corpusLoading.connect(self.setup.set_corpus_loading)
        c.corpusChanged.connect(self._on_corpus_changed)
        c.runAdded.connect(self._on_run_added)
        c.runChanged.connect(self._on_run_changed)
        c.stepsReady.connect(self.loss_plot.add_steps)
        c.evaluated.connect(self._on_evaluated)
        c.evaluated.connect(self.loss_plot.add_evaluation)
        c.problem.connect(self._on_problem)
        c.status.connect(self._on_status)
        c.followChanged.connect(self._on_follow_changed)
        self.stop_follow_action.triggered.connect(c.stop_following)

    def _connect_prompt_views(self) -> None:
        """The prompt, the timeline, and the views of the prompt: attention, feed-forward,
        predictions, samples."""
        c = self.controller
        self.prompt_edit.textChanged.connect(self.request_inspection)
        self.sample_view.sampleRequested.connect(
            lambda temperature, n_chars: c.sample(self.prompt(), temperature, n_chars)
        )
        self.timeline_bar.stepRequested.connect(c.view_step)
        self.timeline_bar.liveRequested.connect(lambda: c.view_step(None))
        c.inspected.connect(self._on_inspected)
        c.inspected.connect(self.timeline_bar.show_inspection)
        # the grid's head badges: labels come before the analysis's knockout losses
        c.headsLabelled.connect(self._on_heads_labelled)
        c.weightsCleared.connect(self._on_weights_cleared)
        c.sampling.connect(self.sample_view.set_writing)  # the box names the weights writing
        c.sampled.connect(self._on_sampled)
        c.timelineChanged.connect(self._on_timeline_changed)

    def _connect_analyses(self) -> None:
        """The analysis tabs: the heads and their knockout, the lens, one unit, the runs' table
        and the ladder, the embeddings."""
        c = self.controller
        self.attention_grid.headSelected.connect(self.heads_panel.select)
        self.head_table.headSelected.connect(self.attention_grid.select_head)
        self.head_table.analyseRequested.connect(c.analyse_heads)
        self.head_table.measureRequested.connect(lambda: c.analyse_heads(losses=True))
        self.head_table.knockoutToggled.connect(c.toggle_knockout)
        self.attention_grid.knockoutToggled.connect(c.toggle_knockout)
        self.heads_panel.knockout.restoreRequested.connect(c.restore_all_heads)
        self.heads_panel.knockout.ablationChosen.connect(c.set_ablation)
        c.headsAnalysing.connect(self.head_table.set_busy)
        c.headsAnalysed.connect(self._on_heads_analysed)
        c.viewedHeadsAnalysed.connect(self._on_viewed_heads_analysed)
        c.knockoutChanged.connect(self._on_knockout_changed)
        self.lens_panel.lossRequested.connect(c.analyse_lens)
        c.lensAnalysing.connect(self.lens_panel.set_busy)
        c.lensAnalysed.connect(self._on_lens_analysed)
        self.ffn_view.unitSelected.connect(c.analyse_unit)
        c.unitAnalysing.connect(self._on_unit_analysing)
        c.unitAnalysed.connect(self._on_unit_analysed)
        self.compare_view.ladderRequested.connect(c.run_ladder)
        self.compare_view.runSelected.connect(self._on_compare_selected)
        c.ladderChanged.connect(self._on_ladder_changed)
        c.embeddingsMapped.connect(self.embedding_view.set_map)
        self.analysis_tabs.currentChanged.connect(self._on_tab_changed)

    # --- intent -----------------------------------------------------------------------------

    def _configs(self) -> tuple[GPTConfig, TrainConfig] | None:
        """The setup's settings; an invalid one is told, and None returned."""
        try:
            return self.setup.model_config(), self.setup.train_config()
        except ConfigError as exc:
            self.show_error("Cannot start training", str(exc))
            return None

    @Slot()
    def train(self) -> None:
        """F5: resume a pause, continue the current run if its settings match, else a new run."""
        if self.controller.state is RunState.PAUSED:
            self.controller.resume()
        elif self.controller.is_ready() and (configs := self._configs()):
            self.controller.train(*configs)

    @Slot()
    def retrain(self) -> None:
        """Fresh weights with the current settings, as a new run."""
        if self.controller.is_ready() and (configs := self._configs()):
            self.controller.retrain(*configs)

    def set_corpus(self, path: str | None, quiet: bool = False) -> bool:
        """Load a corpus (None: built-in); the previous one stays on failure."""
        if not self.controller.set_corpus(path, quiet):
            return False
        self._settings.setValue("corpus/path", self.controller.corpus.path or "")
        self._preview(replace=True)
        return True

    def _preview(self, replace: bool) -> None:
        if self.controller.corpus is None:
            return
        try:
            configs = self.setup.model_config(), self.setup.train_config()
        except ConfigError as exc:
            log.info("no preview weights: %s", exc)
            configs = None, None
        if self.controller.preview(*configs, replace=replace):
            self.sample_view.set_enabled(True)

    def prompt(self) -> str:
        return self.prompt_bar.prompt()

    @Slot()
    def request_inspection(self) -> None:
        self.controller.inspect(self.prompt())

    # --- what the controller publishes ------------------------------------------------------

    @Slot(object)
    def _on_run_added(self, run: RunInfo) -> None:
        self.loss_plot.start_run(run.run_id, run.label, run.colour)
        self.lens_panel.forget_evaluations()  # the new run has no evaluation yet
        self.compare_view.upsert_run(run.run_id, run.compare_row())
        self.sample_view.clear()  # written by the run before: not this one's
        self.sample_view.set_enabled(True)

    @Slot(object)
    def _on_run_changed(self, run: RunInfo) -> None:
        if run.run_id in self.loss_plot.run_ids():
            self.loss_plot.set_label(run.run_id, run.label)
        self.compare_view.upsert_run(run.run_id, run.compare_row())

    @Slot(object)
    def _on_corpus_changed(self, corpus: Corpus) -> None:
        self.setup.set_corpus(corpus)
        if self.controller.current is not None and self.controller.current.folder:
            # an opened run brings its corpus: the form shows that run's settings
            self.setup.restore(self.controller.current.settings)

    def _show_hints(self, hint: str) -> None:
        """The prompt's views say `hint` (why they show nothing) until an inspection arrives."""
        for view in (self.attention_grid, self.ffn_view, self.lens_panel):
            view.clear(hint)
        self.prompt_status.setText(hint)

    @Slot()
    def _on_weights_cleared(self) -> None:
        """The weights on show belong to another vocabulary: show nothing rather than them."""
        self.prediction_view.clear()
        self.embedding_view.clear()
        self._show_hints(SETTINGS_HINT)
        self.heads_panel.set_inspection(None)
        self.sample_view.set_enabled(False)

    @Slot(object)
    def _on_state_changed(self, state: RunState) -> None:
        # the retrain hint compares the form with the settings of the run in progress
        current = self.controller.current
        self.setup.set_state(state, current.settings if current is not None else None)

    @Slot()
    def _sync_run_actions(self) -> None:
        """The Train menu's actions (and their keys) work when the setup panel's run buttons do,
        by the panel's rule, and say why not as they do; F5 also resumes a pause, which the
        Train button leaves to Resume."""
        resumes = self.setup.state() is RunState.PAUSED
        for action, button in self._run_actions:
            why = "" if resumes and action is self.train_action else self.setup.why_not(button)
            action.setEnabled(not why)
            action.setToolTip(why)
            action.setStatusTip(why)

    @Slot(object)
    def _on_problem(self, problem: Problem) -> None:
        self.show_error(problem.title, problem.message)

    @Slot(str)
    def _on_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    @Slot(object)
    def _on_ladder_changed(self, status: LadderStatus) -> None:
        self.compare_view.set_ladder_running(status.running)
        self.compare_view.set_ladder_status(status.text)
        if status.running:
            self.analysis_tabs.setCurrentWidget(self.compare_view)

    @Slot(object)
    def _on_follow_changed(self, status: FollowStatus) -> None:
        self.follow_bar.set_status(status)
        self.setup.block_train(status.why_not_train)
        if status.active and status.total:
            self.setup.show_steps(status.step, status.total, status.short)

    @Slot(bool)
    def _on_tensorboard_toggled(self, checked: bool) -> None:
        self.controller.tensorboard = checked

    @Slot(str)
    def _on_compare_selected(self, run_id: str) -> None:
        run = self.controller.runs.get(run_id)
        if run is not None:
            self.statusBar().showMessage(f"{run.label}: {run.folder}", 8000)

    @Slot(object)
    def _on_sampled(self, sample: Sample | None) -> None:
        if sample is None:  # it could not be written: the reason was told
            self.sample_view.written_failed()
            return
        self.sample_view.set_sample(
            sample.prompt, sample.continuation, sample.step, sample.knocked_out, sample.ablation
        )

    @Slot(object)
    def _on_inspected(self, result: PromptInspection) -> None:
        self.prompt_bar.show_inspection(result)
        self.heads_panel.set_inspection(result)
        if result.lens is not None:
            self.lens_panel.set_lens(result.lens)
        if result.empty:
            self.lens_panel.clear()
            self.attention_grid.clear()
            self.ffn_view.clear()
            self.prediction_view.clear()
            return
        self.sample_view.set_enabled(True)
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

    @Slot(object)
    def _on_timeline_changed(self, timeline: Timeline) -> None:
        was_viewing = self.loss_plot.step_marker()
        self.timeline_bar.set_timeline(timeline.steps, timeline.viewed)
        self.loss_plot.set_step_marker(timeline.viewed)
        self.lens_panel.view_step(timeline.viewed)
        if was_viewing != timeline.viewed:
            # the newest weights' labels, or none until the viewed step's own come
            # (_on_viewed_heads_analysed)
            labels = self._head_labels if timeline.viewed is None else None
            self.attention_grid.set_head_labels(*(labels or (None, None)))

    # --- what heads and units do ------------------------------------------------------------

    @Slot(object)
    def _on_viewed_heads_analysed(self, report: HeadReport) -> None:
        """The labels of the snapshot the timeline shows, if it still shows it."""
        shown = self.controller.last_inspection
        if self.controller.viewed_step is not None and shown and shown.step == report.step:
            self.attention_grid.set_head_labels(report.labels, report.kinds)

    @Slot(object)
    def _on_heads_analysed(self, report: HeadReport) -> None:
        self.heads_panel.set_report(report)
        self._on_heads_labelled(report)

    @Slot(object)
    def _on_heads_labelled(self, report: HeadReport) -> None:
        """The grid's badges: the newest labels, while the Heads tab waits for the losses."""
        self._head_labels = (report.labels, report.kinds)
        if self.controller.viewed_step is None:
            self.attention_grid.set_head_labels(report.labels, report.kinds)

    @Slot(object)
    def _on_knockout_changed(self, state: KnockoutState) -> None:
        self.heads_panel.set_knockout(state)
        self.attention_grid.set_knocked_out(state.heads)
        self.lens_panel.set_knocked_out(bool(state.heads))

    @Slot()
    def _on_unit_analysing(self) -> None:
        self.neuron_view.set_busy(True)
        self.analysis_tabs.setCurrentWidget(self.neuron_view)

    @Slot(object)
    def _on_unit_analysed(self, report: UnitReport) -> None:
        self.neuron_view.set_busy(False)
        self.neuron_view.set_unit(report.layer, report.unit, report.contexts, report.description)
        self.neuron_view.set_dead_units(report.dead, report.hidden)

    # --- the logit lens ---------------------------------------------------------------------

    @Slot(int)
    def _on_tab_changed(self, _index: int) -> None:
        """The lens and the embedding map are computed only while their tab is on show."""
        shown = self.analysis_tabs.currentWidget()
        self.controller.show_lens(shown is self.lens_panel)
        self.controller.follow_embeddings(shown is self.embedding_view)
        self.controller.show_unit(shown is self.neuron_view)
        self.controller.show_sample(shown.isAncestorOf(self.sample_view))

    @Slot(object)
    def _on_lens_analysed(self, report: DepthLosses) -> None:
        self.lens_panel.set_depth_losses(report)

    @Slot(object)
    def _on_evaluated(self, evaluation: Evaluation) -> None:
        current = self.controller.current
        if current is not None and evaluation.run_id == current.run_id:
            self.lens_panel.add_evaluation(evaluation.step, evaluation.val)

    # --- dialogs and files ------------------------------------------------------------------

    def choose_corpus(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a UTF-8 text file", "", "Text (*.txt);;All files (*)"
        )
        if path:
            self.set_corpus(path)

    def choose_run(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a HeadWatch run folder")
        if path:
            self.controller.open_run(path)

    def choose_follow_run(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Follow a run folder that another process is training"
        )
        if path:
            self.controller.follow_run(path)

    def choose_save_run(self) -> None:
        run = self.controller.current
        if run is None or not run.folder:
            self.show_error("Nothing to save", "Train a model or open a run first.")
            return
        path = QFileDialog.getExistingDirectory(self, "Choose a folder to copy the run into")
        if path:
            self.controller.save_run_as(Path(path) / Path(run.folder).name)

    def _export(self, name: str) -> Callable[[], None]:
        """A menu action: ask where to save headwatch-<name>, then write it there."""
        kind, fmt = name.split(".")
        write = {
            "loss.csv": self.controller.export_loss_csv,
            "inspection.json": self.controller.export_inspection_json,
            "runs.csv": lambda p: self.controller.write_file(p, self.compare_view.export_csv),
        }.get(name, lambda p: self.export_view(kind, p))

        def ask() -> None:
            pattern = f"{fmt.upper()} (*.{fmt})"
            path, _ = QFileDialog.getSaveFileName(self, "Export", f"headwatch-{name}", pattern)
            if path:
                write(path)

        return ask

    def export_view(self, kind: str, path: str | Path) -> bool:
        """kind: heatmaps, attention, ffn or loss; PNG or SVG by the file's suffix."""
        widget = {
            "heatmaps": self.views,
            "attention": self.attention_grid,
            "ffn": self.ffn_view,
            "loss": self.loss_plot,
        }[kind]
        return self.controller.write_file(path, lambda p: save_widget(widget, p))

    def choose_replay_gif(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export replay", "headwatch-replay.gif", "GIF (*.gif)"
        )
        if path:
            self.export_replay(path)

    def export_replay(self, path: str | Path) -> ReplayExporter | None:
        """Write the attention and feed-forward views at every snapshot of the current run as
        an animated GIF at the timeline's speed (gui/replay_export.py); returns the exporter at
        work (its finished / failed signals end it), None when there is nothing to export."""
        steps = self.controller.timeline.steps
        if not steps:
            self.show_error("Nothing to export", "Train a run or open one with weight snapshots.")
            return None
        if self.replay is not None:
            if self.replay.running:
                return None
            self.replay.deleteLater()  # its frames
        self.timeline_bar.stop_playing()
        self.timeline_bar.setEnabled(False)
        frame_ms = round(1000 / self.timeline_bar.speed())
        self.replay = ReplayExporter(self.controller, self.views, steps, path, frame_ms, self)
        self.replay.progress.connect(self._on_replay_progress)
        self.replay.finished.connect(self._on_replay_finished)
        self.replay.failed.connect(self._on_replay_failed)
        self.replay.start()
        return self.replay

    @Slot(int, int)
    def _on_replay_progress(self, done: int, total: int) -> None:
        self.statusBar().showMessage(f"Exporting the replay: frame {done} of {total}…")

    @Slot(str, int)
    def _on_replay_finished(self, path: str, frames: int) -> None:
        self.timeline_bar.setEnabled(True)
        self.statusBar().showMessage(f"Replay of {frames} snapshots written to {path}", 8000)

    @Slot(str)
    def _on_replay_failed(self, message: str) -> None:
        self.timeline_bar.setEnabled(True)
        self.show_error("Cannot export the replay", message)

    def choose_labels_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export head labels over time", "headwatch-head-labels.csv", "CSV (*.csv)"
        )
        if path:
            self.controller.export_labels_over_time(path)

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
        if not (isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)):
            self.resize(*DEFAULT_SIZE)
        self._fit_to_screen()
        state = self._settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        for split in (self.main_splitter, self.views):
            sizes = self._settings.value(f"window/{split.objectName()}")
            if isinstance(sizes, QByteArray):
                split.restoreState(sizes)
        with contextlib.suppress(ValueError, TypeError):  # a garbled entry: keep the defaults
            self.setup.restore(json.loads(self._settings.value("setup", "{}", type=str)))
        prompt = self._settings.value("prompt", None, type=str)
        if prompt:
            self.prompt_edit.setText(prompt)

    def _restore_snapshot_budget(self) -> None:
        """[timeline] snapshot_budget_mb in the settings file: MiB of weight snapshots each run
        keeps (0: none); absent or invalid, the CLI's default."""
        value = self._settings.value("timeline/snapshot_budget_mb", None)
        if value is None:
            return
        try:
            budget = float(value)
            if not (budget == 0 or 1 <= budget < float("inf")):
                raise ValueError(value)
        except (TypeError, ValueError):
            log.warning("timeline/snapshot_budget_mb %r is not 0 or a number ≥ 1: ignored", value)
            return
        self.controller.snapshot_budget_mb = budget

    def _restore_device(self) -> None:
        """The saved device, once the devices that exist are listed."""
        with contextlib.suppress(ValueError, TypeError):
            saved = json.loads(self._settings.value("setup", "{}", type=str))
            if isinstance(saved, dict) and isinstance(saved.get("device"), str):
                self.setup.restore({"device": saved["device"]})

    def _fit_to_screen(self) -> None:
        """Keep the whole window on the screen it opens on (a first start on a small laptop
        screen, or a layout saved on a larger screen)."""
        screen = self.screen()
        if screen is None:
            return
        frame = self.frameGeometry()
        border_w = frame.width() - self.width()
        border_h = frame.height() - self.height()
        fitted = fit_rect(frame, screen.availableGeometry())
        if fitted != frame:
            self.resize(fitted.width() - border_w, fitted.height() - border_h)
            self.move(fitted.topLeft())

    def save_settings(self) -> None:
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/state", self.saveState())
        for split in (self.main_splitter, self.views):
            self._settings.setValue(f"window/{split.objectName()}", split.saveState())
        self._settings.setValue("setup", json.dumps(self.setup.settings()))
        self._settings.setValue("prompt", self.prompt_edit.text())
        self._settings.sync()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.save_settings()
        self.hide()  # at once; the threads end (and the process exits) after the step in flight
        self.controller.shutdown()  # allThreadsEnded says when they have
        super().closeEvent(event)
