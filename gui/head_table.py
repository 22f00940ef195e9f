"""What each attention head does, over many validation windows: one sortable row per head.

The numbers come from the caller (core's head statistics); this table only shows and sorts them.
Share columns carry a faint bar behind the percentage so a column can be scanned by eye, and
the Label cell is tinted with the label's colour (LABEL_COLOURS, shared with other widgets'
badges).
"""

from __future__ import annotations

from headwatch.core.head_label import HeadLabel
from headwatch.gui.widgets import row_table
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

# Soft fills for dark text, one per label core can give a head.
LABEL_COLOURS: dict[str, str] = {
    HeadLabel.PREVIOUS_TOKEN: "#cfe2f3",
    HeadLabel.SELF: "#fde2c4",
    HeadLabel.FIRST_POSITION: "#d5ecc9",
    HeadLabel.BROAD: "#e3daf2",
    HeadLabel.MIXED: "#e4e6ea",
}
NEUTRAL_LABEL_COLOUR = "#eef0f3"  # a label outside LABEL_COLOURS
LABEL_TEXT_COLOUR = "#1f2328"

# short: the tab is narrow on a laptop screen; each title's tooltip says it in full
COLUMNS = ("L", "H", "Label", "Entropy", "Prev", "Self", "First", "Even")
_SHARE_KEYS = ("previous", "self", "first", "even")
_FIRST_SHARE_COLUMN = COLUMNS.index("Prev")
_TOOLTIPS = (
    "Layer, counted from 1",
    "Head within its layer, counted from 1",
    "What the head mostly does, named from the columns on the right",
    "Mean entropy of its attention, in nats: 0 when it looks at a single character",
    "Share of its attention on the previous character",
    "Share of its attention on the character itself",
    "Share of its attention on the first position of the window",
    "How evenly it spreads: its entropy as a share of an even spread's",
)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # numbers sort as numbers, not as their text
_ROW_ROLE = Qt.ItemDataRole.UserRole + 2  # index of the row's dict in HeadTable._rows
_BAR_COLOUR = QColor(78, 121, 167, 48)  # the prediction bars' blue, faint behind the text
_CAPTION = "What each head does"
_CAPTION_EMPTY = f"{_CAPTION} — press Analyse heads to measure it"


