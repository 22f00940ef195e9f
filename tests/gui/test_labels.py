"""Every corpus character drawn visibly in every view, and labels that never overlap.

The odd characters are the ones a real corpus brought in: a form feed, a zero-width space, a
no-break space, a combining acute accent and a bidi override. Geometry is read from what the
axes really draw (pyqtgraph's draw specs), mapped into the scene.
"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFont, QFontDatabase, QPainter, QPicture, QRawFont
from PySide6.QtWidgets import QScrollArea

from headwatch.core.charnames import describe
from headwatch.gui.attention_grid import AttentionGrid, LabelAxis
from headwatch.gui.ffn_view import FfnView
from headwatch.gui.lines_view import AttentionLinesView
from headwatch.gui.neuron_view import NeuronView
from headwatch.gui.prediction_view import PredictionView, SampleView
from headwatch.gui.text_display import quoted_char, visible_char

ODD = ["\x0c", "\u200b", "\u00a0", "\u0301", "\u202e"]
PROMPT = list("a\x0cb\u200bc\u00a0de\u0301f\u202eg")


@cache
def _fonts() -> list[QRawFont]:
    return [QRawFont.fromFont(QFont(family)) for family in QFontDatabase.families()]


def drawable(text: str) -> bool:
    """Not empty, not blank, and every character in some installed font (no empty boxes)."""
    return bool(text.strip()) and all(
        any(font.supportsCharacter(ord(ch)) for font in _fonts()) for ch in text
    )


def causal_attention(rng: np.random.Generator, n_layer: int, n_head: int, t: int) -> np.ndarray:
    logits = rng.normal(size=(n_layer, n_head, t, t))
    future = np.triu(np.ones((t, t), dtype=bool), k=1)
    weights = np.where(future, 0.0, np.exp(logits))
    return (weights / weights.sum(axis=-1, keepdims=True)).astype(np.float32)


def drawn_labels(view: pg.GraphicsLayoutWidget) -> list[tuple[QRectF, str]]:
    """Every tick label the view's axes draw at its current size: (scene rectangle, text)."""
    labels = []
    for axis in view.items():
        if not isinstance(axis, pg.AxisItem) or not axis.isVisible():
            continue
        picture = QPicture()
        painter = QPainter(picture)
        try:
            specs = axis.generateDrawSpecs(painter)
        finally:
            painter.end()
        for rect, _, text in specs[2] if specs else []:
            labels.append((axis.mapRectToScene(rect), text))
    return labels


def badge_rects(view: pg.GraphicsLayoutWidget) -> list[tuple[QRectF, str]]:
    return [
        (item.mapRectToScene(item.boundingRect()), item.textItem.toPlainText())
        for item in view.items()
        if isinstance(item, pg.TextItem) and item.isVisible()
    ]


def assert_apart(boxes: list[tuple[QRectF, str]]) -> None:
    for (a, text_a), (b, text_b) in itertools.combinations(boxes, 2):
        # 0.5 px: rectangles that only share an edge do not overlap
        assert not a.adjusted(0.5, 0.5, -0.5, -0.5).intersects(b), (text_a, a, text_b, b)


def shown_view(qtbot, widget, size: tuple[int, int]) -> pg.GraphicsLayoutWidget:
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    view = widget.findChild(pg.GraphicsLayoutWidget)
    qtbot.waitUntil(lambda: view.width() == size[0])
    return view


# --- every character visible ------------------------------------------------------------------


@pytest.mark.parametrize("ch", ODD, ids=describe)
def test_stand_ins_draw_on_this_screen(qapp, ch):
    shown = visible_char(ch)
    assert shown != ch and drawable(shown)


def test_attention_grid_axes_and_tooltips_show_every_character(qtbot):
    grid = AttentionGrid()
    qtbot.addWidget(grid)
    grid.set_data(causal_attention(np.random.default_rng(0), 2, 2, len(PROMPT)), PROMPT)
    view = shown_view(qtbot, grid, (1400, 900))
    drawn = [text for _, text in drawn_labels(view)]
    for ch in ODD:
        assert visible_char(ch) in drawn
    assert all(drawable(text) for text in drawn)
    row = PROMPT.index("\u200b")
    tooltip = grid.describe_cell(0, 1, row, PROMPT.index("\u00a0"))
    assert "'⟨ZWSP⟩' (U+200B ZERO WIDTH SPACE)" in tooltip
    assert "'⟨NBSP⟩' (U+00A0 NO-BREAK SPACE)" in tooltip


def test_ffn_view_axis_and_tooltips_show_every_character(qtbot):
    ffn = FfnView()
    qtbot.addWidget(ffn)
    data = np.maximum(np.random.default_rng(1).normal(size=(2, len(PROMPT), 32)), 0)
    ffn.set_data(data.astype(np.float32), PROMPT)
    view = shown_view(qtbot, ffn, (1200, 1000))
    drawn = [text for _, text in drawn_labels(view)]
    for ch in ODD:
        assert visible_char(ch) in drawn
        assert describe(ch) in ffn.describe_cell(0, PROMPT.index(ch), 0)


