"""What each attention head does, over many validation windows: one sortable row per head.

The numbers come from the caller (core.head_report); this table only shows and sorts them. The
profiles are small bars against their base rates (gui.profile_bars), the same-char share has a
faint bar behind its percentage, the Label cell is tinted with its kind's colour (LABEL_COLOURS,
shared with the grid's badges), and a check box per head knocks it out of every view.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from headwatch.gui.profile_bars import PROFILE_ROLE, ProfileBarsDelegate, profile_width
from headwatch.gui.widgets import ElidedLabel, ModelIndex, row_table

# Soft fills for dark text, one per kind of label core can give a head (core.head_profiles).
LABEL_COLOURS: dict[str, str] = {
    "offset": "#cfe2f3",
    "char class": "#fde2c4",
    "same char": "#f6d5e5",
    "first position": "#d5ecc9",
    "broad": "#e3daf2",
    "mixed": "#e4e6ea",
}
NEUTRAL_LABEL_COLOUR = "#eef0f3"  # a kind outside LABEL_COLOURS
LABEL_TEXT_COLOUR = "#1f2328"
# badges sit in a tile's corner: long labels get a short form there (the tooltip has it whole)
_BADGE_TEXT = {
    "first position": "first",
    "punctuation": "punct.",
    "consonants": "cons.",
    "upper case": "upper",
    "other chars": "other",
}


def badge_text(label: str) -> str:
    """The short form of a head's label that fits on its badge."""
    return _BADGE_TEXT.get(label, label)


# short: the tab is narrow on a laptop screen; each title's tooltip says it in full
COLUMNS = ("Out", "L", "H", "Label", "Offsets", "Classes", "Same", "Δ out", "Δ alone")
OUT_COLUMN, LABEL_COLUMN = 0, COLUMNS.index("Label")
OFFSET_COLUMN, CLASS_COLUMN = COLUMNS.index("Offsets"), COLUMNS.index("Classes")
_TOOLTIPS = (
    "Knocked out: tick to replace the head's output in every view of the prompt (never in "
    "training)",
    "Layer, counted from 1",
    "Head within its layer, counted from 1",
    "What the head mostly does, derived from its profile against a head that looks nowhere "
    "in particular",
    "Mean attention by offset: 0 (itself), 1 back, … 16 back, then further; ticks: an even "
    "spread's",
    "Share of attention by the key's character class; ticks: the classes' base rates",
    "Share of its attention on earlier keys holding the query's own character",
    "Δ val loss when knocked out (nats per character)",
    "Δ val loss keeping only this head in its layer (nats per character)",
)
ROW_PAD_PX = 2  # a row's height over the font's, px
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # numbers sort as numbers, not as their text
_ROW_ROLE = Qt.ItemDataRole.UserRole + 2  # index of the row's dict in HeadTable._rows
_BAR_COLOUR = QColor(78, 121, 167, 48)  # the prediction bars' blue, faint behind the text
_CAPTION = "What each head does"
_CAPTION_EMPTY = f"{_CAPTION} — press Analyse heads to measure it"
_NOT_MEASURED = "—"