class _ShareDelegate(QStyledItemDelegate):
    """A percentage cell with a bar behind it, as long as the share."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        share = index.data(SORT_ROLE)
        if isinstance(share, float) and share > 0:
            rect = QRectF(option.rect).adjusted(3, 4, -3, -4)
            rect.setWidth(rect.width() * min(share, 1.0))
            painter.save()
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(_BAR_COLOUR)
            painter.drawRoundedRect(rect, 2, 2)
            painter.restore()
        super().paint(painter, option, index)


def _item(
    text: str, sort_key: float | str, align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignRight
) -> QStandardItem:
    item = QStandardItem(text)
    item.setData(sort_key, SORT_ROLE)
    item.setEditable(False)
    item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
    return item


class HeadTable(QWidget):
    """Every head of the model with its label and attention statistics; click one to see it."""

    headSelected = Signal(int, int)  # noqa: N815 - Qt naming; (layer, head), 0-based
    analyseRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("headTable")
        self._rows: list[dict] = []
        self._selected: tuple[int, int] | None = None
        self._quiet = False  # set while the table itself moves the selection
        self._sample_desc = ""

        self._caption = QLabel(_CAPTION_EMPTY, objectName="headTableCaption")
        self._caption.setWordWrap(True)
        self._button = QPushButton("Analyse heads", objectName="analyseHeadsButton")
        self._button.setToolTip("Measure what every head does over a sample of validation text")
        self._button.setMinimumWidth(
            self._button.fontMetrics().horizontalAdvance("Analysing…") + 24
        )
        self._button.clicked.connect(self.analyseRequested)
        top = QHBoxLayout()
        top.addWidget(self._caption, 1)
        top.addWidget(self._button)

        self._model = QStandardItemModel(0, len(COLUMNS), self)
        self._model.setSortRole(SORT_ROLE)
        for column, (name, tip) in enumerate(zip(COLUMNS, _TOOLTIPS, strict=True)):
            self._model.setHeaderData(column, Qt.Orientation.Horizontal, name)
            self._model.setHeaderData(
                column, Qt.Orientation.Horizontal, tip, Qt.ItemDataRole.ToolTipRole
            )
        self._view = row_table("headTableView", self._model)
        self._view.verticalHeader().hide()
        self._view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        self._view.setSortingEnabled(True)
        self._view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self._share_delegate = _ShareDelegate(self._view)
        for column in range(_FIRST_SHARE_COLUMN, len(COLUMNS)):
            self._view.setItemDelegateForColumn(column, self._share_delegate)
        header = self._view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self._view.selectionModel().currentRowChanged.connect(self._on_current_row)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self._view, 1)

    # --- public API ----------------------------------------------------------------------------

    def set_stats(self, rows: list[dict], sample_desc: str = "") -> None:
        """One row per head: dicts with layer, head (0-based), label, entropy (nats) and the
        shares previous, self, first, even (0..1). sample_desc, e.g. "200 validation windows",
        goes into the caption. Keeps the sort order and the selected head."""
        self._rows = [dict(row) for row in rows]
        self._sample_desc = sample_desc
        self._quiet = True
        try:
            self._model.setRowCount(0)
            for index, row in enumerate(self._rows):
                self._model.appendRow(self._row_items(index, row))
            header = self._view.horizontalHeader()
            self._model.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
            self._show_selection()
        finally:
            self._quiet = False
        self._update_caption(busy=not self._button.isEnabled())

    def clear(self) -> None:
        self._rows = []
        self._sample_desc = ""
        self._quiet = True
        try:
            self._model.setRowCount(0)
        finally:
            self._quiet = False
        self._update_caption(busy=not self._button.isEnabled())

    def set_busy(self, busy: bool) -> None:
        """While heads are being analysed the button is off and the caption says so."""
        self._button.setEnabled(not busy)
        self._button.setText("Analysing…" if busy else "Analyse heads")
        self._update_caption(busy)

    def select(self, layer: int, head: int) -> None:
        """Select a head's row (0-based) without emitting headSelected; remembered if absent."""
        self._selected = (layer, head)
        self._quiet = True
        try:
            self._show_selection()
        finally:
            self._quiet = False

    def selected(self) -> tuple[int, int] | None:
        return self._selected

    def rows(self) -> list[dict]:
        """The rows as given to set_stats, in the order shown."""
        return [dict(self._rows[self._row_index(r)]) for r in range(self._model.rowCount())]

    # --- internals -----------------------------------------------------------------------------

    def _row_items(self, index: int, row: dict) -> list[QStandardItem]:
        layer, head, label = int(row["layer"]), int(row["head"]), str(row["label"])
        # Ties within a column fall back to layer, then head: the table stays in model order.
        centre = Qt.AlignmentFlag.AlignHCenter
        layer_item = _item(str(layer + 1), layer * 10_000 + head, centre)
        layer_item.setData(index, _ROW_ROLE)
        label_item = _item(label, label, Qt.AlignmentFlag.AlignLeft)
        label_item.setBackground(QBrush(QColor(LABEL_COLOURS.get(label, NEUTRAL_LABEL_COLOUR))))
        label_item.setForeground(QBrush(QColor(LABEL_TEXT_COLOUR)))
        entropy = float(row["entropy"])
        items = [
            layer_item,
            _item(str(head + 1), head * 10_000 + layer, centre),
            label_item,
            _item(f"{entropy:.2f}", entropy),
        ]
        for key in _SHARE_KEYS:
            share = float(row[key])
            items.append(_item(f"{share * 100:.0f}%", share))
        return items

    def _row_index(self, model_row: int) -> int:
        return int(self._model.item(model_row, 0).data(_ROW_ROLE))

    def _head_at(self, model_row: int) -> tuple[int, int]:
        row = self._rows[self._row_index(model_row)]
        return int(row["layer"]), int(row["head"])

    def _show_selection(self) -> None:
        for model_row in range(self._model.rowCount()):
            if self._head_at(model_row) == self._selected:
                self._view.selectRow(model_row)
                self._view.scrollTo(self._model.index(model_row, 0))
                return
        self._view.clearSelection()

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._quiet or not current.isValid():
            return
        head = self._head_at(current.row())
        if head != self._selected:
            self._selected = head
            self.headSelected.emit(*head)

    def _update_caption(self, busy: bool) -> None:
        if busy:
            text = f"{_CAPTION} — analysing…"
        elif self._rows and self._sample_desc:
            text = f"{_CAPTION} — over {self._sample_desc}"
        elif self._rows:
            text = _CAPTION
        else:
            text = _CAPTION_EMPTY
        self._caption.setText(text)
