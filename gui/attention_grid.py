"""Attention of every head of every layer for the prompt: one tiled heatmap plus a detail view.

All heads are tiled into ONE ImageItem (layers as rows, heads as columns, a blank gap between
tiles): one item per head made the app twice as slow. Pixels are colour indices (uint8) into a
fixed RGBA lookup table whose last entry is transparent, so Qt draws an Indexed8 image, the
masked future and the gaps stay blank, and an update rewrites the index buffer in place. Where
a view has fewer screen pixels than cells, blocks of cells are max-pooled into one pixel so thin
patterns (a previous-token diagonal) survive the downscale.

The helpers before AttentionGrid (colour table, tiled image, character axis, empty-state hint)
are shared with ``gui.ffn_view``; ``cache_drawing`` with ``gui.loss_plot`` too.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPicture,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QLabel,
    QStackedLayout,
    QToolTip,
    QWidget,
)

from headwatch.gui.head_table import (
    LABEL_COLOURS,
    LABEL_TEXT_COLOUR,
    NEUTRAL_LABEL_COLOUR,
    badge_text,
)
from headwatch.gui.text_display import quoted_char, visible_chars

COLORMAP = "viridis"
BLANK = 255  # colour index drawn transparent: masked future cells and the gaps between tiles
BACKGROUND = "w"
FOREGROUND = "#333333"
_AXIS_PEN = "#9a9a9a"
_OUTLINE = "#c4c4c4"
_SELECTION = "#e8591a"  # orange: stands out against every viridis colour
_INDEX_LEVELS = (0, 255)  # an index image is shown as is: level i -> LUT entry i
_CHAR_TICKS_MAX_T = 16  # the grid's edges get character ticks only for short prompts ...
_CHAR_TICKS_MAX_HEADS = 4  # ... and few heads; the detail view always has them
_MARGIN, _SPACING = 8, 12  # px around and between the grid, the detail view and the colour bar
_BAR_HEIGHT = 56  # the horizontal colour bar with its ticks and label
_GRID_SHARE = 0.62  # at most this much of the width goes to the grid, the rest to the detail
_TITLE_HEIGHT = 30  # PlotItem's fixed title row
_TOP_LEFT = Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft
_LABEL_GAP = 4  # px kept free between neighbouring axis labels
_KNOCKED_OUT = "#5a5a5a"  # the stroke across a knocked-out head's tile, and its badge's fill
_KNOCKED_OUT_VEIL = QColor(255, 255, 255, 150)  # greys the tile's colours out


def index_lut(name: str = COLORMAP) -> np.ndarray:
    """256 RGBA entries: indices 0..254 span the colour map low to high; BLANK is transparent."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    lut[:BLANK] = pg.colormap.get(name).getLookupTable(0.0, 1.0, BLANK, alpha=True)
    return lut


def to_indices(values: np.ndarray, high: float, work: np.ndarray) -> np.ndarray:
    """Scale values in [0, high] to colour indices 0..254 (clipped), written as floats into work.

    The +0.5 makes the later float -> uint8 assignment round instead of truncate.
    """
    np.multiply(values, (BLANK - 1) / high, out=work)
    np.clip(work, 0, BLANK - 1, out=work)
    work += 0.5
    return work


def tile_gap(cells: int, fraction: int) -> int:
    """Gap between tiles in cells, proportional to the tile so it stays visible at any size."""
    return max(1, round(cells / fraction))


def _cosmetic_pen(color: str, width: int) -> QPen:
    """A pen whose width is in screen pixels, whatever the view's zoom."""
    pen = QPen(QColor(color), width)
    pen.setCosmetic(True)
    return pen


def fix_axis_sizes(plot: pg.PlotItem, **sizes: int) -> None:
    """Fixed axis sizes make the plot's margins around its view box known in advance."""
    for side, size in sizes.items():
        axis = plot.getAxis(side)
        if side in ("left", "right"):
            axis.setWidth(size)
        else:
            axis.setHeight(size)


def _axes_extent(plot: pg.PlotItem) -> tuple[float, float]:
    """Width and height a plot adds around its view box: visible axes, title, margins."""
    axes = {side: plot.getAxis(side) for side in ("left", "right", "top", "bottom")}
    visible = {side: axis.isVisible() for side, axis in axes.items()}
    width = sum(axes[s].maximumWidth() for s in ("left", "right") if visible[s])
    height = sum(axes[s].maximumHeight() for s in ("top", "bottom") if visible[s])
    if plot.titleLabel.isVisible():
        height += _TITLE_HEIGHT
    left, top, right, bottom = plot.layout.getContentsMargins()
    return width + left + right, height + top + bottom


def _fix_size(item: pg.GraphicsWidget, width: float, height: float) -> None:
    item.setMinimumSize(width, height)
    item.setMaximumSize(width, height)


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def max_pool_factor(cells: int) -> int:
    """Largest pooling a view may use along an axis of `cells` cells (a power of two)."""
    factor = 1
    while cells >= 64 * factor:
        factor *= 2
    return factor


