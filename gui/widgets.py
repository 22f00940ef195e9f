"""Widgets built the same way in several views."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QLabel,
    QScrollArea,
    QTableView,
    QVBoxLayout,
    QWidget,
)


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


def titled(title: str, widget: QWidget) -> QWidget:
    """A view under a small bold heading."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    label = QLabel(title)
    label.setObjectName("viewTitle")
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    return box
