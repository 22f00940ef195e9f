"""The Lens tab: the logit lens on the prompt, and the loss by depth over validation windows.

``LensGrid`` has a row per stage of the residual stream (embed, L1 attn, L1 ffn, L2 attn, …) and
a column per prompt position. A cell is coloured by the probability that stage gives the
character that actually comes next in the prompt (none after the last one: grey), with the
stage's top guess written in it where the cell is wide enough; hovering a cell lists its top 5.
The colours are one small image drawn scaled, so a repaint costs the same at any prompt length.

``DepthLossPlot`` draws the cross-entropy of each stage's guess over validation windows (the
last stage is the model's own loss), with the run's latest evaluated val loss as a reference.
``LensPanel`` puts both in the tab, with the note on what the stages mean in ladder variants.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QImage,
    QLinearGradient,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from headwatch.core.formatting import knockout_text
from headwatch.gui.attention_grid import HintStack, LabelAxis, cache_drawing, index_lut
from headwatch.gui.text_display import quoted_char, visible_char
from headwatch.gui.viewed_evaluation import evaluation_near
from headwatch.gui.widgets import column, splitter, titled

if TYPE_CHECKING:
    from headwatch.core.inspection import DepthLosses
    from headwatch.core.logit_lens import LensResult

NO_NEXT = QColor("#d9d9d9")  # the last position: the prompt has no next character to score
_SEPARATOR = QColor("#ffffff")  # between layers: a layer's attention and feed-forward rows pair up
_LINE = "#4e79a7"  # the prediction bars' blue
_REFERENCE = "#e8591a"  # the attention grid's selection orange
_PAD = 4.0  # px around the grid
_LABEL_GAP = 4.0  # px kept free between neighbouring character labels
_LEGEND_H = 30.0  # the colour bar under the grid, with its ticks
_MAX_CELL_W = 40.0  # a short prompt's cells stop widening here
_MIN_ROW_H = 9.0  # px: the splitter leaves the grid at least this per stage of a shallow model
# stages the grid's minimum height counts (a 4-layer model's): a deeper model's rows get thinner
# instead, since a minimum that grew with the model would take the loss plot's height
_MIN_STAGES = 9
_LIGHT_TEXT_BELOW = 140  # cell luminance (0-255) under which its text is drawn white


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


class LensGrid(QWidget):
    """The logit lens: stages as rows, prompt positions as columns; see the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lensGrid")
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._lut = index_lut()
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        if self.font().pointSizeF() > 0:
            self._mono.setPointSizeF(self.font().pointSizeF())
        self._small = QFont(self.font())
        self._small.setPointSizeF(max(self.font().pointSizeF() * 0.85, 6.0))
        self._stages: list[str] = []
        self._tokens: list[str] = []  # the prompt's characters as drawn
        self._lens: LensResult | None = None
        self._p = np.zeros((0, 0))  # (S, T) p(actual next character), NaN at the last position
        self._guesses: list[list[str]] = []  # [S][T] the top guess as drawn
        self._rgb = np.zeros((0, 0, 3), dtype=np.uint8)
        self._light = np.zeros((0, 0), dtype=bool)  # cells dark enough for white text
        self._image = QImage()
        self._guess_w: dict[str, float] = {}  # px each drawn guess takes, measured once

    # --- data --------------------------------------------------------------------------------

    def set_lens(self, lens: LensResult) -> None:
        """Show a LensResult (core.logit_lens): S stages x T positions."""
        self._lens = lens
        if list(lens.stages) != self._stages:  # another model: another minimum height
            self.updateGeometry()
        self._stages = list(lens.stages)
        self._tokens = [visible_char(ch) for ch in lens.tokens]
        self._p = np.array(
            [[np.nan if p is None else p for p in row] for row in lens.p_next], dtype=np.float64
        ).reshape(len(lens.stages), len(lens.tokens))
        self._guesses = [[visible_char(ch) for ch in row] for row in lens.top]
        metrics = QFontMetricsF(self._mono)
        for text in {text for row in self._guesses for text in row} - self._guess_w.keys():
            self._guess_w[text] = metrics.horizontalAdvance(text)
        known = np.nan_to_num(self._p, nan=0.0)
        rgb = self._lut[np.rint(np.clip(known, 0.0, 1.0) * 254).astype(np.int64), :3]
        rgb[np.isnan(self._p)] = NO_NEXT.getRgb()[:3]
        self._rgb = np.ascontiguousarray(rgb, dtype=np.uint8)  # (S, T, 3)
        self._light = _luminance(self._rgb.astype(np.float64)) < _LIGHT_TEXT_BELOW  # (S, T)
        s, t = self._p.shape
        self._image = QImage(self._rgb.data, t, s, 3 * t, QImage.Format.Format_RGB888).copy()
        self.update()

    def clear(self) -> None:
        self._lens = None
        self._stages, self._tokens, self._guesses = [], [], []
        self._p = np.zeros((0, 0))
        self.update()

    @property
    def stages(self) -> list[str]:
        return list(self._stages)

    @property
    def tokens(self) -> list[str]:
        """The prompt's characters as the columns are labelled (stand-ins for invisible ones)."""
        return list(self._tokens)

    def cell_value(self, stage: int, position: int) -> float | None:
        """p(the prompt's next character) the cell is coloured by; None at the last position."""
        value = self._p[stage, position]
        return None if math.isnan(value) else float(value)

    def cell_colour(self, stage: int, position: int) -> QColor:
        return QColor(*self._rgb[stage, position].tolist())

    def cell_text(self, stage: int, position: int) -> str:
        """The stage's top guess as written in the cell (when it fits)."""
        return self._guesses[stage][position]

    # --- geometry ----------------------------------------------------------------------------

    def _geometry(self) -> tuple[float, float, float, float]:
        """(left, top, cell width, cell height) in px for the current size."""
        s, t = self._p.shape
        metrics = QFontMetricsF(self.font())
        left = _PAD + max((metrics.horizontalAdvance(n) for n in self._stages), default=0) + 6
        top = _PAD + QFontMetricsF(self._mono).height() + 4
        cell_w = min(_MAX_CELL_W, (self.width() - left - _PAD) / max(t, 1))
        row_max = QFontMetricsF(self._mono).height() * 1.8
        cell_h = min(row_max, (self.height() - top - _LEGEND_H - _PAD) / max(s, 1))
        return left, top, max(cell_w, 0.0), max(cell_h, 0.0)

    def cell_rect(self, stage: int, position: int) -> QRectF:
        left, top, cell_w, cell_h = self._geometry()
        return QRectF(left + position * cell_w, top + stage * cell_h, cell_w, cell_h)

    def cell_at(self, point: QPointF) -> tuple[int, int] | None:
        """(stage, position) under a point in widget coordinates; None outside the cells."""
        if self._lens is None:
            return None
        left, top, cell_w, cell_h = self._geometry()
        if cell_w <= 0 or cell_h <= 0:
            return None
        col = math.floor((point.x() - left) / cell_w)
        row = math.floor((point.y() - top) / cell_h)
        s, t = self._p.shape
        return (row, col) if 0 <= row < s and 0 <= col < t else None

    def text_fits(self, stage: int, position: int) -> bool:
        """Whether the cell's guess is written at the current size (else only the colour)."""
        _, _, cell_w, cell_h = self._geometry()
        guess = self._guesses[stage][position]
        return self._guess_w[guess] + 2 <= cell_w and QFontMetricsF(self._mono).ascent() <= cell_h

    def labelled_positions(self) -> list[int]:
        """The columns whose prompt character is written above the grid at the current size:
        every 1st, 2nd, 4th, … so that no two labels overlap."""
        _, _, cell_w, _ = self._geometry()
        if not self._tokens or cell_w <= 0:
            return []
        metrics = QFontMetricsF(self._mono)
        widest = max(metrics.horizontalAdvance(text) for text in self._tokens)
        stride = 1
        while stride * cell_w < widest + _LABEL_GAP and stride < len(self._tokens):
            stride *= 2
        return list(range(0, len(self._tokens), stride))

    def labelled_stages(self) -> list[int]:
        """The rows whose stage is named at the current size: every 1st, 2nd, 4th, … so that no
        two names overlap (every 2nd names the embedding and each layer's feed-forward)."""
        _, _, _, cell_h = self._geometry()
        if not self._stages or cell_h <= 0:
            return []
        needed = QFontMetricsF(self._small).height() * 0.8
        stride = 1
        while stride * cell_h < needed and stride < len(self._stages):
            stride *= 2
        return list(range(0, len(self._stages), stride))

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(400, 260)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        top = QFontMetricsF(self._mono).height() + 4
        return QSize(120, int(_PAD * 2 + top + _LEGEND_H + _MIN_STAGES * _MIN_ROW_H))

    # --- hover -------------------------------------------------------------------------------

    def describe_cell(self, stage: int, position: int) -> str:
        """The tooltip: where the cell is, the actual next character's probability, the top 5."""
        lens = self._lens
        s_name, tokens = lens.stages[stage], lens.tokens
        lines = [
            f"{s_name} · after {quoted_char(tokens[position])} "
            f"(position {position + 1} of {len(tokens)})"
        ]
        actual = tokens[position + 1] if position + 1 < len(tokens) else None
        if actual is None:
            lines.append("the prompt ends here: no next character to score")
        else:
            p_next = self._p[stage, position]
            lines.append(f"next in the prompt: {quoted_char(actual)}, p = {p_next:.3f}")
        lines.append("top 5 at this stage:")
        for rank, (ch, p) in enumerate(lens.top5[stage][position], start=1):
            mark = "  ← the actual next" if ch == actual else ""
            lines.append(f"{rank}. {quoted_char(ch)}  {p:.3f}{mark}")
        return "\n".join(lines)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            cell = self.cell_at(QPointF(event.pos()))
            if cell is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self.describe_cell(*cell), self)
            return True
        return super().event(event)

    # --- painting ----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), Qt.GlobalColor.white)
            if self._lens is not None and self._p.size:
                self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        s, t = self._p.shape
        left, top, cell_w, cell_h = self._geometry()
        grid = QRectF(left, top, cell_w * t, cell_h * s)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(grid, self._image)

        # a white line above each layer's attention row groups a layer's two sub-layers
        painter.setPen(QPen(_SEPARATOR, 2))
        for row, name in enumerate(self._stages):
            if row and name.endswith("attn"):
                y = top + row * cell_h
                painter.drawLine(QPointF(left, y), QPointF(left + cell_w * t, y))

        painter.setFont(self._small)  # the stage names: every row keeps its name on a laptop
        painter.setPen(QColor("#333333"))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        label_h = QFontMetricsF(self._small).height()
        for row in self.labelled_stages():
            rect = QRectF(0, top + (row + 0.5) * cell_h - label_h / 2, left - 6, label_h)
            painter.drawText(rect, right, self._stages[row])

        centred = Qt.AlignmentFlag.AlignCenter
        painter.setFont(self._mono)
        label_h = QFontMetricsF(self._mono).height()
        for col in self.labelled_positions():
            rect = QRectF(left + col * cell_w - 20, _PAD, cell_w + 40, label_h)
            painter.drawText(rect, centred, self._tokens[col])

        if cell_h >= QFontMetricsF(self._mono).ascent():
            light = self._light
            white, black = QColor(Qt.GlobalColor.white), QColor(Qt.GlobalColor.black)
            for row in range(s):
                for col in range(t):
                    guess = self._guesses[row][col]
                    if self._guess_w[guess] + 2 > cell_w:
                        continue
                    painter.setPen(white if light[row, col] else black)
                    cell = QRectF(left + col * cell_w, top + row * cell_h, cell_w, cell_h)
                    painter.drawText(cell, centred, guess)
        self._paint_legend(painter, left, top + s * cell_h + 6)

    def _paint_legend(self, painter: QPainter, left: float, y: float) -> None:
        width = min(220.0, max(self.width() - left - _PAD, 40.0))
        bar = QRectF(left, y, width, 8)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        for stop in np.linspace(0.0, 1.0, 9):
            gradient.setColorAt(stop, QColor(*self._lut[round(stop * 254), :3].tolist()))
        painter.fillRect(bar, gradient)
        painter.setFont(self._small)
        painter.setPen(QColor("#333333"))
        text_h = QFontMetricsF(self._small).height()
        below = QRectF(left, y + 9, width, text_h)
        painter.drawText(below, Qt.AlignmentFlag.AlignLeft, "0")
        painter.drawText(below, Qt.AlignmentFlag.AlignRight, "1")
        painter.drawText(below, Qt.AlignmentFlag.AlignHCenter, "p(actual next char)")
        swatch = QRectF(bar.right() + 12, y, 14, 8)
        painter.fillRect(swatch, NO_NEXT)
        painter.drawText(
            QRectF(swatch.right() + 4, y - 3, 160, text_h), Qt.AlignmentFlag.AlignLeft, "no next"
        )


