"""The embedding map: where each character's token embedding lies, and how positions relate.

From one weight snapshot (core.control.Snapshot, live or from a run's snapshot store):

- the token embedding table (vocab_size, n_embd) projected on its first two principal axes
  (PCA), giving each character a point (vocab_size, 2);
- that projection turned to match the previous frame shown (orthogonal Procrustes,
  Schönemann 1966), so points move from one snapshot to the next instead of flipping or spinning
  (the signs and the rotation of principal axes are arbitrary; the plane they span is not);
- the cosine similarity of every pair of position embeddings (T, T);
- how far apart vowels and consonants lie in the projection: the silhouette of the two
  classes (Rousseeuw 1987), from -1 (mixed up) through 0 (overlapping) to 1 (apart).

The principal axes come from `torch.linalg.svd` of the centred table, in float64: the table is
small (65 x 128 at the baby preset, well under a millisecond), and the exact SVD is
deterministic, where `torch.pca_lowrank` is a randomized approximation meant for matrices too
big to decompose whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from headwatch.core.char_classes import char_class
from headwatch.core.control import Snapshot

TOKEN_EMBEDDING = "token_embedding.weight"
POSITION_EMBEDDING = "position_embedding.weight"
# Past this block size the cosine matrix is shown for this many evenly spaced positions: a
# block of 2**20 would make a matrix of 2**40 cells.
MAX_POSITIONS = 512
_SILHOUETTE_FLOATS = 1 << 22  # the most coordinate differences held at once (32 MiB)


@dataclass(frozen=True)
class EmbeddingMap:
    """What the Embeddings view shows for the weights of one step.

    chars[i], classes[i] and points[i] belong to token id i. points are in the units of the
    embedding (the PCA coordinates, turned to match the previous frame); variance_share is the
    share of the table's variance that the plane of the two axes holds (0..1). position_cosine
    is (P, P) for the P positions listed in `positions` (all of 0..block_size-1 up to
    MAX_POSITIONS); (0, 0) for a model without position embeddings (the ladder's bigram).
    silhouette: vowels vs consonants in the projection, None unless both classes are present.
    """

    step: int
    chars: tuple[str, ...]
    classes: tuple[str, ...]  # core.char_classes.CHAR_CLASSES names
    points: np.ndarray  # float64 (vocab_size, 2)
    variance_share: float
    positions: np.ndarray  # int64 (P,)
    position_cosine: np.ndarray  # float32 (P, P), in [-1, 1]
    silhouette: float | None


def pca_2d(table: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The rows of table (N, D) on its first two principal axes: (points (N, 2) float64, share of
    the variance the two axes hold).

    The rows are centred first, so the points are centred on the origin. Each axis's sign is
    fixed so that its largest coordinate in absolute value is positive (scikit-learn's svd_flip),
    so the same table always gives the same points. With fewer than two directions of variance
    (N < 3 or D < 2) the missing coordinates are 0. Raises ValueError for a table that is not 2-D
    or holds NaN or infinite values."""
    if table.dim() != 2:
        raise ValueError(f"pca_2d takes a (N, D) table, got shape {tuple(table.shape)}")
    x = table.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("the embedding table holds NaN or infinite values")
    x = x - x.mean(dim=0, keepdim=True)
    u, s, _ = torch.linalg.svd(x, full_matrices=False)  # u (N, k), s (k,), k = min(N, D)
    k = min(2, s.numel())
    scores = u[:, :k] * s[:k]  # (N, k): the principal components' scores
    flip = torch.sign(scores.gather(0, scores.abs().argmax(dim=0, keepdim=True)))
    scores = scores * torch.where(flip == 0, torch.ones_like(flip), flip)
    points = torch.zeros(x.shape[0], 2, dtype=torch.float64)
    points[:, :k] = scores
    total = float((s**2).sum())
    share = float((s[:k] ** 2).sum()) / total if total > 0 else 0.0
    return points, share


def procrustes_rotation(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The orthogonal matrix R (2, 2) — a rotation, or a rotation with a reflection — for which
    points @ R lies closest to reference in the least-squares sense: the orthogonal Procrustes
    problem, solved by R = U Vᵀ for the SVD U Σ Vᵀ of pointsᵀ reference (Schönemann, "A generalized
    solution of the orthogonal Procrustes problem", Psychometrika 31, 1966). No scaling and no
    shift: distances between points stay what the projection made them.

    points, reference: (N, 2), row i of each the same character. Raises ValueError when their
    shapes differ or are not (N, 2)."""
    points, reference = np.asarray(points, np.float64), np.asarray(reference, np.float64)
    if points.shape != reference.shape or points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"cannot align points {points.shape} to reference {reference.shape}")
    u, _, vt = np.linalg.svd(points.T @ reference)
    return u @ vt


def aligned(points: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    """points (N, 2) turned by procrustes_rotation to best match reference (N, 2); unchanged when
    reference is None."""
    if reference is None:
        return np.asarray(points, np.float64)
    return np.asarray(points, np.float64) @ procrustes_rotation(points, reference)


def position_cosine(weight: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every pair of rows of a position embedding table weight (T, C):
    (T, T) float32, 1 on the diagonal; a row of zeros has similarity 0 with every row."""
    unit = torch.nn.functional.normalize(weight.detach().to("cpu", torch.float64), dim=1)
    return (unit @ unit.T).clamp(-1.0, 1.0).to(torch.float32)


def silhouette(points: np.ndarray, labels: np.ndarray) -> float:
    """The mean silhouette width of a clustering (Rousseeuw, "Silhouettes: a graphical aid to the
    interpretation and validation of cluster analysis", J. Comput. Appl. Math. 20, 1987).

    points (N, D), labels (N,) of at least two distinct values. For point i, a(i) is its mean
    Euclidean distance to the other points of its cluster and b(i) the smallest mean distance to
    the points of another cluster; s(i) = (b(i) - a(i)) / max(a(i), b(i)), and 0 for a point alone
    in its cluster or where a(i) = b(i) = 0. Returns the mean of s over all points, in [-1, 1].
    Raises ValueError for fewer than two clusters or mismatched shapes."""
    points = np.asarray(points, np.float64).reshape(len(labels), -1)
    labels = np.asarray(labels)
    clusters = np.unique(labels)
    if clusters.size < 2:
        raise ValueError("a silhouette needs at least two clusters")
    member = (labels[None, :] == clusters[:, None]).astype(np.float64)  # (K, N)
    n, d = points.shape
    sums = np.empty((n, clusters.size))  # each point's summed distance to each cluster
    rows = max(1, _SILHOUETTE_FLOATS // (n * d))  # a few thousand letters fit in bounded memory
    for start in range(0, n, rows):
        block = points[start : start + rows]
        distance = np.linalg.norm(block[:, None, :] - points[None, :, :], axis=-1)  # (rows, N)
        sums[start : start + rows] = distance @ member.T
    sizes = member.sum(axis=1)  # (K,)
    own = member.T.astype(bool)  # (N, K): the cluster of each point
    own_size = sizes[own.argmax(axis=1)]
    a = np.where(own_size > 1, sums[own] / np.maximum(own_size - 1, 1), 0.0)
    b = np.where(own, np.inf, sums / sizes).min(axis=1)
    widest = np.maximum(a, b)
    s = np.where((own_size > 1) & (widest > 0), (b - a) / np.where(widest > 0, widest, 1), 0.0)
    return float(s.mean())


def vowel_consonant_silhouette(points: np.ndarray, classes: tuple[str, ...]) -> float | None:
    """silhouette() of the vowel and the consonant points (N, D) alone (classes[i]: point i's
    class name); None unless there is at least one of each."""
    keep = np.array([c in ("vowel", "consonant") for c in classes], dtype=bool)
    labels = np.array([c for c in classes if c in ("vowel", "consonant")])
    if np.unique(labels).size < 2:
        return None
    return silhouette(np.asarray(points)[keep], labels)


def embedding_map(snapshot: Snapshot, previous: EmbeddingMap | None = None) -> EmbeddingMap:
    """The EmbeddingMap of a snapshot's weights, turned to match `previous` (the frame shown
    before) when that frame has the same characters.

    Raises ValueError when the state dict has no token embedding, or it holds NaN or infinite
    values."""
    table = snapshot.state.get(TOKEN_EMBEDDING)
    if table is None:
        raise ValueError(f"the weights have no {TOKEN_EMBEDDING}")
    chars = tuple(snapshot.tokenizer.chars)
    points, share = pca_2d(table)
    reference = previous.points if previous is not None and previous.chars == chars else None
    points = aligned(points.numpy(), reference)
    classes = tuple(char_class(ch) for ch in chars)
    wpe = snapshot.state.get(POSITION_EMBEDDING)
    if wpe is None:
        positions = np.zeros(0, np.int64)
        cosine = np.zeros((0, 0), np.float32)
    else:
        spaced = np.linspace(0, wpe.shape[0] - 1, min(wpe.shape[0], MAX_POSITIONS))
        positions = np.unique(spaced.round().astype(np.int64))
        cosine = position_cosine(wpe[torch.from_numpy(positions)]).numpy()
    return EmbeddingMap(
        step=snapshot.step,
        chars=chars,
        classes=classes,
        points=points,
        variance_share=share,
        positions=positions,
        position_cosine=cosine,
        silhouette=vowel_consonant_silhouette(points, classes),
    )
