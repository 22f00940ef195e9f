"""The embedding map's core: PCA, alignment to the previous frame, position cosines, silhouette."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import headwatch.core.embedding_map as embedding_map_module
from headwatch.core.char_classes import char_class
from headwatch.core.control import SnapshotBox
from headwatch.core.corpus import Tokenizer
from headwatch.core.embedding_map import (
    MAX_POSITIONS,
    POSITION_EMBEDDING,
    TOKEN_EMBEDDING,
    aligned,
    embedding_map,
    pca_2d,
    position_cosine,
    procrustes_rotation,
    silhouette,
    vowel_consonant_silhouette,
)
from headwatch.core.model import GPTConfig
from headwatch.core.trainer import seeded_gpt
from tests.helpers import small_model
from tests.trained import small_trainer


def rotation(degrees: float) -> np.ndarray:
    t = math.radians(degrees)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


REFLECT_X = np.array([[-1.0, 0.0], [0.0, 1.0]])


def test_pca_of_a_known_matrix() -> None:
    # scores c1 along direction d1 and c2 along d2, nothing along the third axis; c1 and c2 are
    # centred and orthogonal, so d1 and d2 are the principal axes (variances 36 and 26)
    d1 = np.array([1.0, 1.0, 0.0]) / math.sqrt(2)
    d2 = np.array([1.0, -1.0, 0.0]) / math.sqrt(2)
    scores = np.array([[5.0, 1.0], [-3.0, 3.0], [-1.0, 0.0], [-1.0, -4.0]])
    table = torch.tensor(scores @ np.stack([d1, d2]) + 5.0)  # shifted: PCA centres it
    points, share = pca_2d(table)
    # each axis's sign makes its largest score positive: 5 on axis 1, -4 -> 4 on axis 2
    assert np.allclose(points.numpy(), scores * np.array([1.0, -1.0]))
    assert share == pytest.approx(1.0)  # the third axis holds no variance


def test_pca_share_and_degenerate_tables() -> None:
    table = torch.tensor([[3.0, 0.0, 0.0], [-3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, -2.0, 0.0],
                          [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])  # fmt: skip
    _, share = pca_2d(table)
    assert share == pytest.approx((9 + 9 + 4 + 4) / (9 + 9 + 4 + 4 + 1 + 1))
    one, share = pca_2d(torch.ones(1, 8))  # a single character: nothing to spread
    assert one.shape == (1, 2) and not one.any() and share == 0.0
    line, _ = pca_2d(torch.tensor([[1.0], [2.0], [4.0]]))  # n_embd 1: the second axis is 0
    assert line.shape == (3, 2) and not line[:, 1].any()
    with pytest.raises(ValueError, match="NaN"):
        pca_2d(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="table"):
        pca_2d(torch.ones(2, 3, 4))


def test_pca_is_deterministic_under_a_sign_change_of_the_data() -> None:
    table = torch.randn(30, 16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(pca_2d(table)[0], pca_2d(table)[0])
    # the same points reflected through the origin give the same (sign-fixed) projection
    assert torch.allclose(pca_2d(table)[0], pca_2d(-table)[0])


@pytest.mark.parametrize(
    "turn", [rotation(37), rotation(180), REFLECT_X, REFLECT_X @ rotation(-75)]
)
def test_alignment_undoes_a_rotation_or_reflection(turn: np.ndarray) -> None:
    frame = np.random.default_rng(1).normal(size=(40, 2))
    frame -= frame.mean(axis=0)
    moved = frame @ turn  # the next frame's PCA may come out turned or flipped like this
    assert np.allclose(aligned(moved, frame), frame)
    r = procrustes_rotation(moved, frame)
    assert np.allclose(r @ r.T, np.eye(2))  # orthogonal: no scaling, distances kept


def test_alignment_follows_a_moving_frame_without_flipping() -> None:
    # the next frame: the points moved a little and its PCA came out reflected
    rng = np.random.default_rng(2)
    frame = rng.normal(size=(40, 2))
    step = frame + 0.05 * rng.normal(size=frame.shape)
    shown = aligned(step @ REFLECT_X, frame)
    assert np.allclose(shown, step @ procrustes_rotation(step, frame))
    assert np.abs(shown - frame).max() < 0.5  # near where they were, not mirrored
    assert np.abs((step @ REFLECT_X) - frame).max() > 1.0


def test_alignment_rejects_mismatched_frames() -> None:
    with pytest.raises(ValueError, match="align"):
        procrustes_rotation(np.zeros((3, 2)), np.zeros((4, 2)))
    assert np.array_equal(aligned(np.ones((3, 2)), None), np.ones((3, 2)))


def test_position_cosine_of_known_embeddings() -> None:
    weight = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    c = 1 / math.sqrt(2)
    expected = torch.tensor(
        [
            [1.0, 0.0, -1.0, c, 0.0],
            [0.0, 1.0, 0.0, c, 0.0],
            [-1.0, 0.0, 1.0, -c, 0.0],
            [c, c, -c, 1.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],  # a zero row: similar to nothing
        ]
    )
    result = position_cosine(weight)
    assert result.dtype == torch.float32 and result.shape == (5, 5)
    assert torch.allclose(result, expected, atol=1e-6)


def test_silhouette_of_a_hand_computed_example() -> None:
    # cluster A at 0 and 1, cluster B at 4 and 6 on a line; by hand (Rousseeuw's definition):
    #   0: a = 1, b = (4 + 6) / 2 = 5    -> (5 - 1) / 5     = 4/5
    #   1: a = 1, b = (3 + 5) / 2 = 4    -> (4 - 1) / 4     = 3/4
    #   4: a = 2, b = (4 + 3) / 2 = 3.5  -> (3.5 - 2) / 3.5 = 3/7
    #   6: a = 2, b = (6 + 5) / 2 = 5.5  -> (5.5 - 2) / 5.5 = 7/11
    points = np.array([[0.0], [1.0], [4.0], [6.0]])
    labels = np.array(["A", "A", "B", "B"])
    assert silhouette(points, labels) == pytest.approx((4 / 5 + 3 / 4 + 3 / 7 + 7 / 11) / 4)


def test_silhouette_conventions() -> None:
    # a point alone in its cluster scores 0: A at 0, 1; B alone at 10
    #   0: a = 1, b = 10 -> 9/10;  1: a = 1, b = 9 -> 8/9;  10: 0
    points = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0]])
    assert silhouette(points, np.array([0, 0, 1])) == pytest.approx((9 / 10 + 8 / 9) / 3)
    assert silhouette(np.zeros((4, 2)), np.array([0, 0, 1, 1])) == 0.0  # all in one place
    # three clusters {0, 1}, {5, 6}, {20, 21}: a = 1 for every point, b the nearer other
    # cluster's mean distance: 0: b = min(5.5, 20.5) -> 4.5/5.5;  1: b = 4.5 -> 3.5/4.5;
    # 5: b = min(4.5, 15.5) -> 3.5/4.5;  6: b = 5.5 -> 4.5/5.5;  20: b = 14.5 -> 13.5/14.5;
    # 21: b = 15.5 -> 14.5/15.5
    points3 = np.array([[0.0], [1.0], [5.0], [6.0], [20.0], [21.0]])
    s = silhouette(points3, np.array([0, 0, 1, 1, 2, 2]))
    by_hand = [4.5 / 5.5, 3.5 / 4.5, 3.5 / 4.5, 4.5 / 5.5, 13.5 / 14.5, 14.5 / 15.5]
    assert s == pytest.approx(sum(by_hand) / 6)
    with pytest.raises(ValueError, match="two clusters"):
        silhouette(points, np.array([0, 0, 0]))


def test_vowel_consonant_silhouette_uses_only_those_points() -> None:
    classes = ("vowel", "vowel", "consonant", "consonant", "upper case", "space")
    points = np.array([[0.0], [1.0], [4.0], [6.0], [100.0], [-50.0]])
    expected = silhouette(points[:4], np.array(["v", "v", "c", "c"]))
    assert vowel_consonant_silhouette(points, classes) == pytest.approx(expected)
    assert vowel_consonant_silhouette(points[:2], classes[:2]) is None


def _snapshot(state: dict, chars: str, step: int = 0):
    config = GPTConfig(vocab_size=len(chars), block_size=8, n_layer=1, n_head=1, n_embd=4)
    return SnapshotBox().publish(step, config, Tokenizer(tuple(chars)), state)


def test_embedding_map_of_a_trained_model() -> None:
    corpus, trainer = small_trainer()
    state = trainer.cpu_state()
    snapshot = SnapshotBox().publish(trainer.step, trainer.model_config, trainer.tokenizer, state)
    result = embedding_map(snapshot)
    points, share = pca_2d(state[TOKEN_EMBEDDING])
    assert np.allclose(result.points, points.numpy())  # no previous frame: the plain projection
    assert result.variance_share == pytest.approx(share)
    assert result.step == trainer.step
    assert result.chars == corpus.tokenizer.chars
    assert result.classes == tuple(char_class(ch) for ch in corpus.tokenizer.chars)
    block = trainer.model_config.block_size
    assert np.array_equal(result.positions, np.arange(block))
    assert np.allclose(result.position_cosine, position_cosine(state[POSITION_EMBEDDING]).numpy())
    assert result.silhouette == pytest.approx(
        vowel_consonant_silhouette(points.numpy(), result.classes)
    )

    # the next frame, turned and flipped, is turned back to the frame before it
    turned = dict(state)
    turned[TOKEN_EMBEDDING] = -state[TOKEN_EMBEDDING]
    again = embedding_map(
        SnapshotBox().publish(trainer.step, trainer.model_config, trainer.tokenizer, turned),
        previous=result,
    )
    assert np.allclose(again.points, result.points)


def test_embedding_map_of_other_shapes() -> None:
    # the ladder's bigram has no position embedding; a new vocabulary is not aligned to the old
    bigram = seeded_gpt(small_model(5, attention=False, n_layer=0), seed=1).state_dict()
    first = embedding_map(_snapshot(bigram, "abcde"))
    assert first.position_cosine.shape == (0, 0) and first.positions.shape == (0,)
    other = embedding_map(_snapshot(bigram, "vwxyz"), previous=first)
    assert np.allclose(other.points, pca_2d(bigram[TOKEN_EMBEDDING])[0].numpy())
    assert first.silhouette is not None and other.silhouette is None  # no vowel in v..z

    with pytest.raises(ValueError, match="token_embedding"):
        embedding_map(_snapshot({}, "ab"))


def test_a_long_block_is_shown_at_evenly_spaced_positions() -> None:
    block = 3 * MAX_POSITIONS + 7
    state = {
        TOKEN_EMBEDDING: torch.randn(3, 4, generator=torch.Generator().manual_seed(0)),
        POSITION_EMBEDDING: torch.randn(block, 4, generator=torch.Generator().manual_seed(1)),
    }
    result = embedding_map(_snapshot(state, "abc"))
    assert result.positions.size == MAX_POSITIONS
    assert result.positions[0] == 0 and result.positions[-1] == block - 1
    assert np.all(np.diff(result.positions) >= 3)
    expected = position_cosine(state[POSITION_EMBEDDING][torch.from_numpy(result.positions)])
    assert np.allclose(result.position_cosine, expected.numpy())


def naive_silhouette(points: np.ndarray, labels: np.ndarray) -> float:
    """Rousseeuw's definition point by point, for comparison."""
    widths = []
    for i in range(len(points)):
        d = np.linalg.norm(points - points[i], axis=1)
        same = (labels == labels[i]) & (np.arange(len(points)) != i)
        if not same.any():
            widths.append(0.0)
            continue
        a = d[same].mean()
        b = min(d[labels == other].mean() for other in set(labels) if other != labels[i])
        widths.append(0.0 if max(a, b) == 0 else (b - a) / max(a, b))
    return float(np.mean(widths))


@pytest.mark.parametrize("floats", [1 << 22, 7])  # all rows at once, or a few rows at a time
def test_silhouette_matches_the_definition_in_any_number_of_dimensions(floats, monkeypatch):
    monkeypatch.setattr(embedding_map_module, "_SILHOUETTE_FLOATS", floats)
    rng = np.random.default_rng(3)
    points = rng.normal(size=(41, 5))
    labels = rng.integers(0, 3, size=41)
    assert silhouette(points, labels) == pytest.approx(naive_silhouette(points, labels))
