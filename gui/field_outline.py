"""An outline drawn over a form field that is at fault, leaving the field's own look alone.

A style sheet border on a spin box or a combo box makes Qt draw the whole box from the sheet,
with squashed arrows; drawn over the field, the outline keeps the box as the platform draws it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget


class FieldOutline(QWidget):
    """A 1 px rectangle in `colour` over the whole of `field` (a child that follows its size and
    lets the mouse through)."""

    def __init__(self, field: QWidget, colour: str) -> None:
        super().__init__(field)
        self.setObjectName("fieldOutline")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._colour = QColor(colour)
        self.setGeometry(field.rect())
        field.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.parent():
            self.setGeometry(watched.rect())
        return False

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self._colour)
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))


def set_outlined(field: QWidget, outlined: bool, colour: str) -> None:
    """Show (or hide) an outline in `colour` (a CSS colour such as "#c62828") over `field`."""
    outline = field.findChild(FieldOutline, options=Qt.FindChildOption.FindDirectChildrenOnly)
    if outline is None and outlined:
        outline = FieldOutline(field, colour)
    if outline is not None:
        outline.setVisible(outlined)
        outline.raise_()  # over the field's own children (a spin box's line edit)
