"""AttentionGrid: tiled per-head heatmaps, masked future, tooltips, head selection, painting."""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtWidgets import QApplication, QLabel, QToolTip

from headwatch.gui.attention_grid import AttentionGrid, CharAxis
from headwatch.gui.text_display import quoted_char

PROMPT = "ROMEO:\nBut soft"


def causal_attention(rng: np.random.Generator, n_layer: int, n_head: int, t: int) -> np.ndarray:
    """Lower-triangular, row-stochastic weights [n_layer, n_head, t, t] like a causal softmax."""
    logits = rng.normal(size=(n_layer, n_head, t, t))
    future = np.triu(np.ones((t, t), dtype=bool), k=1)
    weights = np.where(future, 0.0, np.exp(logits))
    return (weights / weights.sum(axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def grid(qtbot) -> AttentionGrid:
    widget = AttentionGrid()
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    return widget


def shown(qtbot, widget: AttentionGrid) -> pg.GraphicsLayoutWidget:
    widget.show()
    qtbot.waitExposed(widget)
    return widget.findChild(pg.GraphicsLayoutWidget)


def scene_items(widget, kind: type) -> list:
    return [
        item for item in widget.findChild(pg.GraphicsLayoutWidget).items() if isinstance(item, kind)
    ]


def extent(image: pg.ImageItem) -> QRectF:
    """An image's rectangle in its view's coordinates, i.e. in attention cells."""
    return image.mapRectToParent(image.boundingRect())


def grid_and_detail_images(widget) -> tuple[pg.ImageItem, pg.ImageItem]:
    """The tiled grid image spans more cells than the detail image (one head, no gap)."""
    images = sorted(scene_items(widget, pg.ImageItem), key=lambda item: extent(item).width())
    return images[-1], images[0]


def cell_pitch(widget) -> float:
    """Cells from one tile's start to the next."""
    return extent(grid_and_detail_images(widget)[0]).height() / widget.n_layers


def detail_title(widget) -> str:
    titles = [plot.titleLabel.text for plot in scene_items(widget, pg.PlotItem)]
    return next(title for title in titles if title)


def head_centre_on_viewport(widget, view, layer: int, head: int) -> QPoint:
    """Viewport pixel over the middle of one head's tile."""
    image, _ = grid_and_detail_images(widget)
    pitch = cell_pitch(widget)
    t = widget.head_image(0, 0).shape[0]
    return on_viewport(view, image, QPointF(head * pitch + t / 2, layer * pitch + t / 2))


def on_viewport(view, image: pg.ImageItem, cell: QPointF) -> QPoint:
    """Viewport pixel of a point in image (= view box) coordinates; ViewBox mapping is fresh."""
    return view.mapFromScene(image.getViewBox().mapViewToScene(cell))


def test_shows_every_head_with_the_future_blank(grid):
    attention = causal_attention(np.random.default_rng(0), 3, 4, 6)
    grid.set_data(attention, list("ROMEO:"))
    assert grid.objectName() == "attentionGrid"
    assert (grid.n_layers, grid.n_heads) == (3, 4)
    future = np.triu(np.ones((6, 6), dtype=bool), k=1)
    for layer in range(3):
        for head in range(4):
            image = grid.head_image(layer, head)
            assert image.shape == (6, 6)
            assert np.isnan(image[future]).all()
            np.testing.assert_array_equal(image[~future], attention[layer, head][~future])


def test_masked_cells_are_transparent_in_the_painted_image(grid):
    grid.set_data(causal_attention(np.random.default_rng(1), 2, 2, 5), list("hello"))
    image, _ = grid_and_detail_images(grid)
    lut = image.lut
    pixels = image.image[:5, :5]  # layer 0, head 0
    future = np.triu(np.ones((5, 5), dtype=bool), k=1)
    assert (lut[pixels[future], 3] == 0).all()
    assert (lut[pixels[~future], 3] == 255).all()


def test_same_shape_updates_in_place_and_new_shape_rebuilds(grid):
    rng = np.random.default_rng(2)
    grid.set_data(causal_attention(rng, 2, 4, 6), list("ROMEO:"))
    image, _ = grid_and_detail_images(grid)
    pixels = image.image
    grid.set_data(causal_attention(rng, 2, 4, 6), list("JULIET"))
    assert grid_and_detail_images(grid)[0] is image
    assert np.shares_memory(image.image, pixels)  # same buffer, rewritten

    smaller = causal_attention(rng, 2, 2, 9)
    grid.set_data(smaller, list("But soft,"))
    assert (grid.n_layers, grid.n_heads) == (2, 2)
    assert grid.head_image(1, 1).shape == (9, 9)
    np.testing.assert_array_equal(np.nan_to_num(grid.head_image(1, 1)), smaller[1, 1])
    assert not np.shares_memory(image.image, pixels)


def test_cells_are_square_and_fill_their_plots(qtbot, grid):
    """The layout sizes each plot to its image: aspect locking adds no margins around it."""
    shown(qtbot, grid)  # empty first, as in the app
    grid.set_data(causal_attention(np.random.default_rng(14), 4, 4, 14), list(PROMPT[:14]))
    tiles, detail = grid_and_detail_images(grid)
    pitch = cell_pitch(grid)
    grid_cells = (4 * pitch - (pitch - 14),) * 2

    def view_sizes(image: pg.ImageItem) -> tuple[float, float]:
        (x0, x1), (y0, y1) = image.getViewBox().viewRange()
        return x1 - x0, y1 - y0

    def fitted() -> bool:
        return np.allclose(view_sizes(tiles), grid_cells, rtol=0.02) and np.allclose(
            view_sizes(detail), (14, 14), rtol=0.02
        )

    qtbot.waitUntil(fitted)


def test_rejects_mismatched_tokens(grid):
    with pytest.raises(ValueError):
        grid.set_data(causal_attention(np.random.default_rng(3), 1, 1, 4), list("abc"))


def test_describe_cell_names_layer_head_and_characters(grid):
    attention = causal_attention(np.random.default_rng(4), 2, 3, 6)
    attention[1, 2, 3, :4] = [0.1, 0.42, 0.18, 0.3]
    tokens = list("ROMEO:")
    grid.set_data(attention, tokens)
    # Expected text built from the input: row 3 is 'E' (the query), column 1 is 'O' (the key).
    query, key = quoted_char(tokens[3]), quoted_char(tokens[1])
    expected = f"layer 2 · head 3 · {query} attends to {key}: {attention[1, 2, 3, 1]:.2f}"
    assert (
        grid.describe_cell(1, 2, 3, 1) == expected == "layer 2 · head 3 · 'E' attends to 'O': 0.42"
    )
    assert grid.describe_cell(1, 2, 1, 3) == "layer 2 · head 3 · 'O' cannot see 'E' (future)"


def test_hover_shows_the_cell_tooltip(qtbot, grid):
    attention = causal_attention(np.random.default_rng(5), 2, 2, 6)
    grid.set_data(attention, list("ROMEO:"))
    view = shown(qtbot, grid)
    image, _ = grid_and_detail_images(grid)
    pitch = cell_pitch(grid)
    # layer 1, head 0, row 4, col 2
    pos = on_viewport(view, image, QPointF(2.5, pitch + 4.5))
    qtbot.mouseMove(view.viewport(), pos)
    qtbot.waitUntil(lambda: QToolTip.text() == grid.describe_cell(1, 0, 4, 2))
    assert QToolTip.text().startswith("layer 2 · head 1 · 'O' attends to 'M': ")


def test_clicking_a_head_selects_it_and_enlarges_it(qtbot, grid):
    grid.set_data(causal_attention(np.random.default_rng(6), 3, 3, 8), list(PROMPT[:8]))
    view = shown(qtbot, grid)
    assert grid.selected_head == (0, 0)
    assert detail_title(grid) == "Layer 1 · Head 1"
    with qtbot.waitSignal(grid.headSelected) as blocker:
        qtbot.mouseClick(
            view.viewport(),
            Qt.MouseButton.LeftButton,
            pos=head_centre_on_viewport(grid, view, 2, 1),
        )
    assert blocker.args == [2, 1]
    assert grid.selected_head == (2, 1)
    assert detail_title(grid) == "Layer 3 · Head 2"
    tiles, detail = grid_and_detail_images(grid)
    pitch = tiles.image.shape[0] // 3
    np.testing.assert_array_equal(
        detail.image, tiles.image[2 * pitch : 2 * pitch + 8, pitch : pitch + 8]
    )


def test_detail_view_follows_new_data(grid):
    rng = np.random.default_rng(7)
    grid.set_data(causal_attention(rng, 2, 2, 6), list("ROMEO:"))
    grid.select_head(1, 1)
    _, detail = grid_and_detail_images(grid)
    before = detail.image.copy()
    grid.set_data(causal_attention(rng, 2, 2, 6), list("ROMEO:"))
    tiles, detail = grid_and_detail_images(grid)
    pitch = tiles.image.shape[0] // 2
    assert not np.array_equal(detail.image, before)
    np.testing.assert_array_equal(detail.image, tiles.image[pitch : pitch + 6, pitch : pitch + 6])


def test_select_head_emits_once_per_change_and_checks_range(qtbot, grid):
    grid.set_data(causal_attention(np.random.default_rng(8), 2, 4, 5), list("hello"))
    with qtbot.waitSignal(grid.headSelected) as blocker:
        grid.select_head(1, 3)
    assert blocker.args == [1, 3]
    with qtbot.assertNotEmitted(grid.headSelected):
        grid.select_head(1, 3)
    with pytest.raises(IndexError):
        grid.select_head(2, 0)
    # A shape without that head falls back to the default selection.
    with qtbot.waitSignal(grid.headSelected) as blocker:
        grid.set_data(causal_attention(np.random.default_rng(9), 2, 2, 5), list("hello"))
    assert blocker.args == [0, 0]
    assert detail_title(grid) == "Layer 1 · Head 1"


def test_newline_and_space_are_visible_in_tick_labels(grid):
    tokens = list("a b\nc")
    grid.set_data(causal_attention(np.random.default_rng(10), 1, 2, 5), tokens)
    labels = []
    for axis in scene_items(grid, CharAxis):
        [(_, values)] = axis.tickValues(0, 5, 1000)  # plenty of room: every character
        labels.append(axis.tickStrings(values, 1, 1))
    assert ["a", "␣", "b", "↵", "c"] in labels
    assert all("\n" not in label and " " not in label for row in labels for label in row)


def test_hint_until_data_arrives(qtbot, grid):
    grid.show()
    qtbot.waitExposed(grid)
    hint = grid.findChild(QLabel, "emptyHint")
    assert hint.isVisible()
    assert "prompt" in hint.text()
    assert not grid.grab().isNull()  # the empty state paints
    grid.set_data(causal_attention(np.random.default_rng(11), 1, 1, 3), list("abc"))
    assert not hint.isVisible()
    grid.clear()  # an empty prompt
    assert hint.isVisible()
    grid.set_data(np.zeros((1, 1, 0, 0), dtype=np.float32), [])  # also an empty prompt
    assert hint.isVisible()
    grid.set_data(causal_attention(np.random.default_rng(11), 1, 1, 3), list("abc"))
    assert not hint.isVisible()


def test_thin_lines_survive_a_small_window(qtbot, grid):
    """Fewer pixels than cells: blocks are max-pooled, so a previous-token diagonal stays lit."""
    t = 128
    attention = np.zeros((2, 2, t, t), dtype=np.float32)
    attention[:, :, 0, 0] = 1.0
    attention[:, :, np.arange(1, t), np.arange(t - 1)] = 1.0
    grid.resize(400, 300)
    grid.set_data(attention, list((PROMPT * 10)[:t]))
    shown(qtbot, grid)
    for size, expected_pool in [((400, 300), 2), ((1800, 1400), 1)]:  # a resize re-pools
        grid.resize(*size)
        view = grid.findChild(pg.GraphicsLayoutWidget)
        qtbot.waitUntil(lambda size=size, view=view: view.width() == size[0])
        image, _ = grid_and_detail_images(grid)
        pool = round(extent(image).width() / image.image.shape[1])
        assert pool == expected_pool
        side = t // pool
        head_0_0 = image.image[:side, :side]
        assert (head_0_0 == 254).any(axis=1).all()  # every (pooled) row shows its peak
        np.testing.assert_array_equal(np.nan_to_num(grid.head_image(1, 1)), attention[1, 1])


def test_paints_grid_hundreds_of_times(qtbot, grid):
    """A broken Qt binding (PySide6 6.12.0 on Python 3.11) aborts within a few painted frames."""
    grid.resize(600, 450)
    shown(qtbot, grid)
    rng = np.random.default_rng(12)
    for frame in range(300):
        t = 12 + frame // 100  # a new shape now and then: rebuilds are painted too
        grid.set_data(causal_attention(rng, 4, 4, t), list(PROMPT[:t]))
        grid.repaint()
        assert not grid.grab().isNull()
        QApplication.processEvents()
    assert (grid.n_layers, grid.n_heads) == (4, 4)


@pytest.mark.parametrize(
    ("n_layer", "n_head", "t", "size"),
    [(6, 6, 256, (1200, 800)), (4, 4, 64, (900, 700))],
    ids=["lecture-6x6x256", "4x4x64"],
)
def test_prints_set_data_and_paint_time(qtbot, grid, n_layer, n_head, t, size):
    """Reports the time of set_data + a full paint; a figure to read, not a pass/fail check."""
    grid.resize(*size)
    shown(qtbot, grid)
    rng = np.random.default_rng(13)
    frames = [causal_attention(rng, n_layer, n_head, t) for _ in range(3)]
    tokens = list((PROMPT * 32)[:t])
    grid.set_data(frames[0], tokens)
    grid.grab()
    times = []
    for i in range(15):
        start = time.perf_counter()
        grid.set_data(frames[i % 3], tokens)
        grid.grab()
        times.append(time.perf_counter() - start)
    print(f"\nset_data + paint {n_layer}x{n_head} heads, T={t}: {1000 * np.median(times):.1f} ms")


def test_head_label_badges(qtbot):
    grid = AttentionGrid()
    qtbot.addWidget(grid)
    rng = np.random.default_rng(5)
    raw = np.tril(rng.random((2, 3, 6, 6), dtype=np.float32))
    grid.set_data(raw / raw.sum(-1, keepdims=True), list("ROMEO:"))
    labels = [["1 back", "self", "broad"], ["vowels", "first position", "punctuation"]]
    kinds = [["offset", "offset", "broad"], ["char class", "first position", "char class"]]
    grid.set_head_labels(labels, kinds)
    assert grid.head_label(0, 0) == "1 back" and grid.head_label(1, 1) == "first"
    assert grid.head_label(1, 2) == "punct." and grid.head_label(1, 0) == "vowels"
    grid.set_head_labels([["self"]])  # for another shape: ignored, no badges
    assert grid.head_label(0, 0) == ""
    grid.set_head_labels(labels, kinds)
    raw = np.tril(rng.random((2, 2, 6, 6), dtype=np.float32))
    grid.set_data(raw / raw.sum(-1, keepdims=True), list("ROMEO:"))  # heads changed
    assert grid.head_label(0, 0) == ""


def test_clicking_a_badge_asks_to_knock_its_head_out(qtbot, grid):
    grid.set_data(causal_attention(np.random.default_rng(8), 2, 3, 12), list(PROMPT[:12]))
    grid.set_head_labels([["1 back", "self", "broad"]] * 2, [["offset", "offset", "broad"]] * 2)
    view = shown(qtbot, grid)
    badge = grid.badge_at(1, 2)
    assert badge.isVisible()
    centre = view.mapFromScene(badge.sceneBoundingRect().center())
    with (
        qtbot.waitSignal(grid.knockoutToggled) as blocker,
        qtbot.assertNotEmitted(grid.headSelected),
    ):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert blocker.args == [1, 2]


def test_knocked_out_heads_are_greyed_and_struck_through(qtbot, grid):
    grid.set_data(causal_attention(np.random.default_rng(9), 2, 3, 12), list(PROMPT[:12]))
    grid.set_head_labels([["1 back", "self", "broad"]] * 2, [["offset", "offset", "broad"]] * 2)
    view = shown(qtbot, grid)
    before = view.grab().toImage()
    grid.set_knocked_out(frozenset({(0, 1), (1, 2), (5, 5)}))  # (5, 5): not in this model
    assert grid.struck_heads() == {(0, 1), (1, 2)}
    assert grid.badge_at(0, 1).textItem.font().strikeOut()
    assert not grid.badge_at(0, 0).textItem.font().strikeOut()
    assert "[knocked out]" in grid.describe_cell(1, 2, 3, 1)
    assert view.grab().toImage() != before
    grid.set_knocked_out(frozenset())
    assert grid.struck_heads() == frozenset()
    assert not grid.badge_at(0, 1).textItem.font().strikeOut()


def test_a_long_title_never_pushes_the_large_view_out_of_a_narrow_widget(qtbot):
    """On a laptop the grid's pane is narrow: the large view's title ("— knocked out") is cut
    to the view's width rather than widening it past the widget's edge."""
    widget = AttentionGrid()
    qtbot.addWidget(widget)
    widget.resize(560, 380)
    view = shown(qtbot, widget)
    widget.set_data(
        causal_attention(np.random.default_rng(0), 4, 4, 27), list("ROMEO: But soft, what light")
    )
    widget.select_head(0, 0)
    widget.set_knocked_out(frozenset({(0, 0)}))
    QApplication.processEvents()
    assert widget.detail_title() == "Layer 1 · Head 1 — knocked out"
    for item in view.items():
        if isinstance(item, (pg.PlotItem, pg.ViewBox)):
            assert item.sceneBoundingRect().right() <= view.width() + 0.5, item
    widget.resize(1000, 700)  # room again: the whole title
    QApplication.processEvents()
    titles = [plot.titleLabel.text for plot in scene_items(widget, pg.PlotItem)]
    assert "Layer 1 · Head 1 — knocked out" in titles
