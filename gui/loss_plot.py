"""Live loss chart comparing every run of the session, TensorBoard style.

Each run draws three curves in its own colour: the raw per-step train loss (faint), its
debiased EMA (solid, the run's legend entry) and the val loss at evals (dashed, with dots).
Updates append to preallocated buffers and call ``setData`` on existing items, so the
per-batch cost stays small while training shares the CPU with the GUI.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QFont, QFontMetricsF
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from headwatch.gui.attention_grid import cache_drawing
from headwatch.gui.messages import Evaluation, Progress, StepBatch

DEFAULT_SMOOTHING = 0.6
MAX_SMOOTHING = 0.99
HINT = "Press Train (F5) to start a run"
_BACKGROUND = "#ffffff"
_FOREGROUND = "#444444"
_RAW_ALPHA = 45  # of 255: raw noise stays readable behind the smoothed line
_SAMPLES_PER_PIXEL = 1.0  # auto-downsampling target; pyqtgraph's default 5 paints 5x more
_EMA_CHUNK = 256  # points per matrix product in the vectorised EMA
_LEGEND_MIN_CHARS = 14  # a name is cut no shorter than this many x's, so runs are told apart
_LEGEND_GAP = 10  # px between a legend entry's line and its name, and between entries
_LEGEND_SAMPLE_W = 20  # px: pyqtgraph's ItemSample
_LEGEND_LABEL_PAD = 8  # px: a pyqtgraph LabelItem's width beyond its text
_LEGEND_FONT_PT = 9


@lru_cache(maxsize=4)
def _ema_kernel(weight: float) -> np.ndarray:
    """Lower-triangular K[j, k] = w**(j-k): one chunk of the EMA recurrence as a product."""
    lag = np.subtract.outer(np.arange(_EMA_CHUNK), np.arange(_EMA_CHUNK))
    return np.where(lag >= 0, weight ** np.maximum(lag, 0).astype(float), 0.0)


def _ema(
    values: np.ndarray, weight: float, last: float, count: int
) -> tuple[np.ndarray, float, int]:
    """TensorBoard's debiased EMA of ``values`` continuing from state ``(last, count)``.

    Non-finite values are passed through and do not advance the state (as TensorBoard does).
    """
    out = np.array(values, dtype=float)
    finite = np.isfinite(out)
    xs = out[finite]
    smoothed = np.empty_like(xs)
    kernel = _ema_kernel(weight)
    for start in range(0, len(xs), _EMA_CHUNK):
        chunk = xs[start : start + _EMA_CHUNK]
        m = len(chunk)
        ranks = np.arange(1, m + 1)
        lasts = weight**ranks * last + (1.0 - weight) * (kernel[:m, :m] @ chunk)
        smoothed[start : start + m] = lasts / (1.0 - weight ** (count + ranks))
        last, count = float(lasts[-1]), count + m
    out[finite] = smoothed
    return out, last, count


class _Buffer:
    """A growable float array: appends are amortised O(new points) by doubling capacity."""

    def __init__(self, capacity: int = 256) -> None:
        self._data = np.empty(capacity)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data)))
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : end] = values
        self.size = end

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.size]


@dataclass
class _Run:
    label: str
    colour: str
    raw: pg.PlotDataItem
    smooth: pg.PlotDataItem
    val: pg.PlotDataItem
    steps: _Buffer = field(default_factory=_Buffer)
    losses: _Buffer = field(default_factory=_Buffer)
    smoothed: _Buffer = field(default_factory=_Buffer)
    val_steps: _Buffer = field(default_factory=lambda: _Buffer(16))
    val_losses: _Buffer = field(default_factory=lambda: _Buffer(16))
    val_train: _Buffer = field(default_factory=lambda: _Buffer(16))
    ema_last: float = 0.0
    ema_count: int = 0

    def items(self) -> tuple[pg.PlotDataItem, ...]:
        return (self.raw, self.smooth, self.val)


@dataclass(frozen=True)
class _Hit:
    """The data point nearest the cursor."""

    run: _Run
    is_val: bool
    index: int
    x: float
    y: float


def _colour_with_alpha(colour: str, alpha: int) -> tuple[int, int, int, int]:
    c = pg.mkColor(colour)
    return (c.red(), c.green(), c.blue(), alpha)


class FittingLabel(QLabel):
    """A label showing the longest of its texts that fits its width (none if none fits), so a
    narrow column shortens it rather than cutting a word in half or widening the column."""

    def __init__(self, texts: tuple[str, ...]) -> None:
        super().__init__(texts[0])
        self.texts = texts
        # any width: the text adapts, so the label never forces the column wider
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        metrics = self.fontMetrics()
        room = self.contentsRect().width()
        fits = [t for t in self.texts if metrics.horizontalAdvance(t) <= room]
        self.setText(fits[0] if fits else "")
        super().resizeEvent(event)


class LossPlot(QWidget):
    """Train (raw + smoothed) and val loss of every run in the session, one colour per run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lossPlot")
        self._runs: dict[str, _Run] = {}
        self._weight = DEFAULT_SMOOTHING
        # The view follows the data in coarse steps (see _follow_data) until the user pans or
        # zooms; pyqtgraph's "A" button hands it back.
        self._following = True
        self._shown_range: tuple | None = None
        self._total: int | None = None  # the current run's planned steps, when known

        self._slider = QSlider(Qt.Orientation.Horizontal, objectName="smoothingSlider")
        self._slider.setRange(0, round(MAX_SMOOTHING * 100))
        self._slider.setValue(round(DEFAULT_SMOOTHING * 100))
        self._slider.setFixedWidth(90)
        self._slider.setToolTip("EMA weight of the smoothed train curves (0 = raw)")
        self._slider.valueChanged.connect(lambda v: self.set_smoothing(v / 100))
        self._slider_value = QLabel(f"{DEFAULT_SMOOTHING:.2f}")
        self._log_check = QCheckBox("Log scale", objectName="logScaleCheck")
        self._log_check.toggled.connect(self.set_log_scale)
        key = FittingLabel(("faint: raw · dashed ●: val", "dashed ●: val", "●: val"))
        key.setToolTip("solid: train loss, smoothed · faint: per step · dashed: val loss")
        key.setStyleSheet("color: palette(placeholder-text);")
        key.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        controls = QHBoxLayout()
        controls.setContentsMargins(6, 4, 6, 0)
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self._slider)
        controls.addWidget(self._slider_value)
        controls.addSpacing(16)
        controls.addWidget(self._log_check)
        controls.addWidget(key, 1)

        self._widget = pg.PlotWidget(background=_BACKGROUND)
        self._plot: pg.PlotItem = self._widget.getPlotItem()
        self._setup_plot()
        self._widget.installEventFilter(self)

        # Overlaid on the empty plot in the same grid cell, so the axes stay visible.
        self._hint = QLabel(HINT, alignment=Qt.AlignmentFlag.AlignCenter)
        self._hint.setStyleSheet("color: #999999; font-size: 14pt; background: transparent;")
        self._hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        stack = QGridLayout()
        stack.addWidget(self._widget, 0, 0)
        stack.addWidget(self._hint, 0, 0)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(controls)
        layout.addLayout(stack, 1)

    def _setup_plot(self) -> None:
        plot = self._plot
        plot.setMenuEnabled(enableMenu=False, enableViewBoxMenu=True)  # no FFT/average options
        plot.setDownsampling(auto=True, mode="peak")
        plot.setClipToView(True)
        plot.showGrid(x=True, y=True, alpha=0.15)
        # A plausible empty frame (char-level loss starts near ln 65 ≈ 4.2) instead of 0..1.
        plot.setRange(xRange=(0, 1000), yRange=(0, 5), padding=0)
        for side, text in (("bottom", "step"), ("left", "loss")):
            axis = plot.getAxis(side)
            axis.setLabel(text, color=_FOREGROUND)
            axis.setPen(_FOREGROUND)
            axis.setTextPen(_FOREGROUND)
        for side in ("bottom", "left"):
            cache_drawing(plot.getAxis(side))  # with the grid lines, as the curves move each batch
        # the legend sits above the data in the title's row, in as many columns as fit, so it
        # never hides a curve; a row more for every row of entries
        self._legend = pg.LegendItem(
            offset=None,
            labelTextColor=_FOREGROUND,
            labelTextSize=f"{_LEGEND_FONT_PT}pt",
            verSpacing=-6,
            horSpacing=_LEGEND_GAP,
        )
        plot.legend = self._legend  # PlotItem.removeItem drops a curve's entry
        plot.layout.removeItem(plot.titleLabel)
        plot.titleLabel.hide()
        plot.layout.addItem(self._legend, 0, 1)
        plot.layout.setRowFixedHeight(0, 0)
        self._legend.sigSampleClicked.connect(self._on_legend_clicked)
        self._legend_room = 0.0  # the data's width the legend was laid out for, px
        plot.getViewBox().sigResized.connect(self._on_view_resized)
        self._marker = pg.ScatterPlotItem(size=11, pen=pg.mkPen("#222222", width=1.5))
        self._tip = pg.TextItem(
            color=_FOREGROUND, fill=(255, 255, 255, 230), border="#bbbbbb", anchor=(0, 1)
        )
        # the timeline's viewed step (gui/timeline_bar.py); hidden in Live
        self._step_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen("#d62728", width=1.5, style=Qt.PenStyle.DotLine)
        )
        self._step_line.setZValue(9)
        self._step_line.hide()
        plot.addItem(self._step_line, ignoreBounds=True)
        for z, item in ((10, self._marker), (11, self._tip)):
            item.setZValue(z)
            item.hide()
            plot.addItem(item, ignoreBounds=True)
        plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        plot.getViewBox().sigRangeChangedManually.connect(self._stop_following)

    # --- runs -------------------------------------------------------------------------------
    def start_run(self, run_id: str, label: str, colour: str) -> None:
        """Add a run drawn in ``colour`` ("#rrggbb"); an existing ``run_id`` starts over."""
        if run_id in self._runs:
            self.remove_run(run_id)
        run = _Run(
            label=label,
            colour=colour,
            raw=pg.PlotDataItem(
                pen=pg.mkPen(_colour_with_alpha(colour, _RAW_ALPHA), width=1),
                autoDownsampleFactor=_SAMPLES_PER_PIXEL,
            ),
            smooth=pg.PlotDataItem(
                pen=pg.mkPen(colour, width=2),
                antialias=True,
                autoDownsampleFactor=_SAMPLES_PER_PIXEL,
            ),
            val=pg.PlotDataItem(
                pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine),
                symbol="o",
                symbolSize=6,
                symbolBrush=colour,
                symbolPen=pg.mkPen(_BACKGROUND, width=1),
                antialias=True,
            ),
        )
        for item in run.items():
            self._plot.addItem(item)  # applies the plot's peak downsampling and clipping
        # Stroking a 2 px antialiased zigzag of min/max peaks costs ~10x a mean line.
        run.smooth.setDownsampling(auto=True, method="mean")
        if not self._runs:
            self._following = True
        self._runs[run_id] = run
        self._hint.hide()
        self._fit_legend()

    def set_label(self, run_id: str, label: str) -> None:
        run = self._runs[run_id]
        if run.label == label:
            return
        run.label = label
        self._fit_legend()

    def _on_view_resized(self, view: pg.ViewBox) -> None:
        if view.width() != self._legend_room:  # the legend's own rows change only the height
            self._fit_legend()

    def _fit_legend(self) -> None:
        """Every run's entry above the data, in the fewest rows in which each name keeps the
        width of _LEGEND_MIN_CHARS x's or more (names cut in their middle to their column's
        width, whole in the hover tip and the Runs table); the title row as tall as those rows.
        Rebuilt rather than edited: LabelItem.setText grows the legend's rows."""
        runs = list(self._runs.values())
        if not runs:
            self._legend.clear()
            self._plot.layout.setRowFixedHeight(0, 0)
            return
        font = QFont()
        font.setPointSizeF(_LEGEND_FONT_PT)
        metrics = QFontMetricsF(font)
        shortest = metrics.horizontalAdvance("x" * _LEGEND_MIN_CHARS)
        needed = max(min(metrics.horizontalAdvance(run.label), shortest) for run in runs)
        room = self._legend_room = self._plot.getViewBox().width() or self._widget.width()
        for columns in range(len(runs), 0, -1):
            gaps = (2 * columns - 1) * _LEGEND_GAP
            label_room = (room - gaps) / columns - _LEGEND_SAMPLE_W - _LEGEND_LABEL_PAD
            if label_room >= needed:
                break
        self._legend.setColumnCount(columns)
        for _ in range(3):  # the labels' margins are pyqtgraph's: measured, then cut again
            self._legend.clear()
            for run in runs:
                # cut in the middle: runs' names differ at either end (a value, a "#2")
                name = metrics.elidedText(run.label, Qt.TextElideMode.ElideMiddle, label_room)
                self._legend.addItem(run.smooth, html.escape(name))
            excess = self._legend.width() - room
            if excess <= 0:
                break
            label_room -= excess / columns + 1
        rows = math.ceil(len(runs) / columns)
        row_height = max(label.height() for _, label in self._legend.items) - 6  # verSpacing
        self._plot.layout.setRowFixedHeight(0, rows * row_height + 4)

    def add_train_points(self, run_id: str, steps: Sequence[int], losses: Sequence[float]) -> None:
        """Append per-step train losses; batches for an unknown (removed) run are dropped."""
        run = self._runs.get(run_id)
        if run is None or len(steps) == 0:
            return
        values = np.asarray(losses, dtype=float)
        smoothed, run.ema_last, run.ema_count = _ema(
            values, self._weight, run.ema_last, run.ema_count
        )
        run.steps.extend(np.asarray(steps, dtype=float))
        run.losses.extend(values)
        run.smoothed.extend(smoothed)
        run.raw.setData(run.steps.view, run.losses.view)
        run.smooth.setData(run.steps.view, run.smoothed.view)
        self._follow_data()

    def add_val_point(self, run_id: str, step: int, train: float, val: float) -> None:
        """Plot an eval's val loss; its train estimate is kept for the hover text."""
        run = self._runs.get(run_id)
        if run is None:
            return
        run.val_steps.extend(np.array([step], dtype=float))
        run.val_losses.extend(np.array([val], dtype=float))
        run.val_train.extend(np.array([train], dtype=float))
        run.val.setData(run.val_steps.view, run.val_losses.view)
        self._follow_data()

    def add_steps(self, batch: StepBatch) -> None:
        """A batch of per-step train losses from the controller."""
        self.add_train_points(batch.run_id, batch.steps, batch.losses)

    def add_evaluation(self, evaluation: Evaluation) -> None:
        self.add_val_point(evaluation.run_id, evaluation.step, evaluation.train, evaluation.val)

    def remove_run(self, run_id: str) -> None:
        run = self._runs.pop(run_id, None)
        if run is None:
            return
        for item in run.items():
            self._plot.removeItem(item)  # also drops the legend entry
        self._hide_hover()
        self._hint.setVisible(not self._runs)
        self._fit_legend()
        self._follow_data()

    def clear(self) -> None:
        for run_id in list(self._runs):
            self.remove_run(run_id)

    # --- display options --------------------------------------------------------------------
    def set_smoothing(self, weight: float) -> None:
        """Set the EMA weight (clamped to 0..0.99) and recompute every smoothed curve."""
        weight = min(max(float(weight), 0.0), MAX_SMOOTHING)
        self._slider.blockSignals(True)
        self._slider.setValue(round(weight * 100))
        self._slider.blockSignals(False)
        self._slider_value.setText(f"{weight:.2f}")
        if weight == self._weight:
            return
        self._weight = weight
        for run in self._runs.values():
            smoothed, run.ema_last, run.ema_count = _ema(run.losses.view, weight, 0.0, 0)
            run.smoothed.view[:] = smoothed
            run.smooth.setData(run.steps.view, run.smoothed.view)

    def smoothing(self) -> float:
        return self._weight

    def set_log_scale(self, on: bool) -> None:
        self._log_check.blockSignals(True)
        self._log_check.setChecked(on)
        self._log_check.blockSignals(False)
        self._plot.setLogMode(y=on)
        self._shown_range = None
        self._follow_data()
        self._hide_hover()

    def set_total(self, total: int | None) -> None:
        """The current run's planned number of steps (None: unknown): the step axis ends there
        rather than at the next round number past the data."""
        total = None if total is None or total <= 0 else int(total)
        if total != self._total:
            self._total = total
            self._follow_data()

    def show_progress(self, progress: Progress) -> None:
        """The controller's progress report: its total ends the step axis."""
        self.set_total(progress.total)

    def set_step_marker(self, step: int | None) -> None:
        """A vertical line at the step the timeline shows; None hides it (Live)."""
        if step is None:
            self._step_line.hide()
        else:
            self._step_line.setPos(step)
            self._step_line.show()

    def step_marker(self) -> int | None:
        """The step the marker stands at, None while hidden."""
        return round(self._step_line.value()) if self._step_line.isVisible() else None

    @property
    def plot_item(self) -> pg.PlotItem:
        return self._plot

    # --- queries (tests, hover) -------------------------------------------------------------
    def run_ids(self) -> list[str]:
        return list(self._runs)

    def train_count(self, run_id: str) -> int:
        return self._runs[run_id].steps.size

    def val_count(self, run_id: str) -> int:
        return self._runs[run_id].val_steps.size

    def smoothed(self, run_id: str) -> np.ndarray:
        return self._runs[run_id].smoothed.view.copy()

    def label(self, run_id: str) -> str:
        return self._runs[run_id].label

    def colour(self, run_id: str) -> str:
        return self._runs[run_id].colour

    def legend_text(self, run_id: str) -> str:
        """The text the legend shows for a run (HTML-escaped label)."""
        return self._legend.getLabel(self._runs[run_id].smooth).text

    def describe_point(self, x: float, y: float) -> str:
        """Text for the point nearest (step ``x``, loss ``y``) on screen; '' with no data."""
        hit = self._nearest(x, y)
        if hit is None:
            return ""
        run, i = hit.run, hit.index
        if hit.is_val:
            step, val, train = run.val_steps.view[i], run.val_losses.view[i], run.val_train.view[i]
            return f"{run.label} · step {step:,.0f} · val {val:.3f} · train (eval) {train:.3f}"
        step = run.steps.view[i]
        text = (
            f"{run.label} · step {step:,.0f} · train {run.losses.view[i]:.3f}"
            f" (smoothed {run.smoothed.view[i]:.3f})"
        )
        j = np.searchsorted(run.val_steps.view, step)
        if j < run.val_steps.size and run.val_steps.view[j] == step:
            text += f" · val {run.val_losses.view[j]:.3f}"
        return text

    def hover_text(self) -> str:
        """The hover tip's text, '' while it is hidden."""
        return self._tip.toPlainText() if self._tip.isVisible() else ""

    def _nearest(self, x: float, y: float) -> _Hit | None:
        """Nearest raw, smoothed or val point, measured in screen pixels (log-aware)."""
        log_y = self._log_check.isChecked()
        vb = self._plot.getViewBox()
        (x0, x1), (y0, y1) = vb.viewRange()
        kx = max(vb.width(), 1.0) / ((x1 - x0) or 1.0)
        ky = max(vb.height(), 1.0) / ((y1 - y0) or 1.0)
        to_view = _log10 if log_y else float
        vy = to_view(y)
        best: tuple[float, _Hit] | None = None
        for run in self._runs.values():
            if not run.smooth.isVisible():
                continue
            series = (
                (False, run.steps.view, run.losses.view),
                (False, run.steps.view, run.smoothed.view),
                (True, run.val_steps.view, run.val_losses.view),
            )
            for is_val, xs, ys in series:
                i = int(np.searchsorted(xs, x))
                for j in (i - 1, i):
                    if not 0 <= j < len(xs):
                        continue
                    d = np.hypot((xs[j] - x) * kx, (to_view(ys[j]) - vy) * ky)
                    if np.isfinite(d) and (best is None or d < best[0]):
                        best = (d, _Hit(run, is_val, j, float(xs[j]), float(ys[j])))
        return None if best is None else best[1]

    # --- hover ------------------------------------------------------------------------------
    def _on_mouse_moved(self, pos: QPointF) -> None:
        vb = self._plot.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            self._hide_hover()
            return
        point = vb.mapSceneToView(pos)
        log_y = self._log_check.isChecked()
        y = 10 ** point.y() if log_y else point.y()
        hit = self._nearest(point.x(), y)
        if hit is None:
            self._hide_hover()
            return
        vy = _log10(hit.y) if log_y else hit.y
        self._marker.setData([hit.x], [vy], brush=hit.run.colour)
        self._tip.setText(self.describe_point(hit.x, hit.y))
        # Open the tip towards the middle of the view so it is never clipped at an edge.
        (x0, x1), (y0, y1) = vb.viewRange()
        right, high = hit.x > (x0 + x1) / 2, vy > (y0 + y1) / 2
        self._tip.setAnchor((1.0 if right else 0.0, 0.0 if high else 1.0))
        px, py = vb.viewPixelSize()  # keep the marker uncovered: step 8 px away from it
        self._tip.setPos(hit.x + (-8 if right else 8) * px, vy + (-8 if high else 8) * py)
        self._marker.show()
        self._tip.show()

    def _hide_hover(self) -> None:
        self._marker.hide()
        self._tip.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._widget and event.type() == QEvent.Type.Leave:
            self._hide_hover()
        return super().eventFilter(watched, event)

    # --- view range -------------------------------------------------------------------------
    def _stop_following(self, *_args) -> None:
        self._following = False

    def _follow_data(self) -> None:
        """Show every point, with the range rounded outwards to round numbers, so it changes a
        few times per run instead of at every batch: repainting the axes after a range change
        was ~40 % of the GUI thread's time while training (pyqtgraph's autorange)."""
        view = self._plot.getViewBox()
        if any(view.autoRangeEnabled()):  # the "A" button: follow again, in coarse steps
            self._following = True
        if not self._following:
            return
        bounds = self._data_bounds()
        if bounds is None:
            return
        x_max, y_min, y_max = bounds
        x_end = _round_up(x_max * 1.02)
        if self._total is not None:  # a round number past the run's end would be empty space
            x_end = min(x_end, max(float(self._total), x_max))
        x_range = (0.0, x_end)
        if self._log_check.isChecked():
            y_range = (math.floor(_log10(y_min) * 10) / 10, math.ceil(_log10(y_max) * 10) / 10)
        else:  # in steps of half a nat: a falling loss crosses one every few hundred steps
            y_range = (math.floor(y_min * 2) / 2, math.ceil(y_max * 2) / 2)
        if not all(map(math.isfinite, (*x_range, *y_range))):
            return
        if (x_range, y_range) != self._shown_range or any(view.autoRangeEnabled()):
            view.disableAutoRange()
            self._plot.setRange(xRange=x_range, yRange=y_range, padding=0.02)
            self._shown_range = (x_range, y_range)

    def _data_bounds(self) -> tuple[float, float, float] | None:
        """(last step, lowest loss, highest loss) over every run's finite points."""
        steps, losses = [], []
        for run in self._runs.values():
            for xs, ys in ((run.steps, run.losses), (run.val_steps, run.val_losses)):
                finite = np.isfinite(ys.view) & (ys.view > 0)
                if finite.any():
                    steps.append(xs.view[finite].max())
                    losses.extend((ys.view[finite].min(), ys.view[finite].max()))
        if not steps:
            return None
        return max(max(steps), 1.0), min(losses), max(losses)

    def _on_legend_clicked(self, item: pg.PlotDataItem) -> None:
        """The legend toggles the smoothed curve; raw and val follow it."""
        for run in self._runs.values():
            if run.smooth is item:
                run.raw.setVisible(item.isVisible())
                run.val.setVisible(item.isVisible())


def _round_up(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above value (value > 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def _log10(value: float) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log10(value))
