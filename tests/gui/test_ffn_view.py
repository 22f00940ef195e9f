"""FfnView: stacked per-layer activation heatmaps, active shares, tooltips, unit clicks."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtWidgets import QApplication, QLabel

from headwatch.gui.attention_grid import CharAxis
from headwatch.gui.ffn_view import FfnView, robust_high, scale_top


def activations(rng: np.random.Generator, n_layer: int, t: int, hidden: int) -> np.ndarray:
    """Post-ReLU-like activations: about half the units exactly zero."""
    return np.maximum(rng.normal(size=(n_layer, t, hidden)), 0).astype(np.float32)


@pytest.fixture
def ffn(qtbot) -> FfnView:
    widget = FfnView()
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    return widget


def scene_items(widget: FfnView, kind: type) -> list:
    view = widget.findChild(pg.GraphicsLayoutWidget)
    return [item for item in view.items() if isinstance(item, kind)]


def extent(image: pg.ImageItem) -> QRectF:
    """An image's rectangle in its view's coordinates: rows and hidden units."""
    return image.mapRectToParent(image.boundingRect())


def heatmap(widget: FfnView) -> pg.ImageItem:
    [image] = scene_items(widget, pg.ImageItem)
    return image


def test_shows_every_layer(ffn):
    data = activations(np.random.default_rng(0), 3, 7, 64)
    ffn.set_data(data, list("ROMEO:\n"))
    assert ffn.objectName() == "ffnView"
    assert ffn.n_layers == 3
    for layer in range(3):
        assert ffn.layer_image(layer).shape == (7, 64)
        np.testing.assert_array_equal(ffn.layer_image(layer), data[layer])


def test_shares_of_active_units(ffn):
    """Hand-made activations with known zeros."""
    data = np.zeros((2, 3, 4), dtype=np.float32)
    data[0, 0] = [1.0, 0.0, 2.0, 0.0]  # 2 of 4 active
    data[0, 1] = [0.5, 0.5, 0.5, 0.5]  # 4 of 4
    data[1, 2, 3] = 7.0  # layer 1: only one activation in 12
    ffn.set_data(data, list("abc"))
    assert ffn.active_share(0) == pytest.approx(6 / 12)
    assert ffn.active_share(1) == pytest.approx(1 / 12)
    np.testing.assert_allclose(ffn.token_active_share(0), [0.5, 1.0, 0.0])
    np.testing.assert_allclose(ffn.token_active_share(1), [0.0, 0.0, 0.25])
    # The heatmap's left axis carries the per-layer labels.
    [plot] = [item for item in scene_items(ffn, pg.PlotItem) if heatmap(ffn) in item.items]
    assert plot.getAxis("left").texts == ["L1\n50% active", "L2\n8% active"]


def test_describe_cell(ffn):
    data = activations(np.random.default_rng(1), 2, 5, 128)
    data[0, 3, 117] = 0.83
    ffn.set_data(data, list("thee "))
    assert ffn.describe_cell(0, 3, 117) == "layer 1 · pos 3 · token 'e' · unit 117: 0.83"
    assert ffn.describe_cell(1, 4, 0).startswith(
        "layer 2 · pos 4 · token '␣' (U+0020 SPACE) · unit 0: "
    )


def test_clicking_a_unit_emits_layer_and_unit(qtbot, ffn):
    ffn.set_data(activations(np.random.default_rng(2), 3, 6, 64), list("ROMEO:"))
    ffn.show()
    qtbot.waitExposed(ffn)
    view = ffn.findChild(pg.GraphicsLayoutWidget)
    image = heatmap(ffn)
    pitch = extent(image).height() / 3  # rows from one layer's band to the next
    cell = QPointF(40.5, 2 * pitch + 3.5)  # layer 2, row 3, unit 40
    pos = view.mapFromScene(image.getViewBox().mapViewToScene(cell))
    # (the hover tooltip's text is checked through describe_cell elsewhere: a global tooltip
    # left by an earlier test made waiting on QToolTip here order-dependent)
    with qtbot.waitSignal(ffn.unitSelected) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == [2, 40]


def test_shape_change_rebuilds_and_same_shape_updates_in_place(ffn):
    rng = np.random.default_rng(3)
    ffn.set_data(activations(rng, 2, 6, 32), list("ROMEO:"))
    pixels = heatmap(ffn).image
    ffn.set_data(activations(rng, 2, 6, 32), list("JULIET"))
    assert np.shares_memory(heatmap(ffn).image, pixels)
    bigger = activations(rng, 3, 9, 48)
    ffn.set_data(bigger, list("But soft,"))
    assert ffn.n_layers == 3
    assert ffn.layer_image(2).shape == (9, 48)
    assert ffn.token_active_share(2).shape == (9,)
    assert not np.shares_memory(heatmap(ffn).image, pixels)


def test_a_single_hot_unit_survives_a_narrow_window(qtbot, ffn):
    """More units than pixels: blocks of units are max-pooled, not skipped."""
    data = np.zeros((2, 8, 1536), dtype=np.float32)
    data[1, 5, 1001] = 3.0
    ffn.resize(500, 400)
    ffn.set_data(data, list("ROMEO:\nB"))
    ffn.show()
    qtbot.waitExposed(ffn)
    image = heatmap(ffn)
    pool = round(extent(image).width() / image.image.shape[1])
    assert pool > 1
    assert (image.image == 254).sum() == 1  # exactly one lit pixel: the block holding unit 1001
    rows_per_pixel = extent(image).height() / image.image.shape[0]
    pitch = extent(image).height() / 2
    assert image.image[int((pitch + 5) / rows_per_pixel), 1001 // pool] == 254
    assert ffn.layer_image(1)[5, 1001] == 3.0


def test_colour_scale_is_robust_and_never_empty():
    values = np.zeros((2, 10, 512), dtype=np.float32)
    assert robust_high(values) == 1.0  # all inactive: still a valid scale
    values[0, 0, 0] = 5.0
    assert robust_high(values) == 5.0  # mostly zeros: the max
    values[...] = 1.0
    values[0, 0, :3] = 1000.0  # a few outliers do not squash the scale
    assert robust_high(values) == 1.0


def test_colour_scale_top_is_round_and_stays_while_it_fits():
    assert [scale_top(h) for h in (0.37, 3.0, 7.0, 9.2, 12.0)] == pytest.approx(
        [0.4, 3.0, 8.0, 10.0, 15.0]
    )
    assert scale_top(3.5, 4.0) == 4.0  # still fits: kept
    assert scale_top(2.5, 4.0) == 4.0
    assert scale_top(2.0, 4.0) == 2.0  # under 60 % of it: the scale would waste its colours
    assert scale_top(4.1, 4.0) == 5.0  # over it: the next round number


def test_colour_bar_holds_while_activations_barely_move(ffn):
    rng = np.random.default_rng(8)
    data = activations(rng, 2, 12, 64)
    ffn.set_data(data, list("abcdefghijkl"))
    levels = ffn._bar.levels()
    assert levels[0] == 0.0 and levels[1] >= robust_high(data)
    ffn.set_data(data * 0.95, list("abcdefghijkl"))  # the next keystroke: much the same
    assert ffn._bar.levels() == levels
    ffn.set_data(data * 3, list("abcdefghijkl"))
    assert ffn._bar.levels()[1] >= robust_high(data * 3) > levels[1]


def test_newline_and_space_are_visible_in_tick_labels(ffn):
    ffn.set_data(activations(np.random.default_rng(4), 1, 5, 16), list("a b\nc"))
    [axis] = scene_items(ffn, CharAxis)
    [(_, values)] = axis.tickValues(0, 5, 1000)
    assert axis.tickStrings(values, 1, 1) == ["a", "␣", "b", "↵", "c"]


def test_hint_until_data_then_paints(qtbot, ffn):
    ffn.show()
    qtbot.waitExposed(ffn)
    hint = ffn.findChild(QLabel, "emptyHint")
    assert hint.isVisible()
    rng = np.random.default_rng(5)
    for _ in range(20):
        ffn.set_data(activations(rng, 4, 14, 512), list("ROMEO:\nBut sof"))
        assert not ffn.grab().isNull()
        QApplication.processEvents()
    assert not hint.isVisible()
    ffn.clear()  # an empty prompt
    assert hint.isVisible()
    ffn.set_data(np.zeros((4, 0, 512), dtype=np.float32), [])  # also an empty prompt
    assert hint.isVisible()
