"""Widgets built the same way in several views."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QAbstractItemModel, QEvent, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QLabel,
    QLayout,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

# what Qt hands a model's or a delegate's methods as an index
ModelIndex = QModelIndex | QPersistentModelIndex


def row_table(object_name: str, model: QAbstractItemModel) -> QTableView:
    """A read-only table of model whose rows are picked one whole row at a time."""
    table = QTableView(objectName=object_name)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    return table


def vertical_scroll(widget: QWidget) -> QScrollArea:
    """widget in a frameless area that scrolls up and down only (widget takes its width)."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


def column(
    owner: QWidget,
    *items: QWidget | QLayout | tuple[QWidget, int],
    margin: int | tuple[int, int] = 0,
    spacing: int = -1,
) -> QVBoxLayout:
    """owner's layout: items top to bottom, margin px all round (or (left and right, top and
    bottom)), spacing px between them (-1: the style's). An item (widget, stretch) shares the
    spare height by stretch; a layout is nested."""
    across, down = margin if isinstance(margin, tuple) else (margin, margin)
    layout = QVBoxLayout(owner)
    layout.setContentsMargins(across, down, across, down)
    layout.setSpacing(spacing)
    for item in items:
        if isinstance(item, tuple):
            layout.addWidget(*item)
        elif isinstance(item, QLayout):
            layout.addLayout(item)
        else:
            layout.addWidget(item)
    return layout


def splitter(
    orientation: Qt.Orientation,
    widgets: Sequence[QWidget],
    sizes: Sequence[int] = (),
    stretch: Sequence[int] = (),
    name: str = "",
) -> QSplitter:
    """widgets in a splitter, shared out at first by sizes (px, which Qt scales to the room the
    splitter gets; none: by their size hints) and on later resizes by the stretch factors."""
    split = QSplitter(orientation, objectName=name)
    for widget in widgets:
        split.addWidget(widget)
    for index, factor in enumerate(stretch):
        split.setStretchFactor(index, factor)
    if sizes:
        split.setSizes(list(sizes))
    return split


def titled(title: str | QLabel, widget: QWidget) -> QWidget:
    """A view under a small bold heading (a label that is given keeps its own text and policy)."""
    label = title if isinstance(title, QLabel) else QLabel(title)
    label.setObjectName("viewTitle")
    box = QWidget()
    column(box, label, (widget, 1), spacing=2)
    return box


class ElidedLabel(QLabel):
    """A one-line label that draws a text too long for its width cut short with "…" instead of
    widening its column or wrapping onto more lines; text() stays whole, and while it is cut
    the tooltip shows it whole above the label's own tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None, **kwargs) -> None:
        super().__init__(text, parent, **kwargs)
        self._shorts: tuple[str, ...] = ()
        self.setWordWrap(False)
        # any width: the text is cut to fit, so the label never forces its layout wider
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set_short_text(self, *shorts: str) -> None:
        """Shorter forms of the text, longest first, drawn where the text does not fit (none,
        or "", for none)."""
        self._shorts = tuple(short for short in shorts if short)
        self.update()

    def shown_text(self) -> str:
        """The text as drawn: whole, else the first of its short forms that fits (the last
        where none does), cut short with "…" to the label's width if need be."""
        width, metrics, text = self.contentsRect().width(), self.fontMetrics(), self.text()
        for short in self._shorts:
            if metrics.horizontalAdvance(text) <= width:
                break
            text = short
        return metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)

    def is_elided(self) -> bool:
        return self.shown_text() != self.text()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        self.style().drawItemText(
            painter,
            self.contentsRect(),
            int(self.alignment()),
            self.palette(),
            self.isEnabled(),
            self.shown_text(),
            self.foregroundRole(),
        )

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.is_elided():
            tip = "\n".join(t for t in (self.text(), self.toolTip()) if t)
            QToolTip.showText(event.globalPos(), tip, self)
            return True
        return super().event(event)
