"""The embedding map: every character drawn at its token embedding's point in the plane of the
first two principal axes, coloured by class, and beside it the position embeddings' cosine
similarity matrix.

It shows a core.embedding_map.EmbeddingMap, computed off the GUI thread from one snapshot and
already turned to match the frame before it, so this view only draws: each character is a
ScatterPlotItem symbol made from its glyph (one item for the whole vocabulary), invisible
characters by their stand-ins (core.charnames via gui.text_display).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainterPath, QTransform
from PySide6.QtWidgets import QLabel, QWidget

from headwatch.core.char_classes import CHAR_CLASSES
from headwatch.gui.attention_grid import (
    BACKGROUND,
    FOREGROUND,
    HintStack,
    cell_at,
    show_tooltip,
    style_axis,
)
from headwatch.gui.label_placement import spread_labels
from headwatch.gui.text_display import quoted_char, visible_char
from headwatch.gui.widgets import column, splitter, titled

if TYPE_CHECKING:
    from headwatch.core.embedding_map import EmbeddingMap

# One colour per class of core.char_classes: Okabe and Ito's colour-blind-safe palette, with grey
# for "other" (their yellow is unreadable as text on white).
CLASS_COLOURS = {
    "vowel": "#D55E00",
    "consonant": "#0072B2",
    "space": "#E69F00",
    "newline": "#56B4E9",
    "punctuation": "#000000",
    "upper case": "#009E73",
    "digit": "#CC79A7",
    "other": "#8C8C8C",
}
# a character's height on the map, px: a 20th of the map's height, within these bounds
SYMBOL_PX = (11, 18)
_BORDER = "#c4c4c4"
_LEADER = "#9a9a9a"
DOT_PX = 4  # the mark left at a point whose character was moved off it
BACK = 0.75  # a label's backing, a share of its size: leader lines pass under the characters
# a label moved this share of its size off its point is drawn apart, with a leader line
MOVED = 0.25
PLACED_MAX = 400  # larger vocabularies keep every character on its point (placement is O(N²))
COSINE_MAP = "CET-D1A"  # diverging blue-white-red: -1 and 1 apart, 0 white
_HINT = "Train or open a run to see where each character's embedding lies"


def char_symbol(text: str, font: QFont) -> QPainterPath:
    """text's outline as a ScatterPlotItem symbol: centred on (0, 0) and scaled so that the
    font's line height (or the text's width, for a wide badge such as ⟨ZWSP⟩) is 1, so every
    character keeps its size relative to the others."""
    path = QPainterPath()
    path.addText(QPointF(0, 0), font, text)
    box = path.boundingRect()
    scale = 1.0 / max(QFontMetricsF(font).height(), box.width(), 1e-6)
    transform = QTransform()
    transform.scale(scale, scale)
    transform.translate(-box.center().x(), -box.center().y())
    return transform.map(path)


class EmbeddingView(QWidget):
    """The map of the token embeddings (left) and the position cosine matrix (right), with a
    legend of the classes above and what the frame shows below."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("embeddingView")
        self.current: EmbeddingMap | None = None
        self._font = QFont(self.font())
        self._font.setBold(True)
        self._symbols: dict[str, QPainterPath] = {}
        self._styles: dict[str, list] = {}  # per character, kept while the vocabulary is
        self._brushes = {name: QBrush(QColor(colour)) for name, colour in CLASS_COLOURS.items()}
        self._no_pen = pg.mkPen(None)
        self._moved = np.zeros(0, dtype=int)  # the characters drawn off their points

        self.legend = QLabel(objectName="embeddingLegend")
        self.legend.setWordWrap(True)
        self.caption = QLabel(objectName="embeddingCaption")
        self.caption.setWordWrap(True)

        self._map_view = pg.GraphicsLayoutWidget()
        self._map_view.setBackground(BACKGROUND)
        self._map = self._map_view.addPlot()
        self._map.setAspectLocked(True)  # distances in the plane are the embeddings' distances
        self._map.setMenuEnabled(False)
        # no axes: the plane's coordinates have no meaning of their own, only distances do
        for side in ("left", "bottom"):
            self._map.hideAxis(side)
        self._map.getViewBox().setBorder(pg.mkPen(_BORDER))
        self.scatter = pg.ScatterPlotItem(pxMode=True, hoverable=True, tip=self._tip)
        # characters that would cover each other are drawn moved apart, each joined to its
        # point by a leader line; the points themselves (scatter) stay where PCA put them
        self.leaders = pg.PlotDataItem(pen=pg.mkPen(_LEADER, width=1), connect="pairs")
        self.moved_labels = pg.ScatterPlotItem(pxMode=True, hoverable=True, tip=self._tip)
        self.label_backs = pg.ScatterPlotItem(pxMode=True, symbol="s", pen=pg.mkPen(None))
        self.label_backs.setBrush(pg.mkBrush(BACKGROUND))
        self._map.addItem(self.leaders, ignoreBounds=True)
        self._map.addItem(self.label_backs, ignoreBounds=True)
        self._map.addItem(self.scatter)
        self._map.addItem(self.moved_labels, ignoreBounds=True)  # no feedback on the range
        self._map.getViewBox().sigResized.connect(self._place_labels)
        self._map.getViewBox().sigRangeChanged.connect(self._place_labels)

        self._cosine_view = pg.GraphicsLayoutWidget()
        self._cosine_view.setBackground(BACKGROUND)
        self._cosine = self._cosine_view.addPlot()
        self._cosine.invertY(True)
        self._cosine.setMenuEnabled(False)
        self._cosine.setMouseEnabled(x=False, y=False)
        self._cosine.hideButtons()
        self._cosine.getViewBox().setDefaultPadding(0.0)
        for side in ("left", "bottom"):
            style_axis(self._cosine.getAxis(side))
        self.cosine_image = pg.ImageItem(axisOrder="row-major")
        self._cosine.addItem(self.cosine_image)
        self._bar = pg.ColorBarItem(
            values=(-1.0, 1.0),
            colorMap=pg.colormap.get(COSINE_MAP),
            interactive=False,
            colorMapMenu=False,
            width=10,
        )
        for side in ("left", "top", "right", "bottom"):
            style_axis(self._bar.getAxis(side))
        self._bar.axis.setTicks([[(-1.0, "−1"), (0.0, "0"), (1.0, "1")]])
        self._bar.setImageItem(self.cosine_image)
        self._cosine_view.addItem(self._bar)
        self.no_positions = pg.TextItem(
            "this model has no position embedding", color=FOREGROUND, anchor=(0.5, 0.5)
        )
        self._cosine.addItem(self.no_positions, ignoreBounds=True)
        self._cosine_view.scene().sigMouseMoved.connect(self._on_cosine_hover)

        # the map gets the larger share
        self.splitter = splitter(
            Qt.Orientation.Horizontal,
            [
                titled("Token embeddings: PCA plane", self._map_view),
                titled("Positions: cosine similarity", self._cosine_view),
            ],
            sizes=[2000, 1000],
            stretch=[2, 1],
        )
        content = QWidget()
        column(content, self.legend, (self.splitter, 1), self.caption, margin=4)
        self._stack = HintStack(self, _HINT, content)

    # --- public API --------------------------------------------------------------------------

    def set_map(self, frame: EmbeddingMap) -> None:
        """Show one frame: frame.points (vocab_size, 2) drawn as frame.chars, coloured by
        frame.classes, and frame.position_cosine (P, P)."""
        if self.current is None or frame.chars != self.current.chars:
            self._styles = {
                "symbol": [self._symbol(ch) for ch in frame.chars],
                "brush": [self._brushes.get(c, self._brushes["other"]) for c in frame.classes],
                "data": [
                    f"{quoted_char(ch)} — {c}"
                    for ch, c in zip(frame.chars, frame.classes, strict=True)
                ],
            }
            self.legend.setText(self._legend_html(frame.classes))
        self.current = frame
        self._stack.show_content()
        self._place_labels()
        self._show_cosine(frame)
        self.caption.setText(self._caption(frame))

    def clear(self) -> None:
        """Nothing to show (the weights were cleared): back to the hint."""
        self.current = None
        self.scatter.clear()
        self.moved_labels.clear()
        self.label_backs.clear()
        self.leaders.clear()
        self.cosine_image.clear()
        self.legend.clear()
        self.caption.clear()
        self._stack.show_hint()

    def shown_points(self) -> np.ndarray:
        """Where the characters are drawn, in data coordinates: (vocab_size, 2)."""
        x, y = self.scatter.getData()
        return np.column_stack([x, y]) if x is not None else np.zeros((0, 2))

    # --- drawing -----------------------------------------------------------------------------

    def _symbol(self, ch: str) -> QPainterPath:
        # the same path object for a character every frame: pyqtgraph caches its drawing by it
        symbol = self._symbols.get(ch)
        if symbol is None:
            symbol = self._symbols[ch] = char_symbol(visible_char(ch), self._font)
        return symbol

    def _symbol_px(self) -> float:
        low, high = SYMBOL_PX
        return min(high, max(low, self._map.getViewBox().height() / 20))

    def label_points(self) -> np.ndarray:
        """Where each character's label is drawn, in data coordinates: (vocab_size, 2); its
        point (shown_points) where it was not moved."""
        points = self.shown_points()
        x, y = self.moved_labels.getData()
        if x is not None and len(x):
            points[self._moved] = np.column_stack([x, y])
        return points

    def _place_labels(self) -> None:
        """Move the labels that would overlap apart on screen (at the view's current scale)."""
        frame, box = self.current, self._map.getViewBox()
        if frame is None:
            return
        size = self._symbol_px()
        points = np.asarray(frame.points, dtype=float)
        (x0, x1), (y0, y1) = box.viewRange()
        scale = np.array([box.width() / ((x1 - x0) or 1.0), box.height() / ((y1 - y0) or 1.0)])
        moved = np.zeros(len(points), dtype=bool)
        labels = points
        if 1 < len(points) <= PLACED_MAX and (scale > 0).all() and np.isfinite(scale).all():
            labels = spread_labels(points * scale, size) / scale
            moved = np.linalg.norm((labels - points) * scale, axis=1) > MOVED * size
        symbols, brushes, tips = (self._styles[k] for k in ("symbol", "brush", "data"))
        self.scatter.setData(
            pos=points,
            pen=self._no_pen,
            size=np.where(moved, DOT_PX, size),
            symbol=["o" if m else symbol for m, symbol in zip(moved, symbols, strict=True)],
            brush=brushes,
            data=tips,
        )
        index = self._moved = np.flatnonzero(moved)
        self.moved_labels.setData(
            pos=labels[index],
            pen=self._no_pen,
            size=size,
            symbol=[symbols[i] for i in index],
            brush=[brushes[i] for i in index],
            data=[tips[i] for i in index],
        )
        pairs = np.stack([points[index], labels[index]], axis=1).reshape(-1, 2)
        self.leaders.setData(pairs[:, 0], pairs[:, 1])
        self.label_backs.setData(pos=labels, size=BACK * size)

    def _show_cosine(self, frame: EmbeddingMap) -> None:
        has_positions = frame.positions.size > 0
        self.no_positions.setVisible(not has_positions)
        if not has_positions:
            self.cosine_image.clear()
            self._cosine.setRange(xRange=(0, 1), yRange=(0, 1))
            self.no_positions.setPos(0.5, 0.5)
            return
        size = float(frame.positions[-1] + 1)  # the block size: axes in positions
        self.cosine_image.setImage(frame.position_cosine, autoLevels=False, levels=(-1.0, 1.0))
        self.cosine_image.setRect(QRectF(0, 0, size, size))
        self._cosine.setRange(xRange=(0, size), yRange=(0, size), padding=0)

    @staticmethod
    def _legend_html(classes: tuple[str, ...]) -> str:
        entries = [
            f'<span style="color:{CLASS_COLOURS[name]}">■</span>&nbsp;{html.escape(name)}'
            f"&nbsp;({classes.count(name)})"
            for name in CHAR_CLASSES
            if name in classes
        ]
        return " &nbsp; ".join(entries)

    @staticmethod
    def _caption(frame: EmbeddingMap) -> str:
        parts = [
            f"Step {frame.step:,}",
            f"the plane holds {frame.variance_share:.0%} of their variance",
        ]
        if frame.silhouette is not None:
            parts.append(
                f"vowels vs consonants: silhouette {frame.silhouette:+.2f} (0: mixed, 1: apart)"
            )
        return " · ".join(parts)

    @staticmethod
    def _tip(x: float, y: float, data: object) -> str:
        return str(data)

    def _on_cosine_hover(self, scene_pos: QPointF) -> None:
        frame = self.current
        cell = cell_at(self._cosine, scene_pos) if frame is not None else None
        if frame is None or cell is None or frame.positions.size == 0:
            show_tooltip(self._cosine_view, scene_pos, "")
            return
        # cells are positions on the axes; a long block shows every few positions
        indices = np.searchsorted(frame.positions, cell, side="right") - 1
        row, col = (int(np.clip(i, 0, frame.positions.size - 1)) for i in indices)
        a, b = frame.positions[row], frame.positions[col]
        value = frame.position_cosine[row, col]
        show_tooltip(self._cosine_view, scene_pos, f"positions {a} and {b}: cosine {value:+.2f}")
