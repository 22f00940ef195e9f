"""The Heads tab: the knocked-out heads and the table of what each head does, over the selected
head as lines and its profile against chance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from headwatch.gui.head_table import HeadTable
from headwatch.gui.knockout_bar import KnockoutBar
from headwatch.gui.lines_view import AttentionLinesView
from headwatch.gui.messages import KnockoutState
from headwatch.gui.profile_view import ProfileView

if TYPE_CHECKING:
    from headwatch.core.head_report import HeadReport
    from headwatch.core.inspection import PromptInspection


LINES_MIN_WIDTH = 180  # px
# the lines view's header at its widest (up to 9 layers and heads; the title, or its short form
# where the tab is narrow), with the longest label's badge
WIDEST_TITLE, WIDEST_SHORT_TITLE, WIDEST_LABEL = "Layer 1 · Head 1", "L1 · H1", "first position"
PROFILE_MIN_WIDTH = 351  # px: the profile's two bar charts side by side, axes and names whole
HEADER_EXTRA = 52  # px: the badge's padding and frame, the space between, the margins, a spare


class HeadsPanel(QSplitter):
    """`knockout` (which heads are out, how, restore) and `table` (every head's label, profile
    and knockout losses) above `lines` (BertViz-style lines of the selected head on the latest
    inspection of the prompt) beside `profile` (the selected head's profile against chance)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.knockout = KnockoutBar()
        self.table = HeadTable()
        self.lines = AttentionLinesView()
        self.profile = ProfileView()
        top = QWidget()
        layout = QVBoxLayout(top)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.knockout)
        layout.addWidget(self.table, 1)
        self.bottom = QSplitter(Qt.Orientation.Horizontal)
        self.bottom.addWidget(self.lines)
        self.bottom.addWidget(self.profile)
        # two columns of characters and the lines between them, and the header with the title's
        # short form: narrower, they are clipped; the profile's charts need their own width
        self.lines.setMinimumWidth(
            max(LINES_MIN_WIDTH, self.lines_header_width(WIDEST_SHORT_TITLE))
        )
        self.profile.setMinimumWidth(PROFILE_MIN_WIDTH)
        # the lines view gets the width its whole header needs where there is room, the
        # profile's bars the rest, now and on resizes: its hint wraps rather than widening it
        self.profile.findChild(QLabel, "emptyHint").setWordWrap(True)
        self.bottom.setStretchFactor(0, 0)
        self.bottom.setStretchFactor(1, 1)
        self.bottom.setSizes([self.lines_header_width(), self.profile.sizeHint().width()])
        self.addWidget(top)
        self.addWidget(self.bottom)
        # the table gets the larger share of the height, now and on resizes: on a laptop an
        # even split showed 3 of a 4×4 model's 16 heads
        self.setStretchFactor(0, 5)
        self.setStretchFactor(1, 3)
        self.setSizes([500, 300])
        self._report: HeadReport | None = None
        self._inspection: PromptInspection | None = None
        self._selected = (0, 0)

    def lines_header_width(self, widest_title: str = WIDEST_TITLE) -> int:
        """The width (px) the lines view needs to show its header whole at its widest, with the
        title widest_title."""
        title = self.lines.findChild(QLabel, "linesTitle")
        badge = self.lines.findChild(QLabel, "headLabelBadge")
        return (
            title.fontMetrics().horizontalAdvance(widest_title)
            + badge.fontMetrics().horizontalAdvance(WIDEST_LABEL)
            + HEADER_EXTRA
        )

    def set_report(self, report: HeadReport) -> None:
        self.table.set_busy(False)
        self._report = report
        losses = ""
        if report.base_loss is not None:
            losses = f"Δ: {report.ablation}-ablation, from val loss {report.base_loss:.3f}"
        self.table.set_stats(
            report.rows,
            report.description,
            report.base,
            report.classes,
            losses,
            step=report.step,
        )
        self._show_lines()
        self._show_profile()

    def set_inspection(self, result: PromptInspection | None) -> None:
        self._inspection = result
        self._show_lines()

    def set_knockout(self, state: KnockoutState) -> None:
        self.knockout.set_state(state)
        self.table.set_knocked_out(state.heads)

    def select(self, layer: int, head: int) -> None:
        """Show head `head` of layer `layer` (0-based)."""
        self._selected = (layer, head)
        self.table.select(layer, head)
        self._show_lines()
        self._show_profile()

    def _row(self) -> dict | None:
        """The selected head's row of the latest report, None when it has none."""
        report, (layer, head) = self._report, self._selected
        rows = report.rows if report is not None else []
        return next((r for r in rows if (r["layer"], r["head"]) == (layer, head)), None)

    def _show_profile(self) -> None:
        row = self._row()
        if row is None:
            self.profile.clear()
            return
        self.profile.set_profile(*self._selected, row, self._report.base, self._report.classes)

    def _show_lines(self) -> None:
        result, (layer, head) = self._inspection, self._selected
        if result is None or result.empty or layer >= result.attention.shape[0]:
            self.lines.clear()
            return
        if head >= result.attention.shape[1]:
            self.lines.clear()
            return
        row = self._row()
        self.lines.set_head(
            result.attention[layer, head],
            result.tokens,
            f"Layer {layer + 1} · Head {head + 1}",
            row["label"] if row else "",
            row["kind"] if row else "",
            short_title=f"L{layer + 1} · H{head + 1}",
        )
