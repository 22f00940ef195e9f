"""The session's runs side by side: one sortable row per run, updated live while it trains.

A QAbstractTableModel holds the runs in arrival order; a sort proxy (dynamic, so a row whose
numbers change moves to its place) sits between it and the view. An update rewrites one row and
signals dataChanged for it: the view keeps its sort, selection and scroll position. Empty
numbers (no evaluation yet) sort after all others in either direction.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
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

from headwatch.core.formatting import format_duration
from headwatch.gui.widgets import ModelIndex, row_table

ROW_KEYS = (
    "label",
    "colour",
    "params",
    "step",
    "best_val",
    "last_train",
    "tokens_per_s",
    "seconds",
    "path",
)
CSV_HEADER = ("run_id", *ROW_KEYS)
# (header, row key, tooltip); the colour column is a narrow swatch, like a legend's. Short
# headers, so that every column fits a laptop's narrow tab; the tooltips say them in full.
COLUMNS = (
    ("Run", "label", "An opened run's folder name, or what sets a new run apart from the others"),
    ("", "colour", "The run's colour in the loss plot"),
    ("Params", "params", "Trainable parameters"),
    ("Step", "step", "Training steps done"),
    ("Best val", "best_val", "Lowest validation loss so far"),
    ("Train", "last_train", "Latest training-loss estimate"),
    ("tok/s", "tokens_per_s", "Training speed, tokens per second"),
    ("Time", "seconds", "Training time"),
    ("Folder", "path", "Where the run is saved"),
)
# the text columns share what the numbers leave, and elide (their tooltips hold them whole)
_SHARED_COLUMNS = ("label", "path")
_KEY_COLUMN = {key: column for column, (_, key, _) in enumerate(COLUMNS)}
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 2


def format_params(n: int) -> str:
    """819 -> '819', 11_745 -> '11.7k', 819_200 -> '819k', 10_788_929 -> '10.8M'."""
    if n < 1_000:
        return str(n)
    if n < 100_000:  # the ladder's models differ in the first decimal here
        return f"{n / 1e3:.1f}k"
    if n < 1_000_000:
        return f"{n / 1e3:.0f}k"
    return f"{n / 1e6:.1f}M"


def _loss(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _clean(row: dict) -> dict:
    """The row with every key present and numbers as plain int/float (None where unknown)."""

    def optional(key: str) -> float | None:
        value = row.get(key)
        return None if value is None or math.isnan(float(value)) else float(value)

    return {
        "label": str(row.get("label", "")),
        "colour": str(row.get("colour", "#888888")),
        "params": int(row.get("params", 0)),
        "step": int(row.get("step", 0)),
        "best_val": optional("best_val"),
        "last_train": optional("last_train"),
        "tokens_per_s": optional("tokens_per_s"),
        "seconds": float(row.get("seconds", 0.0)),
        "path": str(row.get("path", "")),
        "settings": str(row.get("settings", "")),  # every setting, for the tooltip
    }


class _RunsModel(QAbstractTableModel):
    """Runs in arrival order; display text, sort keys and tooltips per column."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ids: list[str] = []
        self.runs: dict[str, dict] = {}

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][2]
        return None

    def data(self, index: ModelIndex, role: int = 0):
        if not index.isValid():
            return None
        run_id = self.ids[index.row()]
        run = self.runs[run_id]
        key = COLUMNS[index.column()][1]
        value = run[key]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(key, value)
        if role == SORT_ROLE:
            return value
        if role == RUN_ID_ROLE:
            return run_id
        if role == Qt.ItemDataRole.DecorationRole and key == "colour":
            return QColor(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(key, value, run)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(_LEFT if key in ("label", "path", "colour") else _RIGHT)
        return None

    @staticmethod
    def _text(key: str, value) -> str:
        if key == "colour":
            return ""
        if key == "params":
            return format_params(value)
        if key == "step":
            return f"{value:,}"
        if key in ("best_val", "last_train"):
            return _loss(value)
        if key == "tokens_per_s":
            return "—" if value is None else f"{value:,.0f}"
        if key == "seconds":
            return format_duration(value)
        return str(value)

    @staticmethod
    def _tooltip(key: str, value, run: dict) -> str | None:
        if key == "label" and run["settings"]:
            return f"{value}\n{run['settings']}"
        if key in _SHARED_COLUMNS:
            return value
        if key == "params":
            return f"{value:,} parameters"
        if key == "colour":
            return f"{run['label']}: {value} in the loss plot"
        return None

    def upsert(self, run_id: str, row: dict) -> None:
        if run_id in self.runs:
            self.runs[run_id] = row
            at = self.ids.index(run_id)
            self.dataChanged.emit(self.index(at, 0), self.index(at, len(COLUMNS) - 1))
            return
        at = len(self.ids)
        self.beginInsertRows(QModelIndex(), at, at)
        self.ids.append(run_id)
        self.runs[run_id] = row
        self.endInsertRows()

    def remove(self, run_id: str) -> None:
        if run_id not in self.runs:
            return
        at = self.ids.index(run_id)
        self.beginRemoveRows(QModelIndex(), at, at)
        del self.ids[at]
        del self.runs[run_id]
        self.endRemoveRows()

    def reset(self) -> None:
        self.beginResetModel()
        self.ids.clear()
        self.runs.clear()
        self.endResetModel()


class _SortProxy(QSortFilterProxyModel):
    """Sorts by SORT_ROLE; None (not measured yet) goes last whichever way the column is sorted."""

    def lessThan(  # noqa: N802 - Qt override
        self,
        left: ModelIndex,
        right: ModelIndex,
    ) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if a is None or b is None:
            if a is None and b is None:
                return False
            # Qt reverses lessThan for a descending sort; answer so that None still ends up last.
            none_is_less = self.sortOrder() == Qt.SortOrder.DescendingOrder
            return none_is_less if a is None else not none_is_less
        if isinstance(a, str) or isinstance(b, str):
            return str(a).casefold() < str(b).casefold()
        return a < b


class _ElideStartDelegate(QStyledItemDelegate):
    """Cuts a text too long for its cell at its start: a path keeps its end, the run's folder."""

    def initStyleOption(  # noqa: N802 - Qt override
        self, option: QStyleOptionViewItem, index: ModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideLeft


class CompareView(QWidget):
    """Every run of the session in one table, with the lecture's ladder one click away."""

    runSelected = Signal(str)  # noqa: N815 - Qt naming; run_id
    ladderRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compareView")
        self._selected: str | None = None
        self._quiet = False  # set while the view itself moves the selection

        self._ladder_button = QPushButton("Run the lecture's ladder", objectName="ladderButton")
        self._ladder_button.setToolTip(
            "Train the lecture's models one after another, bigram to full Transformer block, "
            "in the lecture's small setting"
        )
        self._ladder_button.clicked.connect(self.ladderRequested)
        self._ladder_status = QLabel(objectName="ladderStatus")
        top = QHBoxLayout()
        top.addWidget(self._ladder_button)
        top.addWidget(self._ladder_status, 1)

        self._model = _RunsModel(self)
        self._proxy = _SortProxy(self)
        self._proxy.setSourceModel(self._model)
        self._proxy.setSortRole(SORT_ROLE)
        self._proxy.setDynamicSortFilter(True)
        self._table = row_table("compareTable", self._proxy)
        self._table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a label's "#2" stays
        self._path_delegate = _ElideStartDelegate(self._table)
        self._table.setItemDelegateForColumn(_KEY_COLUMN["path"], self._path_delegate)
        self._table.setWordWrap(False)
        self._table.verticalHeader().hide()
        self._table.setSortingEnabled(True)
        header = self._table.horizontalHeader()
        # Arrival order until the user picks a column (-1: no sort).
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setSortIndicatorClearable(True)
        # the figures' columns as wide as their figures and titles: Qt's ResizeToContents also
        # keeps room for a sort arrow in every title, which left the run's name and folder ~50 px
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        for key in _SHARED_COLUMNS:
            header.setSectionResizeMode(_KEY_COLUMN[key], QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(24)
        header.setSectionResizeMode(_KEY_COLUMN["colour"], QHeaderView.ResizeMode.Fixed)
        header.resizeSection(_KEY_COLUMN["colour"], 30)
        self._table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        self._table.selectionModel().currentRowChanged.connect(self._on_current_row)
        for signal in (self._model.rowsInserted, self._model.dataChanged, self._model.modelReset):
            signal.connect(self._fit_figures)
        self._fit_figures()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self._table, 1)

    # --- public API ----------------------------------------------------------------------------

    def upsert_run(self, run_id: str, row: dict) -> None:
        """Add a run, or update it in place (cheap: call it on every progress report)."""
        self._model.upsert(run_id, _clean(row))

    def remove_run(self, run_id: str) -> None:
        # Quiet: Qt moves the current row to a neighbour, which is no choice of the user's.
        self._quiet = True
        try:
            self._model.remove(run_id)
            if run_id == self._selected:
                self._selected = None
                self._table.selectionModel().clear()
        finally:
            self._quiet = False

    def clear(self) -> None:
        self._quiet = True
        try:
            self._selected = None
            self._model.reset()
        finally:
            self._quiet = False

    def select(self, run_id: str) -> None:
        """Select a run's row without emitting runSelected."""
        self._quiet = True
        try:
            self._selected = run_id
            for row in range(self._proxy.rowCount()):
                if self._proxy.index(row, 0).data(RUN_ID_ROLE) == run_id:
                    self._table.selectRow(row)
                    return
            self._table.clearSelection()
        finally:
            self._quiet = False

    def selected(self) -> str | None:
        return self._selected

    def rows(self) -> list[dict]:
        """Every run as {"run_id", *ROW_KEYS} in the order shown; unknown numbers are None."""
        shown = []
        for row in range(self._proxy.rowCount()):
            run_id = self._proxy.index(row, 0).data(RUN_ID_ROLE)
            shown.append({"run_id": run_id, **self._model.runs[run_id]})
        return shown

    def set_ladder_status(self, text: str) -> None:
        """Ladder progress, e.g. "stage 3 of 7: 4 heads of 8"; "" hides it."""
        self._ladder_status.setText(text)

    def set_ladder_running(self, running: bool) -> None:
        """While the ladder trains, its button is off (one ladder at a time)."""
        self._ladder_button.setEnabled(not running)

    def export_csv(self, path: str | Path) -> None:
        """The table in the order shown: CSV_HEADER, then plain numbers (empty where unknown)."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEADER)
            for row in self.rows():
                writer.writerow(["" if row[key] is None else row[key] for key in CSV_HEADER])

    # --- internals -----------------------------------------------------------------------------

    def _fit_figures(self, *_args) -> None:
        """Each figure's column as wide as its widest figure or its title, whichever is wider."""
        header = self._table.horizontalHeader()
        metrics = header.fontMetrics()
        for column, (title, key, _) in enumerate(COLUMNS):
            if key in _SHARED_COLUMNS or key == "colour":
                continue
            width = max(
                self._table.sizeHintForColumn(column), metrics.horizontalAdvance(title) + 16
            )
            if header.sectionSize(column) != width:
                header.resizeSection(column, width)

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._quiet or not current.isValid():
            return
        run_id = current.data(RUN_ID_ROLE)
        if run_id != self._selected:
            self._selected = run_id
            self.runSelected.emit(run_id)
