"""What the model predicts: the next-character distribution and a sampled continuation.

``PredictionView`` paints its top-k bars with QPainter (a few rectangles and strings, cheap
enough to redraw several times per second); ``SampleView`` shows a prompt and the text the
model wrote after it, and asks for new samples through a signal.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetrics,
    QPainter,
    QPaintEvent,
    QPalette,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from headwatch.core.formatting import knockout_text
from headwatch.gui.text_display import quoted_char, readable, visible_char
from headwatch.gui.widgets import ElidedLabel

BAR_COLOUR = "#4e79a7"
_HINT_NO_MODEL = "Train a model first"
_HINT_EMPTY = "Press Sample to see what the model writes."


def _bold_title(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


def _fitted(font: QFont, height: float) -> QFont:
    """font, or a smaller copy whose lines fit in height px."""
    line = QFontMetrics(font).height()
    if line <= height or font.pointSizeF() <= 0:
        return font
    smaller = QFont(font)
    smaller.setPointSizeF(max(font.pointSizeF() * height / line, 4.0))
    return smaller


class _BarChart(QWidget):
    """Rows of ``label | bar on a 0–100 % track | percentage``, best first."""

    def __init__(self, rows: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows = rows
        self._items: list[tuple[str, float]] = []
        self._tips: list[str] = []
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        if self.font().pointSizeF() > 0:  # characters are the point: a little larger
            self._mono.setPointSizeF(self.font().pointSizeF() * 1.15)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_items(self, items: list[tuple[str, float]], tips: list[str]) -> None:
        """(label, probability) rows, and a tooltip for each row."""
        self._items = items
        self._tips = tips
        self.update()

    def row_height(self) -> float:
        return min(self.height() / self._rows, 30.0)

    def tip_at(self, y: float) -> str:
        """The tooltip of the row at y px, '' below the last row."""
        row = int(y // self.row_height())
        return self._tips[row] if 0 <= row < len(self._tips) else ""

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            tip = self.tip_at(event.pos().y())
            if tip:
                QToolTip.showText(event.globalPos(), tip, self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)

    def _labels(self) -> list[str]:
        return [label for label, _ in self._items]

    def sizeHint(self) -> QSize:
        return QSize(260, self._rows * 22)

    def minimumSizeHint(self) -> QSize:
        return QSize(160, self._rows * 14)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text_colour = self.palette().color(QPalette.ColorRole.WindowText)
        if not self._items:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No prediction yet")
            return
        row_h = self.row_height()
        # Rows squeezed below a line of text get smaller text, so no label runs into the next.
        label_font, value_font = _fitted(self._mono, row_h), _fitted(self.font(), row_h)
        mono = QFontMetrics(label_font)
        # As wide as the widest label: a badge such as ⟨NBSP⟩ is wider than a character.
        char_w = max(mono.horizontalAdvance(text) for text in ("MM", *self._labels())) + 8
        pct_w = QFontMetrics(value_font).horizontalAdvance("100.0%") + 8
        track_w = max(self.width() - char_w - pct_w - 4, 1)
        bar_h = max(row_h * 0.62, 4.0)
        # The track shows the full 0–100 % scale: a flat, unsure model has visibly short bars.
        track = QColor(text_colour)
        track.setAlpha(22)
        for row, (label, prob) in enumerate(self._items):
            top = row * row_h
            painter.setPen(text_colour)
            painter.setFont(label_font)
            painter.drawText(
                QRectF(0, top, char_w - 8, row_h),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                label,
            )
            bar_top = top + (row_h - bar_h) / 2
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(track)
            painter.drawRoundedRect(QRectF(char_w, bar_top, track_w, bar_h), 2, 2)
            painter.setBrush(QColor(BAR_COLOUR))
            width = max(prob * track_w, 1.0) if prob > 0 else 0.0
            painter.drawRoundedRect(QRectF(char_w, bar_top, width, bar_h), 2, 2)
            painter.setPen(text_colour)
            painter.setFont(value_font)
            painter.drawText(
                QRectF(self.width() - pct_w, top, pct_w, row_h),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{prob * 100:.1f}%",
            )


class PredictionView(QWidget):
    """'What comes next': the top-k next characters for the prompt and their probabilities."""

    def __init__(self, top_k: int = 10, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("predictionView")
        self._top_k = top_k
        self._items: list[tuple[str, float]] = []
        self._chart = _BarChart(top_k)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(_bold_title("Next character"))
        layout.addWidget(self._chart, 1)

    def set_predictions(self, items: Sequence[tuple[str, float]]) -> None:
        """Show the ``top_k`` most likely characters, in any order given."""
        ranked = sorted(((str(ch), float(p)) for ch, p in items), key=lambda it: -it[1])
        self._items = ranked[: self._top_k]
        self._chart.set_items(
            [(visible_char(ch), p) for ch, p in self._items],
            [f"{quoted_char(ch)}: {p:.1%}" for ch, p in self._items],
        )

    def predictions(self) -> list[tuple[str, float]]:
        return list(self._items)

    def tooltip_at(self, row: int) -> str:
        """The tooltip of a bar (0 = the best): the character, named if it has a stand-in."""
        return self._chart.tip_at((row + 0.5) * self._chart.row_height())

    def labels(self) -> list[str]:
        """The character labels as drawn, best first ('↵' for a newline, '␌' for a form feed)."""
        return [visible_char(ch) for ch, _ in self._items]

    def clear(self) -> None:
        self.set_predictions([])


def sample_source(
    step: int | None, knocked_out: Sequence[tuple[int, int]] = (), ablation: str = ""
) -> str:
    """What wrote a sample, as the sample box says it: "the weights at step 1,200" and the heads
    knocked out (0-based (layer, head)), "L1·H2 knocked out (mean-ablation)"; "the newest
    weights" for step None."""
    weights = "the newest weights" if step is None else f"the weights at step {step:,}"
    out = knockout_text(knocked_out, ablation)
    return f"{weights}, {out}" if out else weights