def pool_for(cells: float, pixels: float, max_pool: int) -> int:
    """Smallest power-of-two pooling (<= max_pool) that leaves at least a pixel per image pixel.

    Below one pixel per cell, nearest-pixel scaling drops whole rows and columns (a
    previous-token diagonal, a unit that fires hard); max-pooling keeps them.
    """
    pool = 1
    while pool < max_pool and pool * pixels < cells:
        pool *= 2
    return pool


def _max_pool(values: np.ndarray, row_pool: int, col_pool: int) -> np.ndarray:
    """Maximum over row_pool x col_pool blocks of the last two axes (powers of two dividing them).

    Pairwise maxima of strided halves: 10x faster than reshape(...).max(axis=...).
    """
    while row_pool > 1:
        values = np.maximum(values[..., 0::2, :], values[..., 1::2, :])
        row_pool //= 2
    while col_pool > 1:
        values = np.maximum(values[..., 0::2], values[..., 1::2])
        col_pool //= 2
    return values


class TiledImage:
    """The colour-index pixels of one ImageItem showing a grid of equal tiles of cells.

    A tile is tile = (height, width) cells (data, then blank padding); tiles start every
    pitch = (down, across) cells, the rest being a blank gap. Where the screen has fewer
    pixels than cells, each block of pool = (rows, cols) cells becomes one pixel holding the
    block's maximum, so thin lines and single hot cells survive the downscale.
    """

    def __init__(self, item: pg.ImageItem) -> None:
        self.item = item
        self.pool = (0, 0)  # nothing allocated yet

    def allocate(
        self,
        tiles: tuple[int, int],
        tile: tuple[int, int],
        pitch: tuple[int, int],
        blank: np.ndarray,
        pool: tuple[int, int],
    ) -> None:
        """Buffers for a new geometry or pool; `blank` (tile-shaped) marks cells never drawn."""
        (rows, cols), (row_pool, col_pool) = tiles, pool
        height, width = tile[0] // row_pool, tile[1] // col_pool
        down, across = pitch[0] // row_pool, pitch[1] // col_pool
        self.pool = pool
        self._work = np.empty((rows, cols, height, width), dtype=np.float32)
        self._blank = blank.reshape(height, row_pool, width, col_pool).all(axis=(1, 3))
        # The gaps between tiles are never written: they stay BLANK.
        self.pixels = np.full((rows * down, cols * across), BLANK, dtype=np.uint8)
        self._tiles = self.pixels.reshape(rows, down, cols, across)[:, :height, :, :width]
        self.item.setImage(self.pixels, autoLevels=False, levels=_INDEX_LEVELS)
        self.item.setRect(QRectF(0, 0, cols * pitch[1], rows * pitch[0]))  # pixels -> cells

    def show(self, values: np.ndarray, high: float = 1.0) -> None:
        """Paint values [rows, cols, *tile] in [0, high]."""
        indices = to_indices(_max_pool(values, *self.pool), high, self._work)
        np.copyto(indices, BLANK, where=self._blank)
        self._tiles[...] = indices.transpose(0, 2, 1, 3)
        self.item.setImage(self.pixels, autoLevels=False, levels=_INDEX_LEVELS)


def style_axis(axis: pg.AxisItem) -> None:
    axis.setPen(_AXIS_PEN)
    axis.setTextPen(FOREGROUND)
    axis.enableAutoSIPrefix(False)
    cache_drawing(axis)


def cache_drawing(item: QGraphicsItem) -> None:
    """Keep the item's pixels between paints: repainting a view for a new image then copies an
    axis instead of replaying its text (what the GUI thread spent most on while training ran)."""
    item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def new_plot(axis_items: dict[str, pg.AxisItem] | None = None) -> pg.PlotItem:
    """A heatmap plot: y runs top to bottom, no padding, no context menu, quiet axes."""
    plot = pg.PlotItem(axisItems=axis_items)
    plot.invertY(True)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.getViewBox().setDefaultPadding(0.0)
    for side in ("left", "top", "right", "bottom"):
        style_axis(plot.getAxis(side))
    return plot


def new_color_bar(
    label: str, levels: tuple[float, float], orientation: str = "vertical"
) -> pg.ColorBarItem:
    bar = pg.ColorBarItem(
        values=levels,
        orientation=orientation,
        colorMap=pg.colormap.get(COLORMAP),
        label=label,
        interactive=False,
        colorMapMenu=False,
        width=14,
    )
    for side in ("left", "top", "right", "bottom"):
        style_axis(bar.getAxis(side))
    bar.axis.setStyle(hideOverlappingLabels=False)  # keep the end values, e.g. 0 and 1
    return bar


