"""Small bar charts drawn inside table cells: a head's share of attention per item (offsets back,
character classes), each bar against a tick at the rate a head looking nowhere in particular
would have (its base rate).

A cell holds its values in PROFILE_ROLE as (values, base rates), two equal-length lists of
shares in 0..1; the bars share one scale per cell, so the tallest bar fills it.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from headwatch.gui.widgets import ModelIndex

PROFILE_ROLE = Qt.ItemDataRole.UserRole + 3
BAR_COLOUR = QColor(78, 121, 167)  # the prediction bars' blue
ABOVE_BASE_COLOUR = QColor(225, 87, 89)  # a bar well above its base rate stands out
BASE_COLOUR = QColor(60, 60, 60, 150)
# a bar this much above its base rate is drawn in ABOVE_BASE_COLOUR
STANDS_OUT = 0.15
MIN_SCALE = 0.2  # a head spread thinly still shows small bars, not a full cell of noise
BAR_PX = 4  # each bar's width plus its gap, px: the column's width follows from it


def profile_width(bars: int) -> int:
    """The column width, px, that shows `bars` bars."""
    return bars * BAR_PX + 10


class ProfileBarsDelegate(QStyledItemDelegate):
    """Draws a cell's PROFILE_ROLE (values, base rates) as bars with base-rate ticks."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        super().paint(painter, option, index)
        data = index.data(PROFILE_ROLE)
        if not data:
            return
        values, base = data
        rect = QRectF(option.rect).adjusted(5, 3, -5, -3)
        scale = max(MIN_SCALE, *values, *base)
        width = rect.width() / max(1, len(values))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for i, (value, rate) in enumerate(zip(values, base, strict=True)):
            left = rect.left() + i * width
            height = rect.height() * min(value / scale, 1.0)
            colour = ABOVE_BASE_COLOUR if value - rate >= STANDS_OUT else BAR_COLOUR
            painter.fillRect(
                QRectF(left, rect.bottom() - max(height, 1.0), max(width - 1, 1), max(height, 1.0)),
                colour,
            )
            tick = rect.bottom() - rect.height() * min(rate / scale, 1.0)
            painter.setPen(QPen(BASE_COLOUR, 1))
            painter.drawLine(QPointF(left, tick), QPointF(left + width - 1, tick))
        painter.restore()
