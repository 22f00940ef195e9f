"""The Embeddings tab: characters at their projected points, the position cosine matrix, and
the map following training while it is on show."""

from __future__ import annotations

import numpy as np
import pytest

from headwatch.core.char_classes import CHAR_CLASSES
from headwatch.core.control import SnapshotBox
from headwatch.core.corpus import Tokenizer
from headwatch.core.embedding_map import TOKEN_EMBEDDING, embedding_map, pca_2d
from headwatch.core.trainer import seeded_gpt
from headwatch.gui.embedding_view import CLASS_COLOURS, EmbeddingView
from tests.gui.conftest import stop_training
from tests.helpers import small_model
from tests.trained import small_trainer


@pytest.fixture(scope="module")
def trained_frame():
    """The embedding map of a small model after 60 seeded steps, and that model's snapshot."""
    _, trainer = small_trainer()
    snapshot = SnapshotBox().publish(
        trainer.step, trainer.model_config, trainer.tokenizer, trainer.cpu_state()
    )
    return embedding_map(snapshot), snapshot


@pytest.fixture
def view(qtbot) -> EmbeddingView:
    widget = EmbeddingView()
    qtbot.addWidget(widget)
    widget.resize(700, 420)
    widget.show()
    return widget


def distances(points: np.ndarray) -> np.ndarray:
    """(N, N) Euclidean distances: what a rotation or reflection of the plane keeps."""
    return np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)


def test_the_points_shown_are_the_projection_of_a_real_model(view, trained_frame):
    frame, snapshot = trained_frame
    view.set_map(frame)
    assert np.allclose(view.shown_points(), frame.points)
    assert np.allclose(view.shown_points(), pca_2d(snapshot.state[TOKEN_EMBEDDING])[0].numpy())
    spots = view.scatter.points()
    assert len(spots) == len(frame.chars) == snapshot.config.vocab_size
    for spot, cls in zip(spots, frame.classes, strict=True):
        assert spot.brush().color().name().lower() == CLASS_COLOURS[cls].lower()
    newline = frame.chars.index("\n")
    assert spots[newline].data().startswith("'↵'")  # a newline is drawn as its stand-in
    assert spots[newline].data().endswith("newline")


def test_legend_caption_and_cosine_matrix(view, trained_frame):
    frame, _ = trained_frame
    view.set_map(frame)
    legend = view.legend.text()
    for name in CHAR_CLASSES:
        assert (f"{name}&nbsp;({frame.classes.count(name)})" in legend) == (name in frame.classes)
    assert f"Step {frame.step:,}" in view.caption.text()
    assert f"silhouette {frame.silhouette:+.2f}" in view.caption.text()
    assert np.array_equal(view.cosine_image.image, frame.position_cosine)
    assert view.cosine_image.image.shape == (16, 16)  # the block size of small_model
    assert not view.grab().isNull()


def test_a_model_without_positions_and_clearing(qtbot, view):
    chars = "aeibcd"
    config = small_model(len(chars), attention=False, n_layer=0)
    state = seeded_gpt(config, seed=2).state_dict()
    view.set_map(embedding_map(SnapshotBox().publish(0, config, Tokenizer(tuple(chars)), state)))
    assert view.no_positions.isVisible()
    assert view.cosine_image.image is None
    view.resize(260, 180)  # smaller than any tab: still paints
    assert not view.grab().isNull()
    view.clear()
    assert view.current is None and view.shown_points().shape == (0, 2)
    assert view.legend.text() == ""


def test_the_tab_follows_training_only_while_it_is_on_show(qtbot, window):
    controller, tab = window.controller, window.embedding_view
    requests: list[object] = []
    controller._mapEmbeddings.connect(requests.append)
    frames = []  # every frame mapped, in order
    controller.embeddingsMapped.connect(frames.append)
    assert tab.current is None  # not on show: nothing mapped
    window.analysis_tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.current is not None, timeout=30_000)  # the preview weights
    assert tab.current.step == 0

    window.train()
    qtbot.waitUntil(lambda: tab.current.step > 0, timeout=60_000)
    first = tab.current
    qtbot.waitUntil(lambda: tab.current.step > first.step, timeout=60_000)  # new weights came

    # away from the tab: new weights are inspected but not mapped
    window.analysis_tabs.setCurrentWidget(window.compare_view)
    asked = len(requests)
    inspected: list[int] = []
    controller.inspected.connect(lambda result: inspected.append(result.step))
    qtbot.waitUntil(lambda: len(set(inspected)) >= 3, timeout=60_000)
    assert len(requests) == asked

    # back on show after training: the weights on show, turned to match the last frame shown
    stop_training(qtbot, window)
    window.analysis_tabs.setCurrentWidget(tab)
    final = controller.snapshots.latest()
    qtbot.waitUntil(lambda: tab.current.step == final.step, timeout=30_000)
    assert frames[-1] is tab.current and frames[-2].step < final.step
    shown = tab.shown_points()
    assert np.allclose(shown, embedding_map(final, previous=frames[-2]).points)
    plain = pca_2d(final.state[TOKEN_EMBEDDING])[0].numpy()
    assert np.allclose(distances(shown), distances(plain))  # only turned, never distorted
