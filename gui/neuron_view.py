"""What one feed-forward unit responds to: the contexts that activate it most, like ecco's view.

Each context is one line of monospace text. Lines are aligned on the triggering character (a
concordance), so what precedes it, the only thing the unit can see, lines up in columns; the
trigger's background is shaded by its activation and the characters after it are dimmed.
Below the header, how many units of each layer never fired over the sample.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QPainter,
    QPaintEvent,
    QPalette,
)
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from headwatch.gui.text_display import visible_char
from headwatch.gui.widgets import ElidedLabel, column, vertical_scroll

HIGHLIGHT_COLOUR = "#e8591a"  # the attention grid's selection orange
_BAR_COLOUR = "#4e79a7"  # the prediction bars' blue
_HINT_EMPTY = "Click a unit in the feed-forward view to see what makes it fire"
_HINT_NONE = "This unit never fired over the sample: it is dead"
_BAR_W = 56.0  # px of the activation bar beside the value
_GAP = 14.0  # px between the text and the bar
_AFTER_MAX = 12  # characters shown after a trigger: context, but not what the unit sees
_MIN_CELLS = 24  # character cells the list always has room for


def _blend(low: QColor, high: QColor, t: float) -> QColor:
    """The colour t of the way from low to high (opaque)."""
    return QColor.fromRgbF(
        *(a + (b - a) * t for a, b in zip(low.getRgbF()[:3], high.getRgbF()[:3], strict=True))
    )


def _text_on(fill: QColor) -> QColor:
    """Near-black or white, whichever contrasts more with fill (WCAG relative luminance: the
    two contrast equally at 0.18)."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in fill.getRgbF()[:3])
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return QColor("#1f2328") if luminance > 0.18 else QColor("white")


def _shown(ch: str, trigger: bool) -> str:
    """A context character as drawn: spaces stay blank for reading, except the trigger, whose
    highlighted box must show what it is."""
    return visible_char(ch) if trigger or ch != " " else " "