class HintStack(QStackedLayout):
    """A centred hint until there is data (show_content), then `content`; show_hint goes back,
    with the hint given or the default one (why nothing is shown: no prompt, the model still
    loading, settings to fix)."""

    def __init__(self, owner: QWidget, hint: str, content: QWidget) -> None:
        super().__init__(owner)
        self.default_hint = hint
        self._label = QLabel(hint)
        self._label.setObjectName("emptyHint")
        self._label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._label.setWordWrap(True)
        self._label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        font = self._label.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self._label.setFont(font)
        self.setContentsMargins(0, 0, 0, 0)
        self.addWidget(self._label)
        self.addWidget(content)

    def show_content(self) -> None:
        self.setCurrentIndex(1)

    def show_hint(self, hint: str | None = None) -> None:
        self._label.setText(hint or self.default_hint)
        self.setCurrentIndex(0)


def show_tooltip(view: pg.GraphicsView, scene_pos: QPointF, text: str) -> None:
    if text:
        QToolTip.showText(view.mapToGlobal(view.mapFromScene(scene_pos)), text, view)
    else:
        QToolTip.hideText()


def cell_at(plot: pg.PlotItem, scene_pos: QPointF) -> tuple[int, int] | None:
    """(row, column) of the image cell under a scene position, None outside the view."""
    view_box = plot.getViewBox()
    if not view_box.sceneBoundingRect().contains(scene_pos):
        return None
    point = view_box.mapSceneToView(scene_pos)
    if point.x() < 0 or point.y() < 0:
        return None
    return int(point.y()), int(point.x())


def text_size(texts: list[str], font: QFont | None = None) -> list[tuple[float, float]]:
    """(width, height) in px of each text as AxisItem measures and draws tick labels (its
    painter's bounding rectangle, 0.8 of its height)."""
    picture = QPicture()
    painter = QPainter(picture)
    try:
        if font is not None:
            painter.setFont(font)
        box = QRectF(0, 0, 100, 100)
        rects = [painter.boundingRect(box, Qt.AlignmentFlag.AlignCenter, text) for text in texts]
    finally:
        painter.end()
    return [(rect.width(), rect.height() * 0.8) for rect in rects]


class LabelAxis(pg.AxisItem):
    """Text labels at given positions, thinned so that no two ever overlap.

    At the axis's current length (recomputed on every resize) it keeps every label whose key is
    a multiple of the smallest stride (1, 2, 4, …) at which neighbours stay _LABEL_GAP px apart;
    if even one label per key 0 is too many, it keeps labels greedily from the start. A left or
    right axis widens to its widest label, so no label is dropped for lack of room across.
    """

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        style_axis(self)
        # The first and last labels may overhang the axis's ends a little instead of vanishing.
        self.setStyle(hideOverlappingLabels=False)
        self._positions = np.zeros(0)
        self._keys = np.zeros(0, dtype=np.int64)
        self._given: tuple[np.ndarray, np.ndarray | None] | None = None  # as last passed
        self._order: np.ndarray | None = None  # None: given in position order
        self._texts: list[str] = []
        self._extents = np.zeros(0)  # px each label takes along the axis
        self._across = 0.0  # px the widest label takes across the axis
        self._sizes: dict[str, tuple[float, float]] = {}  # measured once per text
        self._min_width: int | None = None

    def set_labels(
        self, positions: np.ndarray, texts: list[str], keys: np.ndarray | None = None
    ) -> bool:
        """Labels texts[i] at positions[i] (view units); keys[i] (default i) decides which are
        kept when they thin out. Returns whether a left or right axis changed its width."""
        return self._set_labels(positions, texts, keys, self._extents_of(texts))

    def _extents_of(self, texts: list[str]) -> np.ndarray:
        """px each text takes along the axis (each new text measured once, then remembered)."""
        missing = [text for text in set(texts) if text not in self._sizes]
        self._sizes.update(zip(missing, text_size(missing, self.style["tickFont"]), strict=True))
        along, sizes = 1 if self.orientation in ("left", "right") else 0, self._sizes
        return np.fromiter((sizes[text][along] for text in texts), np.float64, count=len(texts))

    def _set_labels(
        self, positions: np.ndarray, texts: list[str], keys: np.ndarray | None, extents: np.ndarray
    ) -> bool:
        """set_labels with extents[i], the px texts[i] takes along the axis, already measured."""
        # a new prompt of the same length passes the same array objects again (CharAxis): the
        # places and their order are kept, only the texts are new
        if self._given is None or self._given[0] is not positions or self._given[1] is not keys:
            self._given = (positions, keys)
            given = np.asarray(positions, dtype=np.float64)
            keys = np.arange(len(texts)) if keys is None else np.asarray(keys, dtype=np.int64)
            order = np.argsort(given, kind="stable")
            self._positions, self._keys = given[order], keys[order]
            self._order = None if np.array_equal(order, np.arange(len(order))) else order
        if self._order is None:
            self._texts, self._extents = list(texts), extents
        else:
            self._texts, self._extents = [texts[i] for i in self._order], extents[self._order]
        self._across = 0.0  # a left or right axis is as wide as its widest label
        if self.orientation in ("left", "right"):
            self._across = max((self._sizes[t][0] for t in set(texts)), default=0.0)
        self.picture = None  # AxisItem caches its drawing
        self.update()
        return self._fit_width()

    @property
    def texts(self) -> list[str]:
        """Every label, in position order, whether drawn at the current size or thinned out."""
        return list(self._texts)

    def setWidth(self, w: int | None = None) -> None:  # noqa: N802 - pyqtgraph override
        """The width the axis keeps at least; it widens past it for wider labels."""
        self._min_width = w
        self._fit_width()

    def _fit_width(self) -> bool:
        if self._min_width is None or self.orientation not in ("left", "right"):
            return False
        needed = self._across + max(0, self.style["tickLength"]) + self.style["tickTextOffset"][0]
        if self.label.isVisible():
            needed += self.label.boundingRect().height() * 0.8
        width = max(self._min_width, math.ceil(needed) + 2)
        if width == self.fixedWidth:
            return False
        super().setWidth(width)
        return True

    def shown(self, low: float, high: float, length_px: float) -> np.ndarray:
        """Which labels (in position order) are drawn over the range [low, high] shown on
        length_px pixels: a boolean mask."""
        inside = (self._positions >= low) & (self._positions <= high)
        if length_px <= 0 or high <= low or not inside.any():
            return np.zeros(len(self._texts), dtype=bool)
        px = self._positions * (length_px / (high - low))
        stride = 1
        while True:
            mask = inside & (self._keys % stride == 0)
            if self._apart(px, mask):
                return mask
            if stride > self._keys.max():
                break
            stride *= 2
        return self._greedy(px, mask)

    def _apart(self, px: np.ndarray, mask: np.ndarray) -> bool:
        centres, extents = px[mask], self._extents[mask]
        needed = (extents[:-1] + extents[1:]) / 2 + _LABEL_GAP
        return bool(np.all(np.diff(centres) >= needed))

    def _greedy(self, px: np.ndarray, mask: np.ndarray) -> np.ndarray:
        kept = np.zeros_like(mask)
        end = -math.inf
        for i in np.flatnonzero(mask):
            if px[i] - self._extents[i] / 2 >= end:
                kept[i] = True
                end = px[i] + self._extents[i] / 2 + _LABEL_GAP
        return kept

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802, N803
        low, high = min(minVal, maxVal), max(minVal, maxVal)
        mask = self.shown(low, high, size)
        return [(1.0, self._positions[mask].tolist())] if mask.any() else []

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        # values are some of self._positions (tickValues), which are sorted
        return [self._texts[i] for i in np.searchsorted(self._positions, values)]


