"""The Heads tab: what each head does (the table) over the selected head as lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwatch.gui.head_table import HeadTable
from headwatch.gui.lines_view import AttentionLinesView
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QWidget

if TYPE_CHECKING:
    from headwatch.core.inspection import HeadReport, PromptInspection


class HeadsPanel(QSplitter):
    """`table` (every head's statistics and label) above `lines` (BertViz-style lines of the
    selected head on the latest inspection of the prompt)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.table = HeadTable()
        self.lines = AttentionLinesView()
        self.addWidget(self.table)
        self.addWidget(self.lines)
        # the lines need height, the table scrolls: a third for it, now and as the tab resizes
        self.setStretchFactor(1, 2)
        self.setSizes([100, 200])
        self._labels: list[list[str]] | None = None
        self._inspection: PromptInspection | None = None
        self._selected = (0, 0)

    def set_report(self, report: HeadReport) -> None:
        self.table.set_busy(False)
        self._labels = report.labels
        self.table.set_stats(report.rows, report.description)
        self._show_lines()

    def set_inspection(self, result: PromptInspection | None) -> None:
        self._inspection = result
        self._show_lines()

    def select(self, layer: int, head: int) -> None:
        """Show head `head` of layer `layer` (0-based)."""
        self._selected = (layer, head)
        self.table.select(layer, head)
        self._show_lines()

    def _show_lines(self) -> None:
        result, (layer, head) = self._inspection, self._selected
        if result is None or result.empty or layer >= result.attention.shape[0]:
            self.lines.clear()
            return
        if head >= result.attention.shape[1]:
            self.lines.clear()
            return
        labels = self._labels
        known = labels and layer < len(labels) and head < len(labels[layer])
        self.lines.set_head(
            result.attention[layer, head],
            result.tokens,
            f"Layer {layer + 1} · Head {head + 1}",
            labels[layer][head] if known else "",
        )