class _ContextList(QWidget):
    """The painted lines: rank, text aligned on the trigger, activation bar and value.

    The value column stays at the right edge; when the text does not fit, characters far from
    the trigger are cut off (the nearest ones matter most), so there is never a sideways scroll.
    A character takes one cell, or as many as its stand-in needs (a badge such as ⟨NBSP⟩).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        if self.font().pointSizeF() > 0:
            self._mono.setPointSizeF(self.font().pointSizeF() * 1.1)
        self._bold = QFont(self._mono)
        self._bold.setBold(True)
        metrics = QFontMetricsF(self._mono)
        self._cell_w = metrics.horizontalAdvance("M")
        self._row_h = math.ceil(metrics.height() * 1.45)
        self._rank_w = self.fontMetrics().horizontalAdvance("20.") + 10
        self._value_w = self.fontMetrics().horizontalAdvance("00.00") + 8
        self._rows: list[tuple[list[str], int, float]] = []  # shown chars, trigger, activation
        self._spans: list[list[int]] = []  # cells each shown character takes, per row
        self._before = self._after = 0  # most cells before / after a trigger
        self._trigger = 1  # most cells a trigger takes
        self._hint = _HINT_EMPTY

    def set_rows(self, rows: list[tuple[list[str], int, float]], hint: str) -> None:
        self._rows = rows
        self._hint = hint
        bold = QFontMetricsF(self._bold)
        self._spans = [
            [max(1, math.ceil(bold.horizontalAdvance(ch) / self._cell_w - 0.05)) for ch in chars]
            for chars, _, _ in rows
        ]
        triggers = [(spans, index) for spans, (_, index, _) in zip(self._spans, rows, strict=True)]
        self._before = max((sum(spans[:i]) for spans, i in triggers), default=0)
        after = max((sum(spans[i + 1 :]) for spans, i in triggers), default=0)
        self._after = min(after, _AFTER_MAX)
        self._trigger = max((spans[i] for spans, i in triggers), default=1)
        self.updateGeometry()
        self.update()

    def _width_for(self, cells: int) -> int:
        return math.ceil(self._rank_w + cells * self._cell_w + _GAP + _BAR_W + 4 + self._value_w)

    def sizeHint(self) -> QSize:
        return QSize(self._width_for(self._before + self._trigger + self._after), self._height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self._width_for(_MIN_CELLS), self._height())

    def _height(self) -> int:
        return len(self._rows) * self._row_h + 4 if self._rows else 3 * self._row_h

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        placeholder = palette.color(QPalette.ColorRole.PlaceholderText)
        if not self._rows:
            painter.setPen(placeholder)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._hint)
            return
        text = palette.color(QPalette.ColorRole.WindowText)
        background = palette.color(QPalette.ColorRole.Window)
        top_activation = max(max(a for _, _, a in self._rows), 1e-9)
        value_x = self.width() - self._value_w
        bar_x = value_x - _BAR_W - 4
        cells = max(int((bar_x - _GAP - self._rank_w) // self._cell_w), 1)
        # The trigger column: all of the longest left context if it fits beside the right one.
        column = max(min(self._before, cells - self._trigger - self._after), 0)
        track = QColor(text)
        track.setAlpha(22)
        first = max(event.rect().top() // self._row_h, 0)
        last = min(event.rect().bottom() // self._row_h + 1, len(self._rows))
        for rank in range(first, last):
            chars, index, activation = self._rows[rank]
            spans = self._spans[rank]
            top = rank * self._row_h + 2
            share = min(max(activation / top_activation, 0.0), 1.0)
            painter.setFont(self.font())
            painter.setPen(placeholder)
            painter.drawText(
                QRectF(0, top, self._rank_w - 10, self._row_h),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{rank + 1}.",
            )
            trigger_x = self._rank_w + column * self._cell_w
            box = QRectF(trigger_x - 2, top + 2, spans[index] * self._cell_w + 4, self._row_h - 4)
            # Opaque, from the background's colour to full orange: the trigger's text colour
            # can then be chosen for the fill it actually sits on, in light and dark themes.
            fill = _blend(background, QColor(HIGHLIGHT_COLOUR), 0.2 + 0.8 * share)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(box, 3, 3)
            painter.setFont(self._mono)
            painter.setPen(text)
            x = trigger_x
            for k in range(index - 1, -1, -1):
                x -= spans[k] * self._cell_w
                if x < self._rank_w - 0.5:
                    break
                self._draw_cell(painter, x, top, chars[k], spans[k])
            painter.setFont(self._bold)
            painter.setPen(_text_on(fill))
            self._draw_cell(painter, trigger_x, top, chars[index], spans[index])
            painter.setFont(self._mono)
            painter.setPen(placeholder)  # the unit cannot see what follows its character
            x = trigger_x + spans[index] * self._cell_w
            for k in range(index + 1, len(chars)):
                if x + spans[k] * self._cell_w > bar_x - _GAP + 0.5:
                    break
                self._draw_cell(painter, x, top, chars[k], spans[k])
                x += spans[k] * self._cell_w
            bar_top = top + self._row_h / 2 - 3
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(track)
            painter.drawRoundedRect(QRectF(bar_x, bar_top, _BAR_W, 6), 2, 2)
            painter.setBrush(QColor(_BAR_COLOUR))
            painter.drawRoundedRect(QRectF(bar_x, bar_top, max(_BAR_W * share, 1.0), 6), 2, 2)
            painter.setFont(self.font())
            painter.setPen(text)
            painter.drawText(
                QRectF(value_x, top, self._value_w, self._row_h),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{activation:.2f}",
            )

    def _draw_cell(self, painter: QPainter, x: float, top: float, ch: str, span: int) -> None:
        # Whole cells per character: '↵' and '␣' may be wider than the font's cell otherwise.
        painter.drawText(
            QRectF(x, top, span * self._cell_w, self._row_h), Qt.AlignmentFlag.AlignCenter, ch
        )


class NeuronView(QWidget):
    """The top contexts of one feed-forward unit and the dead-unit count of every layer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("neuronView")
        self._contexts: list[tuple[str, int, float]] = []
        self._lines: list[str] = []

        # neither may size the tab (that would move the splitter): the header wraps, since the
        # step and the knocked-out heads it names come last; the dead units' line is cut short
        self._header = QLabel(objectName="neuronHeader")
        self._header.setWordWrap(True)
        self._header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        font = self._header.font()
        font.setBold(True)
        self._header.setFont(font)
        self._busy = QLabel("computing…", objectName="neuronBusyHint")
        self._busy.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self._busy.hide()
        top = QHBoxLayout()
        top.addWidget(self._header, 1)
        top.addWidget(self._busy)
        self._dead = ElidedLabel(objectName="deadUnitsLabel")
        self._dead.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self._dead.setToolTip(
            "Units whose ReLU output was 0 at every position of every sampled window: "
            "they take no part in the model's predictions"
        )
        self._dead.hide()

        self._list = _ContextList()
        self._scroll = vertical_scroll(self._list)

        column(self, top, self._dead, (self._scroll, 1), margin=(8, 6), spacing=4)
        self.clear()

    # --- public API ----------------------------------------------------------------------------

    def set_unit(
        self, layer: int, unit: int, contexts: list[tuple[str, int, float]], sample_desc: str
    ) -> None:
        """Show unit `unit` of layer `layer` (both 0-based; the layer is shown from 1, the unit as
        the feed-forward view numbers it). contexts: (text, index of the triggering character,
        activation), shown strongest first; sample_desc e.g. "200 validation windows"."""
        checked = []
        for text, index, activation in contexts:
            if not 0 <= index < len(text):
                raise IndexError(f"trigger {index} outside a context of {len(text)} characters")
            checked.append((str(text), int(index), float(activation)))
        self._contexts = sorted(checked, key=lambda c: -c[2])
        rows = [
            ([_shown(ch, k == index) for k, ch in enumerate(text)], index, activation)
            for text, index, activation in self._contexts
        ]
        self._lines = ["".join(chars) for chars, _, _ in rows]
        n = len(self._contexts)
        found = f"top {n} contexts" if n else "never active"
        self._header.setText(f"Layer {layer + 1} · unit {unit} — {found} over {sample_desc}")
        self._list.set_rows(rows, _HINT_NONE)
        self._scroll.verticalScrollBar().setValue(0)

    def set_dead_units(self, counts: list[int], hidden: int) -> None:
        """Per layer, how many of its `hidden` units never fired over the sample."""
        parts = [f"L{layer + 1} {count} / {hidden}" for layer, count in enumerate(counts)]
        self._dead.setText("dead units (never active over the sample): " + " · ".join(parts))
        self._dead.setVisible(bool(parts))

    def clear(self) -> None:
        self._contexts = []
        self._lines = []
        self._header.setText("Feed-forward unit")
        self._list.set_rows([], _HINT_EMPTY)
        self._dead.clear()
        self._dead.hide()

    def set_busy(self, busy: bool) -> None:
        """Show a "computing…" hint while the contexts are being gathered."""
        self._busy.setVisible(busy)

    def contexts(self) -> list[tuple[str, int, float]]:
        """The contexts as given, strongest first."""
        return list(self._contexts)

    def lines(self) -> list[str]:
        """Each context's text as drawn: one line each, newlines as '↵'."""
        return list(self._lines)

    def dead_units_text(self) -> str:
        return self._dead.text()