class DepthLossPlot(QWidget):
    """Loss by depth: each stage's cross-entropy over validation windows, the model's val loss
    (its evaluation at the step on show) as a dashed reference."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("depthLossPlot")
        self._stages: list[str] = []
        self._losses = np.zeros(0)
        self._val: tuple[float, int] | None = None
        self._axis = LabelAxis("bottom")
        self._view = pg.PlotWidget(axisItems={"bottom": self._axis})
        self._view.setBackground("w")
        plot = self._view.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)
        plot.showGrid(y=True, alpha=0.15)
        plot.setLabel("left", "nats/char", color="#333333")
        left = plot.getAxis("left")
        for axis in (left, self._axis):
            axis.setPen("#9a9a9a")
            axis.setTextPen("#333333")
            cache_drawing(axis)
        self._curve = plot.plot(
            pen=pg.mkPen(_LINE, width=2), symbol="o", symbolSize=7, symbolBrush=_LINE
        )
        # labelled under its left end: the losses lie above it, and _fit_y leaves room below
        self._reference = pg.InfiniteLine(
            angle=0,
            pen=pg.mkPen(_REFERENCE, width=1.5, style=Qt.PenStyle.DashLine),
            label="",
            labelOpts={"position": 0.02, "color": _REFERENCE, "anchors": [(0, 0), (0, 0)]},
        )
        self._reference.setVisible(False)
        plot.addItem(self._reference)
        self._view.scene().sigMouseMoved.connect(self._on_mouse_moved)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._view)

    def set_losses(self, stages: list[str], losses: list[float]) -> None:
        self._stages, self._losses = list(stages), np.asarray(losses, dtype=np.float64)
        x = np.arange(len(stages), dtype=np.float64)
        self._axis.set_labels(x, self._stages)
        self._curve.setData(x, self._losses)
        self._view.getPlotItem().setXRange(-0.5, len(stages) - 0.5, padding=0)
        self._fit_y()

    def set_val_loss(self, val: float | None, step: int = 0, full_model: bool = False) -> None:
        """The val loss evaluated at step as the reference line; None hides it. full_model: the
        losses drawn are without knocked-out heads, and the label says the line is not."""
        self._val = None if val is None else (val, step)
        self._reference.setVisible(val is not None)
        if val is not None:
            self._reference.setValue(val)
            whose = "full model's val loss" if full_model else "val loss"
            every = ", every head in" if full_model else ""
            self._reference.label.setFormat(f"{whose} {val:.3f} (step {step:,}{every})")
        self._fit_y()

    def reference_label(self) -> str:
        """The dashed line's label as drawn, "" when it is hidden."""
        return self._reference.label.toPlainText() if self._val else ""

    def clear(self) -> None:
        self._stages, self._losses = [], np.zeros(0)
        self._curve.setData([], [])
        self._axis.set_labels(np.zeros(0), [])

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """The line's (x, y) as drawn: stage indices and losses."""
        x, y = self._curve.getData()
        return (np.zeros(0), np.zeros(0)) if x is None else (x, y)

    def reference(self) -> float | None:
        """The val loss the dashed line is drawn at, None when it is hidden."""
        return self._val[0] if self._val else None

    @property
    def stage_labels(self) -> list[str]:
        return self._axis.texts

    def describe_point(self, index: int) -> str:
        """Tooltip for a stage: its loss and what the sub-layer before it changed."""
        text = f"{self._stages[index]}: {self._losses[index]:.3f} nats/char"
        if index:
            change = self._losses[index] - self._losses[index - 1]
            text += f" ({change:+.3f} from {self._stages[index - 1]})"
        if index == len(self._stages) - 1:
            text += " — the model's own loss on these windows"
        return text

    def _fit_y(self) -> None:
        values = [*self._losses.tolist(), *([self._val[0]] if self._val else [])]
        finite = [v for v in values if math.isfinite(v)]
        if finite:
            low, high = min(finite), max(finite)
            margin = max(0.05, (high - low) * 0.08)
            below = max(margin, (high - low) * 0.3) if self._val else margin  # the line's label
            self._view.getPlotItem().setYRange(low - below, high + margin, padding=0)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        view_box = self._view.getPlotItem().getViewBox()
        if not self._stages or not view_box.sceneBoundingRect().contains(scene_pos):
            QToolTip.hideText()
            return
        index = round(view_box.mapSceneToView(scene_pos).x())
        if 0 <= index < len(self._stages):
            point = self._view.mapToGlobal(self._view.mapFromScene(scene_pos))
            QToolTip.showText(point, self.describe_point(index), self._view)