def test_lines_view_prediction_bars_sample_and_neuron_contexts(qtbot):
    lines = AttentionLinesView()
    predictions = PredictionView()
    sample = SampleView()
    neuron = NeuronView()
    for widget in (lines, predictions, sample, neuron):
        qtbot.addWidget(widget)
    weights = causal_attention(np.random.default_rng(2), 1, 1, len(PROMPT))[0, 0]
    lines.set_head(weights, PROMPT, "Layer 1 · Head 1")
    predictions.set_predictions([(ch, 0.2) for ch in ODD])
    sample.set_sample("ab", "".join(ODD))
    text = "".join(PROMPT)
    neuron.set_unit(0, 3, [(text, PROMPT.index(ch), 1.0) for ch in ODD], "10 windows")
    for ch in ODD:
        shown = visible_char(ch)
        assert lines.labels()[PROMPT.index(ch)] == shown
        assert shown in predictions.labels()
        assert all(shown in line for line in neuron.lines())
    for row, (ch, _) in enumerate(predictions.predictions()):
        assert predictions.tooltip_at(row) == f"{quoted_char(ch)}: 20.0%"
        assert describe(ch) in predictions.tooltip_at(row)
    for ch in ODD:
        where = lines.row_position("right", PROMPT.index(ch))
        assert describe(ch) in lines.tooltip_at(where)
    # Running text: the accent after the bidi override has no base, so it gets its circle.
    assert sample.text() == "ab" + "".join(visible_char(ch) for ch in ODD)
    assert all(drawable(label) for label in lines.labels() + predictions.labels())


def test_wide_stand_ins_get_room(qtbot):
    """A badge is wider than a character: the lines view's character boxes widen for it
    instead of letting it run into the lines and weights beside it."""
    lines = AttentionLinesView()
    qtbot.addWidget(lines)
    canvas = lines.findChild(QScrollArea).widget()
    lines.set_head(np.ones((1, 1), dtype=np.float32), ["a"], "Layer 1 · Head 1")
    narrow = canvas.minimumSizeHint().width()
    lines.set_head(np.ones((1, 1), dtype=np.float32), ["\u00a0"], "Layer 1 · Head 1")
    assert canvas.minimumSizeHint().width() > narrow


# --- labels thin out, nothing overlaps --------------------------------------------------------


@pytest.mark.parametrize(
    ("n_layer", "n_head", "sizes"),
    [(12, 12, [(1100, 650), (700, 420)]), (24, 64, [(1400, 800), (900, 500), (1920, 1000)])],
    ids=["12x12", "24x64"],
)
def test_attention_grid_labels_never_overlap(qtbot, n_layer, n_head, sizes):
    grid = AttentionGrid()
    qtbot.addWidget(grid)
    tokens = (PROMPT * 2)[:16]
    grid.set_data(causal_attention(np.random.default_rng(3), n_layer, n_head, 16), tokens)
    labels = [["1 back", "self"][(a + b) % 2] for b in range(n_head) for a in [0]]
    grid.set_head_labels([labels] * n_layer)
    for size in sizes:  # the first is the window's size, the others resizes
        view = shown_view(qtbot, grid, size)
        drawn = drawn_labels(view)
        texts = [text for _, text in drawn]
        assert {"L1", "H1"} <= set(texts)
        assert_apart(drawn + badge_rects(view))
        layers = [text for text in texts if text.startswith("L") and text[1:].isdigit()]
        assert 1 < len(layers) <= n_layer  # thinned when needed, never emptied


@pytest.mark.parametrize(
    ("n_layer", "sizes"), [(12, [(900, 600), (700, 360)]), (24, [(1200, 800), (900, 480)])]
)
def test_ffn_view_labels_never_overlap(qtbot, n_layer, sizes):
    ffn = FfnView()
    qtbot.addWidget(ffn)
    tokens = (PROMPT * 6)[:64]
    data = np.maximum(np.random.default_rng(4).normal(size=(n_layer, 64, 128)), 0)
    ffn.set_data(data.astype(np.float32), tokens)
    for size in sizes:
        view = shown_view(qtbot, ffn, size)
        drawn = drawn_labels(view)
        assert_apart(drawn)
        texts = [text for _, text in drawn]
        assert any(text.startswith("L1\n") for text in texts)
        assert visible_char(tokens[0]) in texts


def test_label_axis_thins_by_powers_of_two(qtbot):
    axis = LabelAxis("top")
    texts = [f"H{i + 1}" for i in range(64)]
    axis.set_labels(np.arange(64) + 0.5, texts)
    every = axis.shown(0, 64, 64 * 100)
    assert every.all()
    thinned = np.flatnonzero(axis.shown(0, 64, 64 * 8))
    stride = thinned[1] - thinned[0]
    assert stride in (2, 4, 8, 16) and (np.diff(thinned) == stride).all() and thinned[0] == 0


def test_prompt_status_names_characters_left_out(qtbot, window):
    """The window's status line under the prompt: characters outside the vocabulary, named."""
    window.prompt_edit.setText("RO\u200bME\u202e")
    qtbot.waitUntil(
        lambda: (
            window.controller.last_inspection is not None
            and window.controller.last_inspection.tokens == list("ROME")
        ),
        timeout=10_000,
    )
    status = window.prompt_status.text()
    assert "'⟨ZWSP⟩' (U+200B ZERO WIDTH SPACE)" in status
    assert "'⟨RLO⟩' (U+202E RIGHT-TO-LEFT OVERRIDE)" in status