class SampleView(QWidget):
    """'What it writes': the prompt (dim) followed by the model's continuation (highlighted),
    under a line that says which weights wrote it."""

    sampleRequested = Signal(float, int)  # temperature, number of characters

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sampleView")
        self._enabled = True
        self._busy = False
        self._written = ""  # which weights wrote the text shown (sample_source); "": not said

        self._button = QPushButton("Sample", objectName="sampleButton")
        self._button.setToolTip("Let the model write a continuation of the prompt")
        self._button.clicked.connect(self._request)
        # Wide enough for "Sampling…" so the controls do not shift while busy.
        self._button.setMinimumWidth(self._button.fontMetrics().horizontalAdvance("Sampling…") + 24)
        self._temperature = QDoubleSpinBox(objectName="temperatureSpin")
        self._temperature.setRange(0.0, 2.0)  # 0: greedy, as core.inspection samples it
        self._temperature.setSingleStep(0.1)
        self._temperature.setDecimals(1)
        self._temperature.setValue(1.0)
        self._temperature.setToolTip(
            "0: always the most likely character; below 1: safer, more repetitive; above 1: wilder"
        )
        self._length = QSpinBox(objectName="sampleLengthSpin")
        self._length.setRange(10, 2000)
        self._length.setSingleStep(50)
        self._length.setValue(300)
        # shown only without a model: cut short where narrow, never widening the tab
        self._hint = ElidedLabel(_HINT_NO_MODEL)
        self._hint.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._hint.setStyleSheet("color: palette(placeholder-text);")

        controls = QHBoxLayout()
        controls.addWidget(self._button)
        controls.addSpacing(8)
        controls.addWidget(QLabel("Temperature"))
        controls.addWidget(self._temperature)
        controls.addSpacing(8)
        controls.addWidget(QLabel("Characters"))
        controls.addWidget(self._length)
        controls.addWidget(self._hint, 1)

        # which weights wrote the text: the views may show another step since (the timeline)
        self._source = ElidedLabel("", objectName="sampleSource")
        self._source.setStyleSheet("color: palette(placeholder-text);")

        self._text = QPlainTextEdit(readOnly=True)
        self._text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._text.setPlaceholderText(_HINT_EMPTY)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(controls)
        layout.addWidget(self._source)
        layout.addWidget(self._text, 1)
        self._sync_controls()

    def set_sample(
        self,
        prompt: str,
        continuation: str,
        step: int | None = None,
        knocked_out: Sequence[tuple[int, int]] = (),
        ablation: str = "",
    ) -> None:
        """Show prompt and the continuation written by the weights at step (None: not said)
        with the heads knocked_out (0-based (layer, head)) replaced by ablation; not busy."""
        self._written = "" if step is None else sample_source(step, knocked_out, ablation)
        self._show_written()
        palette = self._text.palette()
        prompt_format = QTextCharFormat()
        prompt_format.setForeground(palette.color(QPalette.ColorRole.PlaceholderText))
        continuation_format = QTextCharFormat()
        continuation_format.setForeground(palette.color(QPalette.ColorRole.Text))
        continuation_format.setFontWeight(QFont.Weight.Bold)
        self._text.clear()
        cursor = QTextCursor(self._text.document())
        # Layout stays layout; a character that draws nothing gets its stand-in (⟨ZWSP⟩, ␌).
        cursor.insertText(readable(prompt), prompt_format)
        cursor.insertText(readable(continuation, after=prompt), continuation_format)
        self._text.moveCursor(QTextCursor.MoveOperation.Start)  # read from the beginning
        self.set_busy(False)

    def text(self) -> str:
        return self._text.toPlainText()

    def clear(self) -> None:
        """Drop the sample shown: it was written by weights no longer on show."""
        self._text.clear()
        self._written = ""
        self._show_written()
        self._sync_controls()

    def source(self) -> str:
        """The line that says which weights wrote the text shown (or are writing a new one)."""
        return self._source.text()

    def set_writing(self, step: int | None) -> None:
        """A new sample is being written by the weights at step (None: the newest): busy, and
        the line says so, and which weights wrote the text still shown."""
        self.set_busy(True)
        writing = f"Writing a sample with {sample_source(step)}…"
        below = f" (below: {self._written})" if self._written and self.text() else ""
        self._source.setText(writing + below)

    def written_failed(self) -> None:
        """No sample came (the reason was told): not busy, and the line says which weights
        wrote the text shown, if any."""
        self.set_busy(False)
        self._show_written()

    def _show_written(self) -> None:
        self._source.setText(f"Written by {self._written}" if self._written else "")

    def set_busy(self, busy: bool) -> None:
        """While a sample is being generated the button is disabled and says so."""
        self._busy = busy
        self._button.setText("Sampling…" if busy else "Sample")
        self._sync_controls()

    def set_enabled(self, enabled: bool) -> None:
        """Enable sampling; without a model the controls are off and a hint says why."""
        if enabled == self._enabled:
            return  # called with every inspection: a repaint of the sample box each keystroke
        self._enabled = enabled
        self._text.setPlaceholderText(_HINT_EMPTY if enabled else _HINT_NO_MODEL)
        self._text.viewport().update()  # a placeholder change alone does not repaint
        self._sync_controls()

    def _sync_controls(self) -> None:
        self._button.setEnabled(self._enabled and not self._busy)
        self._temperature.setEnabled(self._enabled)
        self._length.setEnabled(self._enabled)
        # The empty text box already shows the hint as its placeholder.
        self._hint.setVisible(not self._enabled and bool(self.text()))

    def _request(self) -> None:
        self.sampleRequested.emit(self._temperature.value(), self._length.value())
