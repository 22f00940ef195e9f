"""The timeline under the prompt: a slider over the run's weight snapshots, Live, and Play.

Dragging the slider asks for the views at a snapshot's step (stepRequested); Live asks to follow
training again (liveRequested); Play steps through the snapshots from the first (or from where
the slider is) at a chosen number of snapshots per second and stops at the last. The bar shows
what the controller publishes (set_timeline, show_step) and holds no state of its own beyond
the slider's position.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QWidget,
)

SPEEDS = (1, 2, 4, 8)  # snapshots per second while playing
DEFAULT_SPEED = 2


class TimelineBar(QWidget):
    """Play, speed, a slider over snapshot steps, the step shown, and Live."""

    stepRequested = Signal(int)  # noqa: N815 - Qt naming; a snapshot step to show
    liveRequested = Signal()  # noqa: N815 - follow the newest weights again

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelineBar")
        self._steps: list[int] = []
        self._live = True
        self._shown_step: int | None = None

        label = QLabel("Timeline")
        label.setObjectName("timelineLabel")
        self.play_button = QPushButton("▶ Play", objectName="timelinePlay")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Replay the run's snapshots from the first")
        self.play_button.toggled.connect(self._on_play_toggled)
        self.speed_combo = QComboBox(objectName="timelineSpeed")
        for speed in SPEEDS:
            self.speed_combo.addItem(f"{speed}×", speed)
        self.speed_combo.setCurrentIndex(SPEEDS.index(DEFAULT_SPEED))
        self.speed_combo.setToolTip("Snapshots per second while playing")
        self.speed_combo.currentIndexChanged.connect(self._on_speed_changed)
        self.slider = QSlider(Qt.Orientation.Horizontal, objectName="timelineSlider")
        self.slider.setToolTip(
            "Drag to see every view at an earlier step (the run's weight snapshots)"
        )
        self.slider.setPageStep(1)
        self.slider.valueChanged.connect(self._on_slider_moved)
        self.slider.sliderPressed.connect(self.stop_playing)
        self.step_label = QLabel(objectName="timelineStep")
        self.step_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("Live · step 000,000"))
        self.step_label.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        self.live_button = QPushButton("● Live", objectName="timelineLive")
        self.live_button.setCheckable(True)
        self.live_button.setToolTip("Follow training: the views show the newest weights")
        self.live_button.clicked.connect(self._on_live_clicked)
        self._timer = QTimer(self, objectName="timelinePlayTimer")
        self._timer.timeout.connect(self._advance)
        self._on_speed_changed()

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(label)
        row.addWidget(self.play_button)
        row.addWidget(self.speed_combo)
        row.addWidget(self.slider, 1)
        row.addWidget(self.step_label)
        row.addWidget(self.live_button)
        self.set_timeline([], None)

    # --- what the controller publishes ------------------------------------------------------

    def set_timeline(self, steps: Sequence[int], viewed: int | None) -> None:
        """The run's snapshot steps (ascending) and the step viewed (None: Live)."""
        self._steps = list(steps)
        self._live = viewed is None
        with QSignalBlocker(self.slider):
            self.slider.setRange(0, max(len(self._steps) - 1, 0))
            if self._live:
                self.slider.setValue(self.slider.maximum())
            else:
                self.slider.setValue(self._index_of(viewed))
        has_steps = bool(self._steps)
        for widget in (self.slider, self.play_button, self.speed_combo):
            widget.setEnabled(has_steps)
        with QSignalBlocker(self.live_button):
            self.live_button.setChecked(self._live)
        if not has_steps:
            self.stop_playing()
        self._update_label()

    def show_step(self, step: int) -> None:
        """The step of the weights the views now show (the nearest snapshot kept when viewing
        the past, the newest weights in Live)."""
        self._shown_step = step
        self._update_label()

    def show_inspection(self, result) -> None:
        """A PromptInspection arrived: its weights' step is what the views show."""
        self.show_step(result.step)

    # --- playing ----------------------------------------------------------------------------

    def play(self) -> None:
        self.play_button.setChecked(True)

    def stop_playing(self) -> None:
        self.play_button.setChecked(False)

    def is_playing(self) -> bool:
        return self._timer.isActive()

    def speed(self) -> int:
        """Snapshots per second while playing."""
        return int(self.speed_combo.currentData())

    def set_speed(self, speed: int) -> None:
        self.speed_combo.setCurrentIndex(SPEEDS.index(speed))

    def steps(self) -> list[int]:
        return list(self._steps)

    def _on_play_toggled(self, on: bool) -> None:
        self.play_button.setText("❚❚ Pause" if on else "▶ Play")
        if not on:
            self._timer.stop()
            return
        if not self._steps:
            self.stop_playing()
            return
        # from the first snapshot, unless paused part-way through a replay
        start = 0 if self._live or self.slider.value() >= self.slider.maximum() else None
        self._timer.start()
        if start is not None:
            self._request(start)

    def _advance(self) -> None:
        index = self.slider.value() + 1
        if index > self.slider.maximum():
            self.stop_playing()
            return
        self._request(index)
        if index == self.slider.maximum():
            self.stop_playing()

    def _on_speed_changed(self) -> None:
        self._timer.setInterval(round(1000 / self.speed()))

    # --- the user's moves -------------------------------------------------------------------

    def _request(self, index: int) -> None:
        if self.slider.value() == index and not self._live:
            return
        if self.slider.value() == index:  # leaving Live at the slider's own position
            self._on_slider_moved(index)
        else:
            self.slider.setValue(index)

    def _on_slider_moved(self, index: int) -> None:
        if not self._steps:
            return
        step = self._steps[min(index, len(self._steps) - 1)]
        self._live = False
        with QSignalBlocker(self.live_button):
            self.live_button.setChecked(False)
        self._shown_step = step
        self._update_label()
        self.stepRequested.emit(step)

    def _on_live_clicked(self) -> None:
        self.stop_playing()
        with QSignalBlocker(self.live_button):
            self.live_button.setChecked(True)
        if not self._live:
            self.liveRequested.emit()

    def _index_of(self, step: int) -> int:
        """The index of the snapshot nearest step."""
        i = bisect.bisect_left(self._steps, step)
        if i == len(self._steps):
            return max(i - 1, 0)
        if i > 0 and step - self._steps[i - 1] <= self._steps[i] - step:
            return i - 1
        return i

    def _update_label(self) -> None:
        if not self._steps:
            self.step_label.setText("no snapshots yet")
            return
        step = "" if self._shown_step is None else f"step {self._shown_step:,}"
        self.step_label.setText(f"Live · {step}" if self._live and step else step or "Live")
