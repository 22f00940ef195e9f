"""AttentionLinesView: one head as lines between the prompt's characters, hover isolates."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QLabel

from headwatch.gui.head_table import LABEL_COLOURS
from headwatch.gui.lines_view import MIN_WEIGHT, AttentionLinesView

PROMPT = "ROMEO:\nBut soft"


def causal_attention(t: int, seed: int = 0) -> np.ndarray:
    """Rows sum to 1 over keys 0..i, with some weights below the drawing threshold."""
    rng = np.random.default_rng(seed)
    weights = np.tril(rng.random((t, t)) ** 3)
    weights[np.arange(1, t), np.arange(t - 1)] += 2.0  # a previous-token tendency
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def expected_lines(attention: np.ndarray) -> list[tuple[int, int, float]]:
    t = attention.shape[0]
    return [
        (i, j, float(attention[i, j]))
        for i in range(t)
        for j in range(i + 1)
        if attention[i, j] >= MIN_WEIGHT
    ]


def midpoint(a: QPointF, b: QPointF) -> QPointF:
    return QPointF((a.x() + b.x()) / 2, (a.y() + b.y()) / 2)


@pytest.fixture
def view(qtbot) -> AttentionLinesView:
    widget = AttentionLinesView()
    qtbot.addWidget(widget)
    widget.resize(420, 520)
    return widget


@pytest.fixture
def shown(qtbot, view) -> AttentionLinesView:
    view.set_head(causal_attention(len(PROMPT)), list(PROMPT), "Layer 2 · Head 3")
    view.show()
    qtbot.waitExposed(view)
    return view


def test_empty_until_a_head_is_set(view):
    assert view.objectName() == "linesView"
    assert view.visible_lines() == []
    assert view.row_at(QPointF(10, 10)) is None
    view.focus("left", 0)  # nothing to focus: ignored
    assert view.focused() is None
    assert not view.grab().isNull()


def test_draws_a_line_per_weight_above_the_threshold(view):
    attention = causal_attention(len(PROMPT))
    attention[5, 2] = MIN_WEIGHT / 2  # too light to draw
    view.set_head(attention, list(PROMPT), "Layer 1 · Head 1")
    lines = view.visible_lines()
    assert lines == expected_lines(attention)
    assert (5, 2) not in {(i, j) for i, j, _ in lines}
    assert all(j <= i for i, j, _ in lines)


def test_the_masked_future_is_never_drawn(view):
    attention = np.full((4, 4), 0.25, dtype=np.float32)  # weights above the diagonal too
    view.set_head(attention, list("abcd"), "Layer 1 · Head 1")
    assert {(i, j) for i, j, _ in view.visible_lines()} == {
        (i, j) for i in range(4) for j in range(i + 1)
    }


def test_focus_on_a_query_keeps_only_its_lines(view):
    attention = causal_attention(len(PROMPT))
    view.set_head(attention, list(PROMPT), "Layer 1 · Head 1")
    view.focus("left", 9)
    lines = view.visible_lines()
    assert lines == [line for line in expected_lines(attention) if line[0] == 9]
    assert lines and all(i == 9 and j <= 9 for i, j, _ in lines)
    assert view.focused() == ("left", 9)


def test_focus_on_a_key_keeps_only_lines_into_it(view):
    attention = causal_attention(len(PROMPT))
    view.set_head(attention, list(PROMPT), "Layer 1 · Head 1")
    view.focus("right", 3)
    lines = view.visible_lines()
    assert lines == [line for line in expected_lines(attention) if line[1] == 3]
    assert lines and all(j == 3 and i >= 3 for i, j, _ in lines)
    view.focus(None, None)
    assert view.visible_lines() == expected_lines(attention)


def test_focus_rejects_a_bad_side_or_index(shown):
    with pytest.raises(ValueError):
        shown.focus("middle", 0)
    with pytest.raises(IndexError):
        shown.focus("left", len(PROMPT))


def test_row_position_and_row_at_are_inverse(shown):
    for side in ("left", "right"):
        for index in range(len(PROMPT)):
            assert shown.row_at(shown.row_position(side, index)) == (side, index)
    between = midpoint(shown.row_position("left", 0), shown.row_position("right", 0))
    assert shown.row_at(between) is None


def test_hover_isolates_a_character_and_leaving_it_restores(qtbot, shown):
    everything = shown.visible_lines()
    qtbot.mouseMove(shown, shown.row_position("left", 7).toPoint())
    qtbot.waitUntil(lambda: shown.focused() == ("left", 7))
    assert {i for i, _, _ in shown.visible_lines()} == {7}

    qtbot.mouseMove(shown, shown.row_position("right", 2).toPoint())
    qtbot.waitUntil(lambda: shown.focused() == ("right", 2))
    assert {j for _, j, _ in shown.visible_lines()} == {2}

    between = midpoint(shown.row_position("left", 4), shown.row_position("right", 4))
    qtbot.mouseMove(shown, between.toPoint())
    qtbot.waitUntil(lambda: shown.focused() is None)
    assert shown.visible_lines() == everything


def test_a_long_prompt_scrolls_and_stays_hoverable(qtbot, shown):
    t = 256
    shown.set_head(causal_attention(t, seed=1), list(("To be, or not to be " * 13)[:t]), "L1 H1")
    last = shown.row_position("left", t - 1)  # scrolls the last row into view
    assert shown.rect().contains(last.toPoint())
    assert shown.row_at(last) == ("left", t - 1)
    qtbot.mouseMove(shown, last.toPoint())
    qtbot.waitUntil(lambda: shown.focused() == ("left", t - 1))
    assert not shown.grab().isNull()


def test_focus_survives_an_update_while_the_character_exists(shown):
    shown.focus("left", 12)
    shown.set_head(causal_attention(len(PROMPT), seed=2), list(PROMPT), "Layer 2 · Head 3")
    assert shown.focused() == ("left", 12)
    shown.set_head(causal_attention(5), list("ROMEO"), "Layer 2 · Head 3")
    assert shown.focused() is None


def test_title_and_label_badge(shown):
    title = shown.findChild(QLabel, "linesTitle")
    badge = shown.findChild(QLabel, "headLabelBadge")
    assert title.text() == "Layer 2 · Head 3"
    assert not badge.isVisible()
    shown.set_head(
        causal_attention(len(PROMPT)), list(PROMPT), "Layer 1 · Head 2", "2 back", "offset"
    )
    assert badge.text() == "2 back" and badge.isVisible()
    assert LABEL_COLOURS["offset"] in badge.styleSheet()


def test_a_narrow_view_cuts_the_title_and_keeps_the_label_badge_whole(qtbot, shown):
    shown.set_head(
        causal_attention(len(PROMPT)), list(PROMPT), "Layer 2 · Head 3", "spaces", "spaces"
    )
    shown.resize(180, 400)  # the Heads tab's lines column on a 1366 x 768 laptop
    title = shown.findChild(QLabel, "linesTitle")
    badge = shown.findChild(QLabel, "headLabelBadge")
    qtbot.waitUntil(lambda: badge.geometry().right() < shown.width())
    assert title.text() == "Layer 2 · Head 3" and title.is_elided()
    assert badge.width() >= badge.sizeHint().width()


def test_rejects_mismatched_input(view):
    with pytest.raises(ValueError):
        view.set_head(np.zeros((3, 4)), list("abc"), "x")
    with pytest.raises(ValueError):
        view.set_head(np.zeros((3, 3)), list("ab"), "x")


def test_clear_and_paint_in_every_state(shown):
    shown.focus("right", 0)
    assert not shown.grab().isNull()
    shown.clear()
    assert shown.visible_lines() == []
    assert shown.focused() is None
    assert not shown.grab().isNull()
    shown.set_head(np.zeros((0, 0)), [], "empty")  # an empty prompt is the empty state
    assert shown.visible_lines() == []