class LensPanel(QWidget):
    """The Lens tab: the logit lens on the prompt over the loss by depth."""

    lossRequested = Signal()  # noqa: N815 - Qt naming; the user asks for the loss by depth now

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lensPanel")
        self.grid = LensGrid()
        self.depth = DepthLossPlot()
        self.depth.setMinimumHeight(90)
        self.note = QLabel()
        self.note.setObjectName("lensNote")
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        self._stage_note: str | None = None
        # the current run's val losses by step, the timeline's viewed step, heads knocked out:
        # the dashed line is the evaluation of the weights on show (gui/viewed_evaluation.py)
        self._evaluations: dict[int, float] = {}
        self._viewed: int | None = None
        self._knocked_out = False

        grid_box = QWidget()
        self._grid_stack = HintStack(grid_box, "Type a prompt to see the logit lens", self.grid)
        lens_title = QLabel("Logit lens — each stage's guess for the next character")
        lens_title.setObjectName("viewTitle")
        lens_title.setToolTip(
            "What the model would predict if it stopped after each sub-layer: the residual "
            "stream after the embeddings, after each attention and after each feed-forward, "
            "read through the final LayerNorm (ln_f) and lm_head.\nEach cell is coloured by the "
            "probability that stage gives the character that actually comes next in the prompt, "
            "and shows the stage's top guess; hover a cell for its top 5."
        )

        self.description = QLabel("Measured with the head analyses, or press Measure.")
        self.description.setObjectName("depthDescription")
        self.description.setWordWrap(True)  # a knockout of several heads takes a second line
        self.measure_button = QPushButton("Measure")
        self.measure_button.setObjectName("measureDepthButton")
        self.measure_button.setToolTip(
            "Measure the loss by depth now, on the weights the views show (the timeline's step, "
            "without the knocked-out heads)"
        )
        self.measure_button.clicked.connect(self.lossRequested)
        depth_title = QLabel("Loss by depth — each stage's loss over validation windows")
        depth_title.setObjectName("viewTitle")
        depth_title.setToolTip(
            "The cross-entropy of each stage's guess over validation windows: how much each "
            "attention and each feed-forward sub-layer lowers the loss. The last stage is the "
            "model itself, so its loss is the model's own on these windows."
        )
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.description, 1)
        controls.addWidget(self.measure_button, 0, Qt.AlignmentFlag.AlignTop)
        for label in (lens_title, depth_title, self.description):  # clipped, not widening the tab
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        depth_box = QWidget()
        column(depth_box, depth_title, (self.depth, 1), controls, spacing=2)
        # the grid's rows need the height
        self.splitter = splitter(
            Qt.Orientation.Vertical,
            [titled(lens_title, grid_box), depth_box],
            sizes=[300, 200],
            stretch=[3, 2],
        )
        self.splitter.setChildrenCollapsible(False)
        column(self, self.note, (self.splitter, 1), margin=4)

    def set_lens(self, lens: LensResult) -> None:
        self.grid.set_lens(lens)
        self._grid_stack.show_content()
        self._set_note(lens.note)

    def clear(self, hint: str | None = None) -> None:
        """A hint instead of the lens: `hint`, or by default the empty prompt's."""
        self.grid.clear()
        self._grid_stack.show_hint(hint)

    def set_busy(self) -> None:
        self.description.setText("Measuring the loss by depth…")

    def set_depth_losses(self, report: DepthLosses) -> None:
        self.depth.set_losses(report.stages, report.losses)
        self._set_note(report.note)
        last = report.losses[-1]
        parts = [f"step {report.step:,}"]
        if report.knocked_out:  # measured on the model as the views show it
            parts.append(knockout_text(report.knocked_out, report.ablation))
        whose = "the model's loss without them" if report.knocked_out else "the model's loss"
        parts.append(f"last stage {last:.3f}: {whose}")
        self.description.setText(" · ".join(parts))
        self.description.setToolTip(
            f"{report.description}. The last stage is the model's own loss on these windows "
            f"({last:.3f}); the dashed line is the run's val loss evaluated at the step shown "
            "(or the evaluation nearest it, whose step the line names), estimated over other "
            "batches, with every head in."
        )

    def add_evaluation(self, step: int, val: float) -> None:
        """The current run's val loss evaluated at step (nats/char)."""
        self._evaluations[step] = val
        self._show_reference()

    def forget_evaluations(self) -> None:
        """Another run is current: no evaluation yet."""
        self._evaluations.clear()
        self._show_reference()

    def view_step(self, step: int | None) -> None:
        """The views show the weights at step (None: the newest): the line shows its val loss."""
        self._viewed = step
        self._show_reference()

    def set_knocked_out(self, knocked_out: bool) -> None:
        """Heads are knocked out: the line's label says it is the full model's val loss."""
        self._knocked_out = knocked_out
        self._show_reference()

    def _show_reference(self) -> None:
        step, val = evaluation_near(self._evaluations, self._viewed) or (0, None)
        self.depth.set_val_loss(val, step, full_model=self._knocked_out)

    def _set_note(self, note: str | None) -> None:
        if note != self._stage_note:
            self._stage_note = note
            self.note.setText(f"Note: {note}." if note else "")
            self.note.setVisible(bool(note))
