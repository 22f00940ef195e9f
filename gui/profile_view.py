"""One head's profile against chance: where it looks (mean attention by offset back, 0 = itself,
up to 16 and "further") and what it looks at (its share of attention by the key's character
class), each beside the base rate of a head that attends evenly to every visible key, so "this
head looks for vowels" reads as a bar standing above its grey neighbour.

The numbers come from the caller (core.head_report's rows and base); this view only draws them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from headwatch.gui.attention_grid import FOREGROUND, HintStack, style_axis
from headwatch.gui.widgets import ElidedLabel

HEAD_COLOUR = "#4e79a7"  # the prediction bars' blue
BASE_COLOUR = "#b0b0b0"
_HINT = "Analyse the heads, then pick one to see its profile"
# the class plot is narrow: one-character names, so that neighbours never overlap, and a key
_CLASS_TICKS = {"vowel": "V", "consonant": "C", "space": "␣", "newline": "⏎",
                "punctuation": ".", "upper case": "A", "digit": "9", "other": "?"}  # fmt: skip
_CLASS_KEY = "V vowel, C consonant, A upper case, 9 digit, . punctuation, ? other"
_NOTES_TIP = (
    "In brackets: chance, a head that attends evenly to every key it can see.\n"
    "same char: attention on keys holding the query's own character; first: on the first "
    "position;\nevenness: the attention's entropy over the most it could be (1: even)"
)
_OFFSET_TICKS = (0, 1, 2, 3, 4, 6, 8, 12, 16)  # every offset's bar, but room for these names
_TICK_FONT_PT = 8
_TITLE_PX = 15  # a 9 pt line
_BOTTOM_AXIS_PX = 20  # the 8 pt tick names and their ticks


def _bar_plot(title: str, left: str) -> pg.PlotItem:
    plot = pg.PlotItem()
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.setMouseEnabled(x=False, y=False)
    plot.setTitle(title, color=FOREGROUND, size="9pt")
    # pyqtgraph gives a title 30 px and the tick names 40: a 9 pt and an 8 pt line need about
    # half, and a laptop's bars the rest
    plot.titleLabel.setMaximumHeight(_TITLE_PX)
    plot.layout.setRowFixedHeight(0, _TITLE_PX)
    plot.getAxis("bottom").setHeight(_BOTTOM_AXIS_PX)
    plot.setLabel("left", left, color=FOREGROUND)
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        style_axis(axis)
        font = axis.font()
        font.setPointSize(_TICK_FONT_PT)
        axis.setStyle(tickFont=font)
    return plot


class ProfileView(QWidget):
    """The selected head's offset histogram and class shares, each beside its base rates."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("profileView")
        self._head: tuple[int, int] | None = None
        self._view = pg.GraphicsLayoutWidget()
        self._view.setToolTip(
            f"Blue: this head · grey: chance (an even spread) · key classes: {_CLASS_KEY}"
        )
        self._view.setBackground("w")
        # the head and its figures on one line, the figures alone where narrow (whole in its
        # tooltip): on a laptop the plots need the height
        self._notes = ElidedLabel(objectName="profileNotes")
        self._notes.setToolTip(_NOTES_TIP)
        self._offsets = _bar_plot("Where: offset back", "attention")
        self._classes = _bar_plot("What: key class", "share")
        self._wide: bool | None = None  # the plots side by side (True) or stacked
        self._view.installEventFilter(self)
        self._view.ci.layout.setContentsMargins(2, 2, 2, 2)  # pyqtgraph's 9 px: the bars' height
        self._names: list[list[str]] = [[], []]
        self._bars: list[pg.BarGraphItem] = []
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        layout.addWidget(self._view, 1)
        layout.addWidget(self._notes)
        self._stack = HintStack(self, _HINT, box)
        self._arrange(wide=False)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if watched is self._view and event.type() == QEvent.Type.Resize:
            size = event.size()
            self._arrange(wide=size.width() > 1.6 * size.height())
        return super().eventFilter(watched, event)

    def _arrange(self, wide: bool) -> None:
        """Side by side in a short, wide place (the Heads tab on a laptop), else stacked."""
        if wide == self._wide:
            return
        self._wide = wide
        for plot in (self._offsets, self._classes):
            if plot.scene() is not None:
                self._view.ci.removeItem(plot)
        self._view.addItem(self._offsets, row=0, col=0)
        self._view.addItem(self._classes, row=0 if wide else 1, col=1 if wide else 0)
        layout = self._view.ci.layout
        for column, stretch in ((0, 1), (1, 1 if wide else 0)):  # the class names need room
            layout.setColumnStretchFactor(column, stretch)

    def set_profile(
        self, layer: int, head: int, row: dict, base: dict, classes: tuple[str, ...]
    ) -> None:
        """Show head (layer, head) (0-based): row and base as core.head_report.HeadReport's
        rows and base (offset, further, classes, same_char, first, and the row's label and
        evenness); classes names the entries of "classes"."""
        offset, offset_base = list(row["offset"]), list(base["offset"])
        names = [str(d) for d in range(len(offset))]
        if row.get("further") is not None and base.get("further") is not None:
            offset.append(row["further"])
            offset_base.append(base["further"])
            names.append("further")
        shares, class_base = list(row["classes"]), list(base["classes"])
        self._head = (layer, head)
        for plot in (self._offsets, self._classes):
            plot.clear()
        ticks = [_CLASS_TICKS.get(name, name) for name in classes]
        self._names = [names, ticks]
        self._bars = [
            *self._pair(self._offsets, offset, offset_base, names),
            *self._pair(self._classes, shares, class_base, ticks),
        ]
        self._offsets.getAxis("bottom").setTicks(
            [[(i, n) for i, n in enumerate(names) if not n.isdigit() or int(n) in _OFFSET_TICKS]]
        )
        shares = (
            f"same char {row['same_char'] * 100:.0f}% ({base['same_char'] * 100:.0f}%) · "
            f"first {row['first'] * 100:.0f}% ({base['first'] * 100:.0f}%)"
        )
        figures = f"{shares} · evenness {row['evenness']:.2f}"
        self._notes.setText(f"Layer {layer + 1} · Head {head + 1} — {row['label']} · {figures}")
        # the lines view beside it names the head and its label: where narrow, the figures only
        self._notes.set_short_text(figures, shares)
        self._stack.show_content()

    @staticmethod
    def _pair(
        plot: pg.PlotItem, values: list[float], base: list[float], names: list[str]
    ) -> list[pg.BarGraphItem]:
        x = np.arange(len(values), dtype=float)
        head = pg.BarGraphItem(x=x - 0.2, height=values, width=0.4, brush=HEAD_COLOUR, pen=None)
        chance = pg.BarGraphItem(x=x + 0.2, height=base, width=0.4, brush=BASE_COLOUR, pen=None)
        plot.addItem(head)
        plot.addItem(chance)
        plot.getAxis("bottom").setTicks([list(enumerate(names))])
        plot.setXRange(-0.6, len(values) - 0.4, padding=0)
        plot.setYRange(0, max(0.05, *values, *base) * 1.1, padding=0)
        return [head, chance]

    def clear(self) -> None:
        """Back to the hint (no analysis yet, or another model)."""
        self._head = None
        self._stack.show_hint()

    def bars_height(self) -> float:
        """The height of the bars' area, px: the shorter of the two plots' (what is left to
        read the bars once the titles, tick names and notes have theirs)."""
        return min(plot.getViewBox().height() for plot in (self._offsets, self._classes))

    def plotted(self) -> dict:
        """What the bars show, read back from them: head (layer, head), offset / offset_base
        (the offset bars, "further" last when there is one), classes / class_base, and the
        bars' names offset_names / class_names (short forms); {} when nothing is shown."""
        if self._head is None:
            return {}
        heights = [[float(v) for v in bar.opts["height"]] for bar in self._bars]
        ticks = self._names
        return {
            "head": self._head,
            "offset": heights[0],
            "offset_base": heights[1],
            "classes": heights[2],
            "class_base": heights[3],
            "offset_names": ticks[0],
            "class_names": ticks[1],
        }
