"""The timeline: the current run's weight snapshots, and which one the prompt views show.

TimelineController owns the Timeline (the current run's folder, its snapshot steps, the viewed
step), lists the snapshots again as the current run changes, asks for the viewed step's weights
and, once the slider rests, its head labels, and exports every head's label over time.
AppController owns it and hands it only what it needs: the current run's id, and whether that
run's heads are analysed without a click. Its requests to the viewing threads are signals that
AppController forwards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from headwatch.gui.messages import Problem, Timeline
from headwatch.gui.run_list import RunInfo

# the timeline's viewed step gets its own head labels once the slider has rested this long
VIEWED_HEADS_DELAY_MS = 250


class TimelineController(QObject):
    """The current run's snapshots and the viewed step; see the module docstring.

    current_id() is the current run's id (None: none); heads_by_themselves() says whether the
    current run's heads are analysed without a click (small enough for the CPU)."""

    timelineChanged = Signal(object)  # Timeline
    labelsExported = Signal(str)  # the path of a CSV of head labels over time, written
    status = Signal(str)  # a line for the status bar
    problem = Signal(object)  # Problem: a message for the user
    # to the viewing threads
    view = Signal(object)  # (run folder, step) or None: to the inspection thread
    analyseHeadsAt = Signal(object)  # (run folder, step): the viewed snapshot's head labels
    exportLabels = Signal(str, str)  # (run folder, CSV path): to the analysis thread
    # the slider rested on a step, or went back to Live: the slower analyses follow the view
    rested = Signal()

    def __init__(
        self,
        current_id: Callable[[], str | None],
        heads_by_themselves: Callable[[], bool],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._current_id = current_id
        self._heads_by_themselves = heads_by_themselves
        self._timeline = Timeline("", (), None)
        # the viewed step's head labels, once the slider rests (not for every step it passes)
        self._viewed_heads_timer = QTimer(self)
        self._viewed_heads_timer.setSingleShot(True)
        self._viewed_heads_timer.setInterval(VIEWED_HEADS_DELAY_MS)
        self._viewed_heads_timer.timeout.connect(self._analyse_viewed_heads)

    @property
    def timeline(self) -> Timeline:
        return self._timeline

    def view_step(self, step: int | None) -> None:
        """Show the prompt views at the current run's snapshot of step (the nearest kept), or
        follow the newest weights again (None: Live). Ignored when the run keeps no snapshot."""
        timeline = self._timeline
        if step is not None and not timeline.steps:
            return
        if step != timeline.viewed:
            self._set_timeline(Timeline(timeline.folder, timeline.steps, step))
            self.view.emit(None if step is None else (timeline.folder, step))
            if step is None:
                self._viewed_heads_timer.stop()
                self.rested.emit()
            else:
                self._viewed_heads_timer.start()

    def _analyse_viewed_heads(self) -> None:
        timeline = self._timeline
        if timeline.viewed is not None and self._heads_by_themselves():
            self.analyseHeadsAt.emit((timeline.folder, timeline.viewed))
        self.rested.emit()

    @Slot(object)
    def follow_run(self, run: RunInfo) -> None:
        """The current run's snapshot steps, listed again as it changes (a scan of its folder,
        a few times a second while training); a new current run starts in Live."""
        from headwatch.core.snapshot_store import list_snapshots

        if run.run_id != self._current_id():
            return
        folder = run.folder or ""
        steps = tuple(s.step for s in list_snapshots(folder)) if folder else ()
        old = self._timeline
        viewed = old.viewed if folder == old.folder else None
        back_to_live = old.viewed is not None and viewed is None
        if back_to_live:
            self.view.emit(None)
        self._set_timeline(Timeline(folder, steps, viewed))
        if back_to_live:
            self.rested.emit()

    def _set_timeline(self, timeline: Timeline) -> None:
        if timeline != self._timeline:
            self._timeline = timeline
            self.timelineChanged.emit(timeline)

    def export_labels_over_time(self, path: str | Path) -> bool:
        """Every head's label at every snapshot of the current run as CSV (core.timeline), in
        the analysis thread; labelsExported(path) when written."""
        timeline = self._timeline
        if not timeline.steps:
            self.problem.emit(
                Problem("Nothing to export", "Train a run or open one that kept weight snapshots.")
            )
            return False
        self.status.emit(f"Measuring the head labels at {len(timeline.steps)} snapshots…")
        self.exportLabels.emit(timeline.folder, str(path))
        return True

    @Slot(str)
    def on_labels_exported(self, path: str) -> None:
        """The analysis thread wrote the CSV at path."""
        self.status.emit(f"Head labels over time written to {path}")
        self.labelsExported.emit(path)
