"""Feed-forward (post-ReLU) activations for the prompt: tokens x hidden units, one band per layer.

All layers are stacked (with a blank gap) into ONE ImageItem of colour indices, like the
attention grid, max-pooled where there are more rows or units than screen pixels. The colour
scale runs from 0 to a high percentile of the activations (fixed per update). Beside the
heatmap, one bar per token shows the share of that token's units that fire.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QWidget

from headwatch.gui.attention_grid import (
    BACKGROUND,
    FOREGROUND,
    CharAxis,
    HintStack,
    LabelAxis,
    TiledImage,
    cell_at,
    fix_axis_sizes,
    index_lut,
    max_pool_factor,
    new_color_bar,
    new_plot,
    pool_for,
    round_up,
    show_tooltip,
    tile_gap,
)
from headwatch.gui.text_display import quoted_char

_LEVEL_PERCENTILE = 99.5  # colour scale top: robust to a few huge activations
_LEVEL_SAMPLES = 1 << 16  # values inspected for it; an odd stride visits every unit column
# The scale's top is a round number, kept while the activations need between KEEP_SCALE of it
# and all of it: colours stay comparable from keystroke to keystroke, and the colour bar (whose
# axis is one of the dearest things to repaint) is redrawn only when the scale really moves.
_ROUND_TOPS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
KEEP_SCALE = 0.6
_BAR_BRUSH = "#6b8fb5"
_BOTTOM_AXIS = 42  # equal on both plots so their view boxes line up row for row


def robust_high(values: np.ndarray) -> float:
    """Top of the colour scale: a high percentile of a sample, or the max if that is 0."""
    flat = values.reshape(-1)
    stride = max(1, flat.size // _LEVEL_SAMPLES) | 1
    high = float(np.percentile(flat[::stride], _LEVEL_PERCENTILE))
    if high <= 0:
        high = float(flat.max())
    return high if high > 0 else 1.0


def scale_top(high: float, current: float | None = None) -> float:
    """The colour scale's top for activations that need `high`: `current` while high lies in
    [KEEP_SCALE * current, current], else the smallest round number (1, 1.5, 2, 3, 4, 5, 6, 8
    times a power of ten) at or above high."""
    if current is not None and KEEP_SCALE * current <= high <= current:
        return current
    power = 10.0 ** math.floor(math.log10(high))
    return next(top * power for top in _ROUND_TOPS if top * power >= high * (1 - 1e-9))


class FfnView(QWidget):
    """Heatmap of hidden-unit activations per layer (rows = prompt characters, columns = units)."""

    unitSelected = Signal(int, int)  # noqa: N815 - Qt naming; (layer, unit), 0-based

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ffnView")
        self._shape: tuple[int, int, int] | None = None  # (n_layer, T, hidden)
        self._tokens: list[str] = []  # empty until data of the current shape is shown
        # Geometry in cells: a layer's band is padded = (rows, units), T x hidden of them data,
        # the rest padding up to a multiple of the largest pooling; bands start every pitch rows.
        self._padded = (1, 1)
        self._max_pool = (1, 1)
        self._pitch = 1
        self._data = np.zeros((0, 1, 0, 0), dtype=np.float32)  # [L, 1, *padded]
        self._blank = np.zeros((0, 0), dtype=bool)  # padding cells of a band
        self._high: float | None = None  # top of the colour scale (scale_top)
        self._token_share = np.zeros((0, 0))
        self._layer_share = np.zeros(0)

        self._view = pg.GraphicsLayoutWidget()
        self._view.setBackground(BACKGROUND)
        self._build_heatmap()
        self._build_shares()
        self._bar = new_color_bar("activation", (0.0, 1.0))
        self._view.addItem(self._bar, row=0, col=2)
        self._view.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._view.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self._stack = HintStack(self, "Type a prompt to see feed-forward activations", self._view)

    def _build_heatmap(self) -> None:
        self._layers_axis = LabelAxis("left")
        self._plot = new_plot({"left": self._layers_axis})
        self._plot.setMouseEnabled(x=False, y=False)
        self._plot.setLabel("bottom", "hidden unit", color=FOREGROUND)
        self._plot.getAxis("bottom").setStyle(hideOverlappingLabels=False)  # keep unit 0
        fix_axis_sizes(self._plot, left=86, bottom=_BOTTOM_AXIS)
        image = pg.ImageItem(axisOrder="row-major")
        image.setLookupTable(index_lut())
        self._plot.addItem(image)
        self._bands = TiledImage(image)
        self._plot.getViewBox().sigResized.connect(self._choose_pool)
        self._view.addItem(self._plot, row=0, col=0)

    def _build_shares(self) -> None:
        self._chars_axis = CharAxis("left")
        self._shares = new_plot({"left": self._chars_axis})
        self._shares.setMouseEnabled(x=False, y=False)
        self._shares.setYLink(self._plot)
        self._shares.setXRange(0, 100, padding=0)
        self._shares.setLabel("bottom", "% units active", color=FOREGROUND)
        self._shares.getAxis("bottom").setTicks([[(0, "0"), (50, "50"), (100, "100")]])
        self._shares.getAxis("bottom").setStyle(hideOverlappingLabels=False)
        fix_axis_sizes(self._shares, left=18, bottom=_BOTTOM_AXIS)
        self._shares.setFixedWidth(130)
        self._share_bars = pg.BarGraphItem(
            x0=[], y=[], width=[], height=0.8, brush=_BAR_BRUSH, pen=None
        )
        self._shares.addItem(self._share_bars)
        self._view.addItem(self._shares, row=0, col=1)

    # --- public API --------------------------------------------------------------------------

    @property
    def n_layers(self) -> int:
        return self._shape[0] if self._shape else 0

    def set_data(self, ffn: np.ndarray, tokens: list[str]) -> None:
        """Show post-ReLU activations [n_layer, T, hidden] (>= 0) for the T prompt characters."""
        ffn = np.asarray(ffn, dtype=np.float32)
        if ffn.ndim != 3:
            raise ValueError(f"ffn must be [n_layer, T, hidden], got {ffn.shape}")
        if ffn.shape[1] != len(tokens):
            raise ValueError(f"{len(tokens)} tokens for activations over T={ffn.shape[1]}")
        if ffn.shape[1] == 0:
            self.clear()
            return
        if ffn.shape != self._shape:
            self._rebuild(ffn.shape)
        if list(tokens) != self._tokens:
            self._tokens = list(tokens)
            self._chars_axis.set_chars(self._tokens, self._pitch, self.n_layers)
        _, t, hidden = ffn.shape
        np.copyto(self._data[:, 0, :t, :hidden], ffn)  # the caller may reuse its array
        high = scale_top(robust_high(ffn), self._high)
        if high != self._high:
            self._high = high
            self._bar.setLevels((0.0, high))
        self._bands.show(self._data, self._high)
        self._show_shares(ffn)
        self._stack.show_content()

    def clear(self, hint: str | None = None) -> None:
        """Back to a hint instead of the activations: `hint`, or by default the empty prompt's;
        the next set_data shows data again."""
        self._stack.show_hint(hint)

    def layer_image(self, layer: int) -> np.ndarray:
        """The T x hidden activations shown for one layer (a copy)."""
        _, t, hidden = self._shape
        return self._data[layer, 0, :t, :hidden].copy()

    def active_share(self, layer: int) -> float:
        """Fraction of (token, unit) activations of a layer that are non-zero."""
        return float(self._layer_share[layer])

    def token_active_share(self, layer: int) -> np.ndarray:
        """Per prompt position, the fraction of a layer's units that are non-zero (length T)."""
        return self._token_share[layer].copy()

    def describe_cell(self, layer: int, row: int, unit: int) -> str:
        """Tooltip text for one activation (0-based arguments; the layer is 1-based in the text)."""
        value = self._data[layer, 0, row, unit]
        return f"{self._describe_token(layer, row)} · unit {unit}: {value:.2f}"

    # --- drawing -----------------------------------------------------------------------------

    def _rebuild(self, shape: tuple[int, int, int]) -> None:
        n_layer, t, hidden = shape
        self._shape, self._tokens = shape, []  # the character axis needs the new geometry
        self._max_pool = (max_pool_factor(t), max_pool_factor(hidden))
        self._padded = (round_up(t, self._max_pool[0]), round_up(hidden, self._max_pool[1]))
        gap = round_up(tile_gap(t, 8), self._max_pool[0])
        self._pitch = self._padded[0] + gap
        self._data = np.zeros((n_layer, 1, *self._padded), dtype=np.float32)
        self._blank = np.ones(self._padded, dtype=bool)
        self._blank[:t, :hidden] = False
        self._bands.pool = (0, 0)
        self._plot.setRange(xRange=(0, hidden), yRange=(0, n_layer * self._pitch - gap), padding=0)
        self._choose_pool()

    def _choose_pool(self) -> None:
        """Pool rows and units so no image pixel is smaller than a screen pixel."""
        if self._shape is None:
            return
        n_layer, _, hidden = self._shape
        view_box = self._plot.getViewBox()
        rows = n_layer * self._pitch - (self._pitch - self._padded[0])
        pool = (
            pool_for(rows, view_box.height(), self._max_pool[0]),
            pool_for(hidden, view_box.width(), self._max_pool[1]),
        )
        if pool != self._bands.pool:
            pitch = (self._pitch, self._padded[1])
            self._bands.allocate((n_layer, 1), self._padded, pitch, self._blank, pool)
            if self._tokens:  # data is on show: redraw it at the new resolution
                self._bands.show(self._data, self._high)

    def _show_shares(self, ffn: np.ndarray) -> None:
        active = ffn > 0
        self._token_share = active.mean(axis=2)
        self._layer_share = self._token_share.mean(axis=1)
        n_layer, t, _ = self._shape
        rows = (np.arange(n_layer)[:, None] * self._pitch + np.arange(t)[None, :] + 0.5).ravel()
        self._share_bars.setOpts(x0=0, y=rows, width=100 * self._token_share.ravel())
        self._layers_axis.set_labels(
            np.arange(n_layer) * self._pitch + t / 2,
            [f"L{layer + 1}\n{share:.0%} active" for layer, share in enumerate(self._layer_share)],
        )

    def _describe_token(self, layer: int, row: int) -> str:
        return f"layer {layer + 1} · pos {row} · token {quoted_char(self._tokens[row])}"

    # --- mouse -------------------------------------------------------------------------------

    def _row_at(self, plot: pg.PlotItem, scene_pos: QPointF) -> tuple[int, int, int] | None:
        """(layer, row, column) under a scene position in one of the plots; None over gaps."""
        cell = cell_at(plot, scene_pos) if self._shape else None
        if cell is None:
            return None
        layer, row = divmod(cell[0], self._pitch)
        if layer >= self._shape[0] or row >= self._shape[1]:
            return None
        return layer, row, cell[1]

    def _heatmap_cell(self, scene_pos: QPointF) -> tuple[int, int, int] | None:
        cell = self._row_at(self._plot, scene_pos)
        return cell if cell is not None and cell[2] < self._shape[2] else None

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        text = ""
        if (cell := self._heatmap_cell(scene_pos)) is not None:
            text = self.describe_cell(*cell)
        elif (cell := self._row_at(self._shares, scene_pos)) is not None:
            layer, row, _ = cell
            share = self._token_share[layer, row]
            text = f"{self._describe_token(layer, row)} · {share:.0%} of units active"
        show_tooltip(self._view, scene_pos, text)

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        cell = self._heatmap_cell(event.scenePos())
        if cell is not None:
            self.unitSelected.emit(cell[0], cell[2])
