"""One attention head drawn as lines between the prompt's characters, like BertViz's head view.

The prompt is written twice, top to bottom: on the left the characters that attend ("attends
from", queries), on the right the characters attended to ("attends to", keys). A line joins left
character i to right character j <= i, thicker and more opaque the more weight i puts on j.
Hovering a character keeps only its own lines and writes their weights beside the characters
at their other ends.

Everything is painted with QPainter. Lines are bucketed by weight so each bucket is one pen and
one drawLines call, and only lines crossing the repainted strip are drawn. Rows never get
shorter than a line of text: a long prompt scrolls instead of turning into unreadable labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QLineF,
    QPoint,
    QPointF,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from headwatch.gui.head_table import LABEL_COLOURS, NEUTRAL_LABEL_COLOUR
from headwatch.gui.text_display import quoted_char, visible_chars
from headwatch.gui.widgets import ElidedLabel, column, vertical_scroll

LINE_COLOUR = "#4e79a7"  # the prediction bars' blue
FOCUS_COLOUR = "#e8591a"  # the attention grid's selection orange
MIN_WEIGHT = 0.02  # lighter lines are not drawn: invisible anyway, and T^2/2 of them is slow
SIDES = ("left", "right")
_LEVELS = 16  # weight buckets, one pen each
_ALIASED_BUCKETS = 3  # buckets up to this (weights <= 3/16) are drawn without antialiasing
_MAX_LINES_WIDTH = 360.0  # px between the columns: wider only flattens the lines
_MIN_LINES_WIDTH = 60.0
_PAD = 6.0  # px above the first row and below the last
_FADED_ALPHA = 70  # labels not involved in the hovered character's lines


@dataclass(frozen=True)
class _Geometry:
    row_h: float
    char_w: float  # width of a character's box
    left_x: float  # left edge of the left column's boxes
    right_x: float  # left edge of the right column's boxes
    value_w: float  # room for a weight beside a box

    def y(self, index: int | np.ndarray) -> float | np.ndarray:
        return _PAD + (index + 0.5) * self.row_h

    def box(self, side: str, index: int) -> QRectF:
        x = self.left_x if side == "left" else self.right_x
        return QRectF(x, _PAD + index * self.row_h, self.char_w, self.row_h)


def _mono_font(base: QFont) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    if base.pointSizeF() > 0:  # characters are the point: a little larger than the UI text
        font.setPointSizeF(base.pointSizeF() * 1.1)
    return font


class _LinesCanvas(QWidget):
    """The two columns and the lines; knows rows and pixels, not what the hover means."""

    hovered = Signal(str, int)  # side, index; ("", -1) off every character
    resized = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self._mono = _mono_font(self.font())
        self._small = QFont(self.font())
        self._small.setPointSizeF(max(self.font().pointSizeF() * 0.85, 6.0))
        self._metrics = QFontMetricsF(self._mono)
        self.min_row = math.ceil(self._metrics.height()) + 2  # px: one readable line of text
        self._max_row = math.ceil(self._metrics.height() * 1.5)
        self._char_w = self._box_width([])
        self._value_w = QFontMetricsF(self._small).horizontalAdvance("0.00") + 10
        self._labels: list[str] = []
        self._chars: list[str] = []
        self._weights = np.zeros((0, 0), dtype=np.float32)
        # Lines at or above MIN_WEIGHT: query i, key j, weight, weight bucket 1.._LEVELS.
        self._i = self._j = self._bucket = np.zeros(0, dtype=np.int64)
        self._w = np.zeros(0, dtype=np.float32)
        self._focus: tuple[str, int] | None = None

    # --- data ----------------------------------------------------------------------------------

    def _box_width(self, labels: list[str]) -> float:
        """A character box fits the widest label: a badge such as ⟨NBSP⟩ is wider than 'M'."""
        return max(self._metrics.horizontalAdvance(text) for text in {"M", *labels}) + 12

    def set_data(self, weights: np.ndarray, labels: list[str], chars: list[str]) -> None:
        """weights [T, T]; labels: each character as drawn; chars: the characters themselves
        (their tooltips, made on hover: a keystroke need not name every character)."""
        self._weights = weights
        self._labels = labels
        self._chars = chars
        self._char_w = self._box_width(labels)
        ii, jj = np.nonzero(np.tril(weights >= MIN_WEIGHT))
        self._i, self._j, self._w = ii, jj, weights[ii, jj]
        self._bucket = np.clip(np.ceil(self._w * _LEVELS), 1, _LEVELS).astype(np.int64)
        self.updateGeometry()
        self.update()

    @property
    def labels(self) -> list[str]:
        return self._labels

    def tip(self, index: int) -> str:
        return f"{quoted_char(self._chars[index])} at position {index}"

    def set_focus(self, focus: tuple[str, int] | None) -> None:
        self._focus = focus
        self.update()

    def lines_mask(self) -> np.ndarray:
        """Which of the lines are drawn: all, or those from/to the focused character."""
        if self._focus is None:
            return np.ones(self._i.shape, dtype=bool)
        side, index = self._focus
        return (self._i if side == "left" else self._j) == index

    def visible_lines(self) -> list[tuple[int, int, float]]:
        mask = self.lines_mask()
        return [
            (int(i), int(j), float(w))
            for i, j, w in zip(self._i[mask], self._j[mask], self._w[mask], strict=True)
        ]

    # --- geometry ------------------------------------------------------------------------------

    def geometry_now(self) -> _Geometry:
        t = max(len(self._labels), 1)
        row_h = min(max((self.height() - 2 * _PAD) / t, self.min_row), self._max_row)
        side_w = self._char_w + self._value_w
        lines_w = min(max(self.width() - 2 * side_w - 16, _MIN_LINES_WIDTH), _MAX_LINES_WIDTH)
        left_x = max((self.width() - 2 * side_w - lines_w) / 2, 0.0) + self._value_w
        return _Geometry(
            row_h, self._char_w, left_x, left_x + self._char_w + lines_w, self._value_w
        )

    def sizeHint(self) -> QSize:
        return QSize(int(2 * (self._char_w + self._value_w) + 240), self._height_for(self._max_row))

    def minimumSizeHint(self) -> QSize:
        width = 2 * (self._char_w + self._value_w) + _MIN_LINES_WIDTH + 16
        return QSize(int(width), self._height_for(self.min_row))

    def _height_for(self, row_h: float) -> int:
        return int(math.ceil(2 * _PAD + max(len(self._labels), 1) * row_h))

    def row_at(self, pos: QPointF) -> tuple[str, int] | None:
        if not self._labels:
            return None
        geometry = self.geometry_now()
        index = math.floor((pos.y() - _PAD) / geometry.row_h)
        if not 0 <= index < len(self._labels):
            return None
        for side in SIDES:
            box = geometry.box(side, index)
            if box.left() <= pos.x() < box.right():
                return side, index
        return None

    def row_centre(self, side: str, index: int) -> QPointF:
        return self.geometry_now().box(side, index).center()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    # --- mouse ---------------------------------------------------------------------------------

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        row = self.row_at(event.position())
        self.hovered.emit(*(row or ("", -1)))
        self.setToolTip(self.tip(row[1]) if row else "")
        super().mouseMoveEvent(event)

    def leaveEvent(self, event) -> None:
        self.hovered.emit("", -1)
        super().leaveEvent(event)

    # --- painting ------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        if not self._labels:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter, "Pick a head to see where it looks"
            )
            return
        geometry = self.geometry_now()
        top, bottom = event.rect().top(), event.rect().bottom() + 1
        self._paint_lines(painter, geometry, top, bottom)
        first = max(math.floor((top - _PAD) / geometry.row_h), 0)
        last = min(math.ceil((bottom - _PAD) / geometry.row_h), len(self._labels))
        self._paint_labels(painter, geometry, range(first, last), palette)

    def _paint_lines(self, painter: QPainter, geometry: _Geometry, top: int, bottom: int) -> None:
        mask = self.lines_mask()
        y_from, y_to = geometry.y(self._i), geometry.y(self._j)
        # A line is needed if its vertical extent meets the strip being repainted.
        mask &= (np.minimum(y_from, y_to) <= bottom) & (np.maximum(y_from, y_to) >= top)
        x_from = geometry.left_x + geometry.char_w + 2
        x_to = geometry.right_x - 2
        colour = QColor(LINE_COLOUR)
        for bucket in np.unique(self._bucket[mask]):
            level = bucket / _LEVELS
            colour.setAlpha(int(40 + 215 * level))
            # Antialiased strokes cost ~10x more; faint lines do not show the jaggies. Round
            # caps would cost another 10x.
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, bool(bucket > _ALIASED_BUCKETS))
            pen = QPen(colour, 0.5 + 3.5 * level)
            pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            painter.setPen(pen)
            chosen = mask & (self._bucket == bucket)
            painter.drawLines(
                [
                    QLineF(x_from, float(a), x_to, float(b))
                    for a, b in zip(y_from[chosen], y_to[chosen], strict=True)
                ]
            )
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)

    def _paint_labels(
        self, painter: QPainter, geometry: _Geometry, rows: range, palette: QPalette
    ) -> None:
        text = palette.color(QPalette.ColorRole.WindowText)
        faded = QColor(text)
        faded.setAlpha(_FADED_ALPHA)
        # With a focus, the characters at the other ends of its lines get a box shaded by weight.
        partners: dict[int, float] = {}
        other = ""
        if self._focus is not None:
            side, index = self._focus
            other = "right" if side == "left" else "left"
            row = (
                self._weights[index, : index + 1]
                if side == "left"
                else self._weights[index:, index]
            )
            offset = 0 if side == "left" else index
            partners = {offset + k: float(w) for k, w in enumerate(row) if w >= MIN_WEIGHT}
        painter.setPen(Qt.PenStyle.NoPen)
        for index in rows:
            for side in SIDES:
                box = geometry.box(side, index).adjusted(1, 1, -1, -1)
                if self._focus == (side, index):
                    focus_fill = QColor(FOCUS_COLOUR)
                    focus_fill.setAlpha(60)
                    painter.setBrush(focus_fill)
                    painter.setPen(QPen(QColor(FOCUS_COLOUR), 1.5))
                    painter.drawRoundedRect(box, 3, 3)
                    painter.setPen(Qt.PenStyle.NoPen)
                elif side == other and index in partners:
                    fill = QColor(LINE_COLOUR)
                    fill.setAlpha(int(30 + 170 * partners[index]))
                    painter.setBrush(fill)
                    painter.drawRoundedRect(box, 3, 3)
        painter.setFont(self._mono)
        for index in rows:
            for side in SIDES:
                involved = self._focus is None or self._focus == (side, index)
                involved = involved or (side == other and index in partners)
                painter.setPen(text if involved else faded)
                painter.drawText(
                    geometry.box(side, index), Qt.AlignmentFlag.AlignCenter, self._labels[index]
                )
        if not partners:
            return
        painter.setFont(self._small)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        for index in rows:
            if index not in partners:
                continue
            box = geometry.box(other, index)
            if other == "right":
                where = QRectF(box.right() + 4, box.top(), geometry.value_w - 4, box.height())
                align = Qt.AlignmentFlag.AlignLeft
            else:
                where = QRectF(
                    box.left() - geometry.value_w, box.top(), geometry.value_w - 4, box.height()
                )
                align = Qt.AlignmentFlag.AlignRight
            painter.drawText(where, align | Qt.AlignmentFlag.AlignVCenter, f"{partners[index]:.2f}")


class _Headings(QWidget):
    """'attends from' and 'attends to' above the columns; stays put while the rows scroll."""

    def __init__(self, canvas: _LinesCanvas, owner: QWidget) -> None:
        super().__init__(owner)
        self._canvas = canvas
        self._owner = owner
        self.setFixedHeight(self.fontMetrics().height() + 4)
        canvas.resized.connect(self.update)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        geometry = self._canvas.geometry_now()
        shift = (
            self._canvas.mapTo(self._owner, QPoint()).x() - self.mapTo(self._owner, QPoint()).x()
        )
        # Centred over their columns; the margins beside the columns leave room for that.
        for x, text in ((geometry.left_x, "attends from"), (geometry.right_x, "attends to")):
            centre = shift + x + geometry.char_w / 2
            painter.drawText(
                QRectF(centre - 100, 0, 200, self.height()), Qt.AlignmentFlag.AlignCenter, text
            )


class AttentionLinesView(QWidget):
    """One head's attention as lines from each character to the characters it attends to."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("linesView")
        self._focus: tuple[str, int] | None = None
        self._t = 0

        self._title = ElidedLabel(objectName="linesTitle")
        # its text's width where there is room; on a laptop's narrow column it is cut with "…"
        # and the badge beside it stays whole
        self._title.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self._title.setMinimumWidth(1)
        font = self._title.font()
        font.setBold(True)
        self._title.setFont(font)
        self._badge = QLabel()
        self._badge.setObjectName("headLabelBadge")
        self._badge.hide()
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self._title)
        header.addWidget(self._badge)
        header.addStretch(1)

        self._canvas = _LinesCanvas()
        self._canvas.hovered.connect(self._on_hovered)
        self._scroll = vertical_scroll(self._canvas)
        self._headings = _Headings(self._canvas, self)
        self._headings.hide()

        column(self, header, self._headings, (self._scroll, 1), margin=(8, 6), spacing=4)

    # --- public API ----------------------------------------------------------------------------

    def set_head(
        self,
        attention: np.ndarray,
        tokens: list[str],
        title: str,
        label: str = "",
        kind: str = "",
        short_title: str = "",
    ) -> None:
        """Show one head's attention [T, T] (row i: how query i spreads over keys 0..i); label
        and its kind (core.head_profiles.LabelKind value, for the colour) name what it does;
        short_title is the title where it does not fit.

        A hovered character stays focused across updates while it still exists.
        """
        weights = np.asarray(attention, dtype=np.float32)
        if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
            raise ValueError(f"attention must be [T, T], got {weights.shape}")
        if weights.shape[0] != len(tokens):
            raise ValueError(f"{len(tokens)} tokens for attention over T={weights.shape[0]}")
        if not tokens:
            self.clear()
            return
        self._t = len(tokens)
        if self._focus is not None and self._focus[1] >= self._t:
            self._focus = None
        self._canvas.set_focus(self._focus)
        self._canvas.set_data(weights.copy(), visible_chars(tokens), list(tokens))
        self._title.setText(title)
        self._title.set_short_text(short_title)
        self._set_badge(label, kind)
        self._headings.show()
        self._headings.update()

    def clear(self) -> None:
        """Back to the empty-state hint."""
        self._t = 0
        self._focus = None
        self._canvas.set_focus(None)
        self._canvas.set_data(np.zeros((0, 0), dtype=np.float32), [], [])
        self._title.clear()
        self._set_badge("", "")
        self._headings.hide()

    def focus(self, side: str | None, index: int | None) -> None:
        """Keep only the lines from ("left") or to ("right") one character; None: all lines."""
        if side is None or index is None or self._t == 0:
            focus = None
        elif side not in SIDES:
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        elif not 0 <= index < self._t:
            raise IndexError(f"no character {index} in a prompt of {self._t}")
        else:
            focus = (side, index)
        if focus != self._focus:
            self._focus = focus
            self._canvas.set_focus(focus)

    def focused(self) -> tuple[str, int] | None:
        return self._focus

    def labels(self) -> list[str]:
        """The characters as drawn in each column, top to bottom ('↵' for a newline)."""
        return list(self._canvas.labels)

    def tooltip_at(self, pos: QPointF) -> str:
        """The tooltip over pos (this widget's coordinates): the character there, named if it
        has a stand-in; '' off every character."""
        row = self.row_at(pos)
        return self._canvas.tip(row[1]) if row else ""

    def visible_lines(self) -> list[tuple[int, int, float]]:
        """(query i, key j, weight) of every line drawn now, by i then j."""
        return self._canvas.visible_lines()

    def row_at(self, pos: QPointF) -> tuple[str, int] | None:
        """("left" | "right", index) of the character box under pos (this widget's coordinates)."""
        self._settle_layout()
        return self._canvas.row_at(QPointF(self._canvas.mapFrom(self, pos)))

    def row_position(self, side: str, index: int) -> QPointF:
        """Centre of a character's box in this widget's coordinates (the inverse of row_at),
        after scrolling it into view."""
        self._settle_layout()
        centre = self._canvas.row_centre(side, index)
        self._scroll.ensureVisible(int(centre.x()), int(centre.y()), 0, int(self._canvas.min_row))
        return QPointF(self._canvas.mapTo(self, centre))

    # --- internals -----------------------------------------------------------------------------

    @staticmethod
    def _settle_layout() -> None:
        """Apply pending layout requests: after set_head the canvas's new height (and so its
        rows and the scroll range) only arrives with a posted event."""
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)

    def _set_badge(self, label: str, kind: str) -> None:
        self._badge.setVisible(bool(label))
        self._badge.setText(label)
        colour = LABEL_COLOURS.get(kind, NEUTRAL_LABEL_COLOUR)
        # Dark text on a soft fill reads on light and dark themes alike.
        style = f"background: {colour}; color: #1f2328; border-radius: 8px; padding: 1px 8px;"
        if self._badge.styleSheet() != style:  # a style sheet re-polishes even when unchanged
            self._badge.setStyleSheet(style)

    def _on_hovered(self, side: str, index: int) -> None:
        self.focus(side or None, index if side else None)