class CharAxis(LabelAxis):
    """Labels cells with prompt characters (repeated for every tile), drawn visibly (a stand-in
    for every invisible character) and thinned to every 2nd, 4th, … character of a tile."""

    _layout: tuple[int, int, int] | None = None  # (T, pitch, tiles) of _centres and _tiled_keys

    def set_chars(self, chars: list[str], pitch: int, tiles: int) -> bool:
        """chars label cells 0..T-1 of each of `tiles` tiles starting every `pitch` cells.
        Returns whether the axis changed its width."""
        if self._layout != (len(chars), pitch, tiles):
            self._layout = (len(chars), pitch, tiles)
            offsets = np.arange(len(chars))
            starts = np.arange(tiles) * pitch
            self._centres = (starts[:, None] + offsets[None, :]).ravel() + 0.5
            self._tiled_keys = np.tile(offsets, tiles)
        shown = visible_chars(chars)
        # every tile repeats the same characters: measured once, not once per tile
        extents = np.tile(self._extents_of(shown), tiles)
        return self._set_labels(self._centres, shown * tiles, self._tiled_keys, extents)


class AttentionGrid(QWidget):
    """Heatmap of attention for every (layer, head), and one head enlarged beside it.

    Rows of a heatmap are query positions ("attends from"), columns key positions ("attends
    to"). Cells above the diagonal (the masked future) are blank. Click a head to enlarge it.
    """

    headSelected = Signal(int, int)  # noqa: N815 - Qt naming; (layer, head), 0-based
    knockoutToggled = Signal(int, int)  # noqa: N815 - a badge was clicked; (layer, head)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attentionGrid")
        self._lut = index_lut()
        self._shape: tuple[int, int, int] | None = None  # (n_layer, n_head, T)
        self._tokens: list[str] = []  # empty until data of the current shape is shown
        self._selected = (0, 0)
        self._labels: list[list[str]] | None = None  # what each head does, from the analysis
        self._kinds: list[list[str]] | None = None  # each label's kind, for its colour
        self._knocked: frozenset[tuple[int, int]] = frozenset()  # drawn struck through
        self._detail_title = "Layer 1 · Head 1"  # whole; drawn cut to the large view's width
        self._detail_room: float | None = None  # px over the large view's image, once laid out
        self._detail_titled: tuple | None = None  # (title, room) the label was last set for
        self._badges: list[list[pg.TextItem]] = []
        self._badges_drawn: tuple | None = None  # what the badges show now
        self._tile_px = 0.0  # a head's tile on screen, px per side
        # Geometry in cells: a head's tile is padded x padded (T x T data, then blank padding up
        # to a multiple of max_pool), tiles start every pitch cells (the rest is the gap).
        self._padded = self._pitch = self._max_pool = 1
        self._data = np.zeros((0, 0, 0, 0), dtype=np.float32)  # [L, H, padded, padded]
        self._future = np.zeros((0, 0), dtype=bool)
        self._blank = np.zeros((0, 0), dtype=bool)

        self._view = pg.GraphicsLayoutWidget()
        self._view.setBackground(BACKGROUND)
        self._build_grid()
        self._build_detail()
        # Horizontal, under the detail view: the grid gets the width a vertical bar would take.
        self._bar = new_color_bar("attention weight", (0.0, 1.0), "horizontal")
        self._view.addItem(self._bar, row=1, col=1)
        self._view.ci.setContentsMargins(*(_MARGIN,) * 4)
        self._view.ci.setSpacing(_SPACING)
        for item in (self._grid, self._detail, self._bar):
            self._view.ci.layout.setAlignment(item, _TOP_LEFT)
        self._view.installEventFilter(self)
        self._view.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._view.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self._stack = HintStack(self, "Type a prompt to see attention", self._view)

    def _build_grid(self) -> None:
        self._keys_axis = CharAxis("bottom")
        self._queries_axis = CharAxis("right")
        self._layers_axis = LabelAxis("left")
        self._heads_axis = LabelAxis("top")
        self._grid = new_plot(
            {
                "bottom": self._keys_axis,
                "right": self._queries_axis,
                "left": self._layers_axis,
                "top": self._heads_axis,
            }
        )
        self._grid.setAspectLocked(True)
        self._grid.setMouseEnabled(x=False, y=False)
        self._grid.showAxes((True, True, False, False), showValues=(True, True, True, True))
        fix_axis_sizes(self._grid, left=30, top=22, right=18, bottom=24)
        image = pg.ImageItem(axisOrder="row-major")
        image.setLookupTable(self._lut)
        self._grid.addItem(image)
        self._grid_tiles = TiledImage(image)
        # Tile frames show each head's square even where its masked half is blank.
        self._outlines = QGraphicsPathItem()
        self._outlines.setPen(_cosmetic_pen(_OUTLINE, 1))
        self._grid.addItem(self._outlines, ignoreBounds=True)
        # Knocked-out heads: their tiles veiled grey and struck through corner to corner.
        self._veils = QGraphicsPathItem()
        self._veils.setPen(QPen(Qt.PenStyle.NoPen))
        self._veils.setBrush(_KNOCKED_OUT_VEIL)
        self._veils.setZValue(5)
        self._grid.addItem(self._veils, ignoreBounds=True)
        self._strikes = QGraphicsPathItem()
        self._strikes.setPen(_cosmetic_pen(_KNOCKED_OUT, 2))
        self._strikes.setZValue(6)
        self._grid.addItem(self._strikes, ignoreBounds=True)
        self._highlight = QGraphicsRectItem()
        self._highlight.setPen(_cosmetic_pen(_SELECTION, 2))
        self._highlight.setZValue(10)
        self._grid.addItem(self._highlight, ignoreBounds=True)
        self._view.addItem(self._grid, row=0, col=0, rowspan=2)

    def _build_detail(self) -> None:
        self._detail_queries_axis = CharAxis("left")
        self._detail_keys_axis = CharAxis("bottom")
        self._detail = new_plot(
            {"left": self._detail_queries_axis, "bottom": self._detail_keys_axis}
        )
        self._detail.setAspectLocked(True)
        self._detail.setMouseEnabled(x=False, y=False)
        self._detail.setLabel("left", "attends from", color=FOREGROUND)
        self._detail.setLabel("bottom", "attends to", color=FOREGROUND)
        fix_axis_sizes(self._detail, left=44, bottom=44)  # ticks + axis label
        # A title from the start: _fit_layout counts its height before the first selection.
        self._detail.setTitle("Layer 1 · Head 1", color=FOREGROUND, size="11pt")
        image = pg.ImageItem(axisOrder="row-major")
        image.setLookupTable(self._lut)
        self._detail.addItem(image)
        self._detail_tile = TiledImage(image)
        self._view.addItem(self._detail, row=0, col=1)

    # --- public API --------------------------------------------------------------------------

    @property
    def n_layers(self) -> int:
        return self._shape[0] if self._shape else 0

    @property
    def n_heads(self) -> int:
        return self._shape[1] if self._shape else 0

    @property
    def selected_head(self) -> tuple[int, int]:
        """(layer, head), 0-based."""
        return self._selected

    def set_data(self, attention: np.ndarray, tokens: list[str]) -> None:
        """Show attention [n_layer, n_head, T, T] (rows sum to 1) for the T prompt characters."""
        attention = np.asarray(attention, dtype=np.float32)
        if attention.ndim != 4 or attention.shape[2] != attention.shape[3]:
            raise ValueError(f"attention must be [n_layer, n_head, T, T], got {attention.shape}")
        t = attention.shape[2]
        if t != len(tokens):
            raise ValueError(f"{len(tokens)} tokens for attention over T={t}")
        if t == 0:
            self.clear()
            return
        if attention.shape[:3] != self._shape:
            self._rebuild(attention.shape[:3])
        if list(tokens) != self._tokens:
            self._set_tokens(list(tokens))
        np.copyto(self._data[:, :, :t, :t], attention)  # the caller may reuse its array
        self._grid_tiles.show(self._data)
        self._show_detail()
        self._stack.show_content()

    def set_head_labels(
        self, labels: list[list[str]] | None, kinds: list[list[str]] | None = None
    ) -> None:
        """Small badges naming what each head does (labels[layer][head], coloured by
        kinds[layer][head], a core.head_profiles.LabelKind value); None removes them. Clicking
        a badge emits knockoutToggled."""
        self._labels, self._kinds = labels, kinds
        self._place_badges()

    def set_knocked_out(self, heads: frozenset[tuple[int, int]]) -> None:
        """Draw these heads (0-based (layer, head)) greyed and struck through."""
        self._knocked = frozenset(heads)
        self._draw_knockout()
        self._place_badges()

    def struck_heads(self) -> frozenset[tuple[int, int]]:
        """The heads drawn struck through now: the knocked-out heads this model has."""
        if self._shape is None:
            return frozenset()
        n_layer, n_head, _ = self._shape
        return frozenset((i, h) for i, h in self._knocked if i < n_layer and h < n_head)

    def badge_at(self, layer: int, head: int) -> pg.TextItem | None:
        """The badge item of (layer, head), None when there is none."""
        return self._badges[layer][head] if self._badges else None

    def _draw_knockout(self) -> None:
        veils, strikes = QPainterPath(), QPainterPath()
        if self._shape is not None:
            t, pitch = self._shape[2], self._pitch
            for layer, head in self.struck_heads():
                left, top = head * pitch, layer * pitch
                corners = [QPointF(left, top), QPointF(left, top + t), QPointF(left + t, top + t)]
                veils.addPolygon(QPolygonF(corners))  # the visible half: the future stays blank
                veils.closeSubpath()
                strikes.moveTo(left, top + t)
                strikes.lineTo(left + t, top)
        self._veils.setPath(veils)
        self._strikes.setPath(strikes)
        self._title_detail()  # the title says whether the head is out

    def head_label(self, layer: int, head: int) -> str:
        """The badge text shown on (layer, head), '' when there is none."""
        badges = self._badges
        return badges[layer][head].textItem.toPlainText() if badges else ""

    def _place_badges(self) -> None:
        labels, kinds, shape = self._labels, self._kinds, self._shape
        if not labels or shape is None or (len(labels), len(labels[0])) != shape[:2]:
            self._remove_badges()
            return
        drawn = (shape, self._pitch, self._knocked, _frozen(labels), _frozen(kinds))
        if drawn == self._badges_drawn:
            return  # an analysis at every evaluation mostly finds the labels it found before
        if len(self._badges) != shape[0] or len(self._badges[0]) != shape[1]:
            self._remove_badges()
            self._badges = [[self._new_badge() for _ in row] for row in labels]
        t = shape[2]
        for layer, row in enumerate(labels):
            for head, label in enumerate(row):
                kind = kinds[layer][head] if kinds else ""
                out = (layer, head) in self._knocked
                badge = self._badges[layer][head]
                badge.setText(badge_text(label), color="w" if out else LABEL_TEXT_COLOUR)
                badge.fill = pg.mkBrush(
                    _KNOCKED_OUT if out else LABEL_COLOURS.get(kind, NEUTRAL_LABEL_COLOUR)
                )
                font = badge.textItem.font()
                font.setStrikeOut(out)
                badge.setFont(font)
                # the masked future leaves each tile's top-right corner empty: a badge fits there
                badge.setPos(head * self._pitch + t, layer * self._pitch)
                state = "knocked out; click to restore" if out else "click to knock it out"
                badge.setToolTip(f"{label} — {state}")
                badge.update()
        self._badges_drawn = drawn
        self._show_badges_that_fit()

    def _new_badge(self) -> pg.TextItem:
        """An empty badge in the grid's plot; _place_badges gives it its text and colours."""
        badge = pg.TextItem("", anchor=(1, 0))
        badge.setZValue(20)
        self._grid.addItem(badge, ignoreBounds=True)
        return badge

    def _remove_badges(self) -> None:
        for item in (i for row in self._badges for i in row):
            self._grid.removeItem(item)
        self._badges, self._badges_drawn = [], None

    def _show_badges_that_fit(self) -> None:
        """A badge shows only inside its tile's masked corner; on smaller tiles the head table
        and the cell tooltips still name the label."""
        for badge in (item for row in self._badges for item in row):
            size = badge.boundingRect()  # px: a TextItem ignores the view's scaling
            badge.setVisible(size.width() <= self._tile_px and size.height() <= self._tile_px / 2)

    def clear(self, hint: str | None = None) -> None:
        """Back to a hint instead of the grid: `hint`, or by default the empty prompt's; the
        next set_data shows data again."""
        self._stack.show_hint(hint)

    def detail_title(self) -> str:
        """The large view's title: "Layer 2 · Head 3", with " — knocked out" when it is out
        (whole; drawn cut short with "…" where the view is narrower)."""
        return self._detail_title

    def select_head(self, layer: int, head: int) -> None:
        """Enlarge (layer, head) (0-based) in the detail view; emits headSelected if it changed."""
        if self._shape and not (0 <= layer < self.n_layers and 0 <= head < self.n_heads):
            raise IndexError(f"no head ({layer}, {head}) in {self.n_layers}x{self.n_heads}")
        changed = (layer, head) != self._selected
        self._selected = (layer, head)
        if self._tokens:
            self._show_detail()
        if changed:
            self.headSelected.emit(layer, head)

    def head_image(self, layer: int, head: int) -> np.ndarray:
        """The T x T weights shown for one head (a copy); the masked future is NaN."""
        t = self._shape[2]
        image = self._data[layer, head, :t, :t].copy()
        image[self._future] = np.nan
        return image

    def describe_cell(self, layer: int, head: int, row: int, col: int) -> str:
        """Tooltip text for a cell (0-based arguments, 1-based layer/head in the text)."""
        where = f"layer {layer + 1} · head {head + 1}"
        if self._badges:  # labels for this shape: say it even where the badge does not fit
            where += f" ({self._labels[layer][head]})"
        if (layer, head) in self._knocked:
            where += " [knocked out]"
        query, key = quoted_char(self._tokens[row]), quoted_char(self._tokens[col])
        if col > row:
            return f"{where} · {query} cannot see {key} (future)"
        return f"{where} · {query} attends to {key}: {self._data[layer, head, row, col]:.2f}"

    # --- drawing -----------------------------------------------------------------------------

    def _rebuild(self, shape: tuple[int, int, int]) -> None:
        n_layer, n_head, t = shape
        self._shape, self._tokens = shape, []
        self._max_pool = max_pool = max_pool_factor(t)
        self._padded = round_up(t, max_pool)
        self._pitch = pitch = self._padded + round_up(tile_gap(t, 16), max_pool)
        self._data = np.zeros((n_layer, n_head, self._padded, self._padded), dtype=np.float32)
        self._future = np.triu(np.ones((t, t), dtype=bool), k=1)
        self._blank = np.ones((self._padded, self._padded), dtype=bool)  # future and padding
        self._blank[:t, :t] = self._future
        self._grid_tiles.pool = self._detail_tile.pool = (0, 0)  # reallocated by _fit_layout

        gap = pitch - self._padded
        self._grid.setRange(
            xRange=(0, n_head * pitch - gap), yRange=(0, n_layer * pitch - gap), padding=0
        )
        path = QPainterPath()
        for layer in range(n_layer):
            for head in range(n_head):
                path.addRect(QRectF(head * pitch, layer * pitch, t, t))
        self._outlines.setPath(path)
        self._draw_knockout()
        self._place_badges()
        centre = np.arange(max(n_layer, n_head)) * pitch + t / 2
        self._layers_axis.set_labels(centre[:n_layer], [f"L{i + 1}" for i in range(n_layer)])
        self._heads_axis.set_labels(centre[:n_head], [f"H{i + 1}" for i in range(n_head)])
        small = t <= _CHAR_TICKS_MAX_T and n_head <= _CHAR_TICKS_MAX_HEADS
        self._grid.showAxis("bottom", small)
        self._grid.showAxis("right", small)
        self._detail.setRange(xRange=(0, t), yRange=(0, t), padding=0)
        self._fit_layout(self._view.size())
        if self._selected[0] >= n_layer or self._selected[1] >= n_head:
            self._selected = (0, 0)
            self.headSelected.emit(0, 0)

    def _set_tokens(self, tokens: list[str]) -> None:
        self._tokens = tokens
        n_layer, n_head, t = self._shape
        widened = [
            self._keys_axis.set_chars(tokens, self._pitch, n_head),
            self._queries_axis.set_chars(tokens, self._pitch, n_layer),
            self._detail_keys_axis.set_chars(tokens, t, 1),
            self._detail_queries_axis.set_chars(tokens, t, 1),
        ]
        if any(widened):  # a wider character column (a badge such as ⟨NBSP⟩) moves the plots
            self._fit_layout(self._view.size())

    def _show_detail(self) -> None:
        layer, head = self._selected
        self._detail_tile.show(self._data[layer : layer + 1, head : head + 1])
        self._title_detail()
        t, pitch = self._shape[2], self._pitch
        self._highlight.setRect(QRectF(head * pitch, layer * pitch, t, t))

    def _title_detail(self) -> None:
        layer, head = self._selected
        out = (layer, head) in self._knocked  # its pattern is still computed, its output unused
        suffix = " — knocked out" if out else ""
        title = f"Layer {layer + 1} · Head {head + 1}{suffix}"
        if (title, self._detail_room) == self._detail_titled:  # the same at every keystroke
            return
        self._detail_title, self._detail_titled = title, (title, self._detail_room)
        if self._detail_room is not None:
            # pyqtgraph's title (over the image's column) asks for its whole text's width, which
            # would push the view past the fixed size _fit_layout gives it, out of the widget:
            # a narrow view gets the short form ("L1 · H1 — out"), cut with "…" if still too wide
            font = QFont(self._detail.titleLabel.item.font())
            font.setPointSizeF(11)
            metrics, room = QFontMetrics(font), max(int(self._detail_room) - 4, 0)
            if metrics.horizontalAdvance(title) > room:
                title = f"L{layer + 1} · H{head + 1}{' — out' if out else ''}"
                title = metrics.elidedText(title, Qt.TextElideMode.ElideRight, room)
        if self._detail.titleLabel.text != title:  # setting it re-lays the plot out
            self._detail.setTitle(title, color=FOREGROUND, size="11pt")

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if watched is self._view and event.type() == QEvent.Type.Resize:
            self._fit_layout(event.size())
        return super().eventFilter(watched, event)

    def _fit_layout(self, size: QSize) -> None:
        """Size the plots so cells are square and axes hug the images (no aspect-lock margins);
        pick each image's pooling for its size on screen."""
        if self._shape is None:
            return
        n_layer, n_head, t = self._shape
        gap = self._pitch - self._padded
        width_cells = n_head * self._pitch - gap
        ratio = width_cells / (n_layer * self._pitch - gap)
        avail_w = size.width() - 2 * _MARGIN - _SPACING
        avail_h = size.height() - 2 * _MARGIN
        extra_w, extra_h = _axes_extent(self._grid)
        inner_w = max(1.0, min((avail_h - extra_h) * ratio, _GRID_SHARE * avail_w - extra_w))
        grid_w, grid_h = inner_w + extra_w, inner_w / ratio + extra_h
        detail_extra_w, detail_extra_h = _axes_extent(self._detail)
        detail_avail_h = avail_h - _SPACING - _BAR_HEIGHT
        inner = max(0.0, min(avail_w - grid_w - detail_extra_w, detail_avail_h - detail_extra_h))
        _fix_size(self._grid, grid_w, grid_h)
        self._tile_px = t * inner_w / width_cells
        self._show_badges_that_fit()
        _fix_size(self._detail, inner + detail_extra_w, inner + detail_extra_h)
        self._detail_room = inner
        self._title_detail()
        _fix_size(self._bar, inner + detail_extra_w, _BAR_HEIGHT)

        tile, pitch = (self._padded,) * 2, (self._pitch,) * 2
        grid_pool = (pool_for(width_cells, inner_w, self._max_pool),) * 2
        if grid_pool != self._grid_tiles.pool:
            self._grid_tiles.allocate((n_layer, n_head), tile, pitch, self._blank, grid_pool)
            if self._tokens:  # data is on show: redraw it at the new resolution
                self._grid_tiles.show(self._data)
        detail_pool = (pool_for(t, inner, self._max_pool),) * 2
        if detail_pool != self._detail_tile.pool:
            self._detail_tile.allocate((1, 1), tile, tile, self._blank, detail_pool)
            if self._tokens:
                self._show_detail()

    # --- mouse -------------------------------------------------------------------------------

    def _grid_cell(self, scene_pos: QPointF) -> tuple[int, int, int, int] | None:
        """(layer, head, row, col) under a scene position; None over gaps or outside."""
        cell = cell_at(self._grid, scene_pos) if self._tokens else None
        if cell is None:
            return None
        layer, row = divmod(cell[0], self._pitch)
        head, col = divmod(cell[1], self._pitch)
        n_layer, n_head, t = self._shape
        if layer >= n_layer or head >= n_head or row >= t or col >= t:
            return None
        return layer, head, row, col

    def _detail_cell(self, scene_pos: QPointF) -> tuple[int, int, int, int] | None:
        cell = cell_at(self._detail, scene_pos) if self._tokens else None
        if cell is None or cell[0] >= self._shape[2] or cell[1] >= self._shape[2]:
            return None
        return (*self._selected, *cell)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        cell = self._grid_cell(scene_pos) or self._detail_cell(scene_pos)
        show_tooltip(self._view, scene_pos, self.describe_cell(*cell) if cell else "")

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        for layer, row in enumerate(self._badges):
            for head, badge in enumerate(row):
                if badge.isVisible() and badge.sceneBoundingRect().contains(event.scenePos()):
                    self.knockoutToggled.emit(layer, head)
                    return
        cell = self._grid_cell(event.scenePos())
        if cell is not None:
            self.select_head(cell[0], cell[1])


def _frozen(rows: list[list[str]] | None) -> tuple[tuple[str, ...], ...] | None:
    """rows as nested tuples: kept to compare with, unaffected by later changes to rows."""
    return None if rows is None else tuple(tuple(row) for row in rows)
