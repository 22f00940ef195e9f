"""Label placement for a scatter of glyphs: labels that would overlap are pushed apart, on screen,
while the points they name stay where they are.

Pure numpy, in pixels: the caller maps its points to the screen, places the labels, and draws
a leader line from each point to its label where the label had to move.
"""

from __future__ import annotations

import numpy as np

MAX_ROUNDS = 80  # each round pushes every overlapping pair apart by its overlap
# labels whose centres are closer than this share of a label's size overlap
CLEARANCE = 0.9


def spread_labels(points_px: np.ndarray, label_px: float) -> np.ndarray:
    """Label centres (N, 2), px, near points_px (N, 2), px, with no two closer than
    CLEARANCE × label_px where that can be reached in MAX_ROUNDS rounds (a dense cluster moves
    outwards as a whole; labels that do not overlap stay on their points). Deterministic: two
    labels on the very same point part along a direction set by their indices. Raises
    ValueError for points that are not (N, 2) or a label_px that is not positive."""
    points = np.asarray(points_px, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points_px must be (N, 2), got {points.shape}")
    if not label_px > 0:
        raise ValueError(f"label_px must be positive, got {label_px}")
    labels = points.copy()
    n = len(points)
    if n < 2:
        return labels
    gap = CLEARANCE * label_px
    # a fixed direction per pair for labels on the same spot: the golden angle spreads them
    angles = np.arange(n) * 2.399963
    tie = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    finite = np.isfinite(labels).all(axis=1)
    for _ in range(MAX_ROUNDS):
        delta = labels[:, None, :] - labels[None, :, :]  # (N, N, 2): from j to i
        dist = np.linalg.norm(delta, axis=-1)
        overlap = (dist < gap) & ~np.eye(n, dtype=bool) & finite[:, None] & finite[None, :]
        if not overlap.any():
            break
        same = overlap & (dist < 1e-9)
        direction = np.where(
            same[..., None],
            tie[:, None, :] - tie[None, :, :],
            delta / np.maximum(dist, 1e-9)[..., None],
        )
        direction /= np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-9)
        # each label of a pair moves half the overlap, so the pair ends just apart
        push = np.where(overlap, (gap - dist) / 2, 0.0)[..., None] * direction
        labels += push.sum(axis=1)
    return labels