class _ShareDelegate(QStyledItemDelegate):
    """A percentage cell with a bar behind it, as long as the share."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
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
    """Every head of the model with its label, profile and knockout losses; click one to see
    it, tick one to knock it out."""

    headSelected = Signal(int, int)  # noqa: N815 - Qt naming; (layer, head), 0-based
    analyseRequested = Signal()  # noqa: N815
    measureRequested = Signal()  # noqa: N815 - the knockout losses, on request
    knockoutToggled = Signal(int, int)  # noqa: N815 - (layer, head), 0-based

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("headTable")
        self._rows: list[dict] = []
        self._base: dict = {}
        self._classes: tuple[str, ...] = ()
        self._knocked: frozenset[tuple[int, int]] = frozenset()
        self._selected: tuple[int, int] | None = None
        self._quiet = False  # set while the table itself moves the selection or the ticks
        self._sample_desc = ""
        self._step: int | None = None
        self._losses_desc = ""

        # one line: wrapped, it took three of a laptop tab's few rows
        self._caption = ElidedLabel(_CAPTION_EMPTY, objectName="headTableCaption")
        self._button = QPushButton("Analyse heads", objectName="analyseHeadsButton")
        self._button.setToolTip("Measure what every head does over a sample of validation text")
        self._button.setMinimumWidth(
            self._button.fontMetrics().horizontalAdvance("Analysing…") + 24
        )
        self._button.clicked.connect(self.analyseRequested)
        self._measure = QPushButton("Measure knockout losses", objectName="measureLossesButton")
        self._measure.setToolTip(
            "The validation loss without each head, and with each head alone in its layer "
            "(2 forward passes per head; also measured when a run ends)"
        )
        self._measure.clicked.connect(self.measureRequested)
        top = QHBoxLayout()
        top.addWidget(self._caption, 1)
        top.addWidget(self._button)
        top.addWidget(self._measure)

        self._model = QStandardItemModel(0, len(COLUMNS), self)
        self._model.setSortRole(SORT_ROLE)
        for column, (name, tip) in enumerate(zip(COLUMNS, _TOOLTIPS, strict=True)):
            self._model.setHeaderData(column, Qt.Orientation.Horizontal, name)
            self._model.setHeaderData(
                column, Qt.Orientation.Horizontal, tip, Qt.ItemDataRole.ToolTipRole
            )
        self._model.itemChanged.connect(self._on_item_changed)
        self._view = row_table("headTableView", self._model)
        self._view.verticalHeader().hide()
        # compact rows: a 4×4 model's 16 heads in the few hundred pixels of a laptop's tab (the
        # style's least height would add a row's worth over 8 rows)
        row_px = self.fontMetrics().height() + ROW_PAD_PX
        self._view.verticalHeader().setMinimumSectionSize(row_px)
        self._view.verticalHeader().setDefaultSectionSize(row_px)
        self._view.setSortingEnabled(True)
        self._view.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        self._share_delegate = _ShareDelegate(self._view)
        self._view.setItemDelegateForColumn(COLUMNS.index("Same"), self._share_delegate)
        self._bars_delegate = ProfileBarsDelegate(self._view)
        for column in (OFFSET_COLUMN, CLASS_COLUMN):
            self._view.setItemDelegateForColumn(column, self._bars_delegate)
        header = self._view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for column in range(LABEL_COLUMN + 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        for column, bars in ((OFFSET_COLUMN, 18), (CLASS_COLUMN, 8)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(column, max(profile_width(bars), header.sectionSizeHint(column)))
        self._view.selectionModel().currentRowChanged.connect(self._on_current_row)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 2, 8, 2)
        layout.setSpacing(2)  # the style's 6 px over the table are a third of a laptop's row
        top.setSpacing(6)  # the buttons keep the style's room between them
        layout.addLayout(top)
        layout.addWidget(self._view, 1)

    # --- public API ----------------------------------------------------------------------------

    def set_stats(
        self,
        rows: list[dict],
        sample_desc: str = "",
        base: dict | None = None,
        classes: tuple[str, ...] = (),
        losses_desc: str = "",
        step: int | None = None,
    ) -> None:
        """One row per head: dicts as core.head_report.HeadReport.rows (layer, head 0-based,
        label, kind, offset, further, classes, same_char, delta_loss, delta_loss_kept_only);
        base: the base rates in the same keys; classes: the class names of "classes".
        sample_desc ("64 validation windows") goes into the caption, the step of the weights
        measured into its short forms where that does not fit, and losses_desc into its
        tooltip. Keeps the sort order, the selected head and the knocked-out ticks."""
        self._rows = [dict(row) for row in rows]
        self._base, self._classes = dict(base or {}), tuple(classes)
        self._sample_desc, self._step, self._losses_desc = sample_desc, step, losses_desc
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
        self._sample_desc = self._losses_desc = ""
        self._step = None
        self._quiet = True
        try:
            self._model.setRowCount(0)
        finally:
            self._quiet = False
        self._update_caption(busy=not self._button.isEnabled())

    def set_busy(self, busy: bool) -> None:
        """While heads are being analysed the buttons are off and the caption says so."""
        self._button.setEnabled(not busy)
        self._measure.setEnabled(not busy)
        self._button.setText("Analysing…" if busy else "Analyse heads")
        self._update_caption(busy)

    def set_knocked_out(self, heads: frozenset[tuple[int, int]]) -> None:
        """Tick the knocked-out heads (0-based (layer, head)) without emitting knockoutToggled."""
        self._knocked = frozenset(heads)
        self._quiet = True
        try:
            for model_row in range(self._model.rowCount()):
                out = self._head_at(model_row) in self._knocked
                item = self._model.item(model_row, OUT_COLUMN)
                item.setCheckState(Qt.CheckState.Checked if out else Qt.CheckState.Unchecked)
                item.setData(int(out), SORT_ROLE)
        finally:
            self._quiet = False

    def knocked_out(self) -> frozenset[tuple[int, int]]:
        """The heads ticked in the Out column."""
        return frozenset(
            self._head_at(r)
            for r in range(self._model.rowCount())
            if self._model.item(r, OUT_COLUMN).checkState() == Qt.CheckState.Checked
        )

    def set_knockout_checked(self, layer: int, head: int, checked: bool) -> None:
        """Tick or untick a head's box as a click would (emits knockoutToggled on a change)."""
        for model_row in range(self._model.rowCount()):
            if self._head_at(model_row) == (layer, head):
                state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
                self._model.item(model_row, OUT_COLUMN).setCheckState(state)

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

    def cell_text(self, model_row: int, column: int) -> str:
        """The text shown in a cell, rows in the order shown."""
        return self._model.item(model_row, column).text()

    # --- internals -----------------------------------------------------------------------------

    def _row_items(self, index: int, row: dict) -> list[QStandardItem]:
        layer, head, label = int(row["layer"]), int(row["head"]), str(row["label"])
        # Ties within a column fall back to layer, then head: the table stays in model order.
        centre = Qt.AlignmentFlag.AlignHCenter
        out = (layer, head) in self._knocked
        out_item = _item("", int(out), centre)
        out_item.setCheckable(True)
        out_item.setCheckState(Qt.CheckState.Checked if out else Qt.CheckState.Unchecked)
        out_item.setData(index, _ROW_ROLE)
        label_item = _item(label, label, Qt.AlignmentFlag.AlignLeft)
        colour = LABEL_COLOURS.get(str(row.get("kind", "")), NEUTRAL_LABEL_COLOUR)
        label_item.setBackground(QBrush(QColor(colour)))
        label_item.setForeground(QBrush(QColor(LABEL_TEXT_COLOUR)))
        same = float(row["same_char"])
        return [
            out_item,
            _item(str(layer + 1), layer * 10_000 + head, centre),
            _item(str(head + 1), head * 10_000 + layer, centre),
            label_item,
            self._offset_item(row),
            self._class_item(row),
            _item(f"{same * 100:.0f}%", same),
            _loss_item(row.get("delta_loss")),
            _loss_item(row.get("delta_loss_kept_only")),
        ]

    def _offset_item(self, row: dict) -> QStandardItem:
        offset, further = list(row["offset"]), row.get("further")
        base = list(self._base.get("offset", [0.0] * len(offset)))
        if further is not None:
            offset.append(further)
            base.append(self._base.get("further") or 0.0)
        peak = max(range(len(offset)), key=offset.__getitem__)
        item = _item("", peak)  # sorts by where the head looks most
        item.setData((offset, base), PROFILE_ROLE)
        names = [str(d) for d in range(len(row["offset"]))] + (["further"] * (further is not None))
        item.setToolTip(_profile_tip("back", names, offset, base))
        return item

    def _class_item(self, row: dict) -> QStandardItem:
        shares = list(row["classes"])
        base = list(self._base.get("classes", [0.0] * len(shares)))
        excess = [share - rate for share, rate in zip(shares, base, strict=True)]
        top = max(range(len(shares)), key=excess.__getitem__)
        item = _item("", top)  # sorts by the class most above its base rate
        item.setData((shares, base), PROFILE_ROLE)
        names = list(self._classes) or [str(k) for k in range(len(shares))]
        item.setToolTip(_profile_tip("class", names, shares, base))
        return item

    def _row_index(self, model_row: int) -> int:
        return int(self._model.item(model_row, OUT_COLUMN).data(_ROW_ROLE))

    def _head_at(self, model_row: int) -> tuple[int, int]:
        row = self._rows[self._row_index(model_row)]
        return int(row["layer"]), int(row["head"])

    def _on_item_changed(self, item: QStandardItem) -> None:
        if self._quiet or item.column() != OUT_COLUMN:
            return
        head = self._head_at(item.row())
        if (item.checkState() == Qt.CheckState.Checked) != (head in self._knocked):
            self.knockoutToggled.emit(*head)

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
        text, shorts = _CAPTION_EMPTY, ("Not analysed yet",)
        if busy:
            text, shorts = f"{_CAPTION} — analysing…", ("Analysing the heads…",)
        elif self._rows and self._sample_desc:
            text, shorts = f"{_CAPTION} — over {self._sample_desc}", ()
            if self._step is not None:
                shorts = (f"{_CAPTION} at step {self._step:,}", f"Step {self._step:,}")
        elif self._rows:
            text, shorts = _CAPTION, ()
        self._caption.setText(text)
        # beside the buttons the whole caption does not fit the tab, on a laptop or a desktop:
        # a short form reads whole, and the tooltip has the whole and how Δ was measured
        self._caption.set_short_text(*shorts)
        self._caption.setToolTip(
            self._losses_desc or "Δ loss columns: press Measure knockout losses"
        )


def _loss_item(delta: float | None) -> QStandardItem:
    if delta is None:
        return _item(_NOT_MEASURED, float("-inf"))
    return _item(f"{delta:+.3f}", float(delta))


def _profile_tip(what: str, names: list[str], values: list[float], base: list[float]) -> str:
    lines = [
        f"{name}{' back' if what == 'back' and name.isdigit() else ''}: {value * 100:.1f}% "
        f"(base {rate * 100:.1f}%)"
        for name, value, rate in zip(names, values, base, strict=True)
    ]
    return "\n".join(lines)
