"""Labels on a scatter: overlapping ones pushed apart on screen, the points left where they are
(gui.label_placement, and the Embeddings map drawing digits that training put on one spot)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from headwatch.core.embedding_map import EmbeddingMap
from headwatch.gui.embedding_view import EmbeddingView
from headwatch.gui.label_placement import CLEARANCE, DOT_CLEARANCE, spread_labels


def min_gap(labels: np.ndarray) -> float:
    dist = np.linalg.norm(labels[:, None] - labels[None], axis=-1)
    return float(dist[~np.eye(len(labels), dtype=bool)].min())


def test_labels_on_one_spot_part_and_lone_labels_stay():
    rng = np.random.default_rng(0)
    cluster = np.full((10, 2), 100.0) + rng.normal(0, 0.5, (10, 2))  # ten labels, 1 px apart
    lone = np.array([[400.0, 400.0], [20.0, 380.0]])
    points = np.vstack([cluster, lone, [[100.0, 100.0]]])  # and one exactly on another's spot
    labels = spread_labels(points, 16.0)
    assert min_gap(labels) >= CLEARANCE * 16.0 - 0.5
    np.testing.assert_array_equal(labels[10:12], lone)  # nothing near: not moved
    assert np.linalg.norm(labels[:10] - points[:10], axis=1).max() < 4 * 16  # still near
    np.testing.assert_array_equal(spread_labels(points, 16.0), labels)  # deterministic


@pytest.mark.parametrize("points", [np.zeros((3,)), np.zeros((2, 3))])
def test_bad_shapes_are_refused(points):
    with pytest.raises(ValueError, match="points_px"):
        spread_labels(points, 10.0)


def digits_frame() -> EmbeddingMap:
    """Letters spread over the plane and the ten digits within 1 % of its width of one point, as
    a trained baby model puts them."""
    rng = np.random.default_rng(1)
    letters = "abcdefghijklmnop"
    spread = rng.uniform(-1, 1, (len(letters), 2))
    digits = np.array([0.1, -0.2]) + rng.normal(0, 0.01, (10, 2))
    chars = tuple(letters) + tuple("0123456789")
    return EmbeddingMap(
        step=2_000,
        chars=chars,
        classes=("consonant",) * len(letters) + ("digit",) * 10,
        points=np.vstack([spread, digits]),
        variance_share=0.16,
        positions=np.arange(4),
        position_cosine=np.eye(4, dtype=np.float32),
        silhouette=None,
    )


def test_the_digits_on_the_embedding_map_can_be_read_apart(qtbot):
    view = EmbeddingView()
    qtbot.addWidget(view)
    view.resize(700, 420)
    view.show()
    frame = digits_frame()
    view.set_map(frame)
    QApplication.processEvents()
    np.testing.assert_array_equal(view.shown_points(), frame.points)  # the numbers stay honest
    box = view._map.getViewBox()
    (x0, x1), (y0, y1) = box.viewRange()
    scale = np.array([box.width() / (x1 - x0), box.height() / (y1 - y0)])
    size = view.scatter.data["size"].max()  # a glyph's size, px
    on_screen = view.label_points() * scale
    assert min_gap(on_screen) >= CLEARANCE * size - 1  # no character covers another
    # each moved digit is joined to its point by a leader line, and its point keeps a dot
    x, y = view.leaders.getData()
    assert len(view._moved) >= 9 and len(x) == 2 * len(view._moved)
    np.testing.assert_allclose(np.column_stack([x, y])[0::2], frame.points[view._moved])
    # a character with no other near it stays on its point
    points = frame.points * scale
    dist = np.linalg.norm(points[:, None] - points[None], axis=-1) + np.eye(len(points)) * 1e9
    alone = np.flatnonzero(dist.min(axis=1) >= CLEARANCE * size)
    assert len(alone) >= 8 and not set(alone) & set(view._moved)


def test_a_crowd_of_labels_is_read_apart_and_leaves_every_dot_uncovered():
    """Thirty labels within half a label of one spot, as the digits, '$', 's' and 'h' of a
    trained baby model: every label clear of every other and of every moved point's dot."""
    rng = np.random.default_rng(3)
    size = 13.0
    points = np.array([150.0, 120.0]) + rng.normal(0, 0.25 * size, (30, 2))
    labels = spread_labels(points, size)
    assert min_gap(labels) >= CLEARANCE * size - 1e-6
    moved = np.linalg.norm(labels - points, axis=1) > 1e-9
    to_dots = np.linalg.norm(labels[:, None] - points[None, moved], axis=-1)
    to_dots[moved[:, None] & np.eye(30, dtype=bool)[:, moved]] = np.inf  # its own dot
    assert to_dots.min() >= DOT_CLEARANCE * size - 1e-6
    assert np.linalg.norm(labels - points, axis=1).max() < 6 * size  # still beside the crowd
