"""Label placement for a scatter of glyphs: labels that would overlap are moved to free spots
nearby, on screen, while the points they name stay where they are.

Pure numpy, in pixels: the caller maps its points to the screen, places the labels, and draws
a dot at each point whose label moved and a leader line from the dot to its label.
"""

from __future__ import annotations

import numpy as np

# labels whose centres are closer than this share of a label's size overlap
CLEARANCE = 0.9
# a moved label keeps this share of a label's size off every point that has a dot
DOT_CLEARANCE = 0.6
# the spots tried around a point: rings RING_STEP × the clearance apart, out to RINGS rings
RING_STEP = 0.5
RINGS = 24


def _rings(gap: float) -> list[np.ndarray]:
    """Offsets, px, ring by ring: [(1, 2) zero offset, then RINGS rings (C, 2) of radius gap,
    (1 + RING_STEP) gap, ... with spots about half a gap apart along each]."""
    rings = [np.zeros((1, 2))]
    for k in range(RINGS):
        radius = gap * (1 + RING_STEP * k)
        count = max(8, int(np.ceil(2 * np.pi * radius / (0.5 * gap))))
        angles = np.arange(count) * (2 * np.pi / count)
        rings.append(radius * np.column_stack([np.cos(angles), np.sin(angles)]))
    return rings


def _room(spots: np.ndarray, taken: np.ndarray, dots: np.ndarray, gap: float, dot_gap: float):
    """(C,) how free each spot is: its distance to the nearest label taken over gap, or to the
    nearest dot over dot_gap, whichever is less; 1 or more is free."""
    room = np.full(len(spots), np.inf)
    for others, clearance in ((taken, gap), (dots, dot_gap)):
        if len(others):
            near = np.linalg.norm(spots[:, None] - others[None], axis=-1).min(axis=1)
            room = np.minimum(room, near / clearance)
    return room


def spread_labels(points_px: np.ndarray, label_px: float) -> np.ndarray:
    """Label centres (N, 2), px, for points_px (N, 2), px: a label that overlaps no other stays on
    its point; the crowded ones (a centre closer than CLEARANCE × label_px to another point) are
    placed one by one, the most crowded first, each on the nearest spot of rings around its point
    that keeps CLEARANCE × label_px from every label placed and DOT_CLEARANCE × label_px from
    every other crowded point (where its dot is drawn), facing away from the crowd. With no free
    spot within RINGS rings, the spot farthest from the others is used. Deterministic; points
    that are not finite keep their labels. Raises ValueError for points that are not (N, 2) or
    a label_px that is not positive."""
    points = np.asarray(points_px, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points_px must be (N, 2), got {points.shape}")
    if not label_px > 0:
        raise ValueError(f"label_px must be positive, got {label_px}")
    labels = points.copy()
    n = len(points)
    if n < 2:
        return labels
    gap, dot_gap = CLEARANCE * label_px, DOT_CLEARANCE * label_px
    finite = np.isfinite(points).all(axis=1)
    dist = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    near = (dist < gap) & ~np.eye(n, dtype=bool) & finite[:, None] & finite[None, :]
    crowded = near.any(axis=1)
    if not crowded.any():
        return labels
    taken = points[finite & ~crowded]
    rings = _rings(gap)
    crowd = (dist < 3 * gap) & finite[None, :]
    # the most crowded first: they take the spots nearest their points, the others go around
    for i in sorted(np.flatnonzero(crowded), key=lambda i: (-crowd[i].sum(), i)):
        dots = points[crowded & finite & (np.arange(n) != i)]
        away = points[i] - points[crowd[i]].mean(axis=0)
        away = away / norm if (norm := np.linalg.norm(away)) > 1e-9 else np.array([0.0, -1.0])
        best, best_room = points[i], -np.inf
        for offsets in rings:
            spots = points[i] + offsets
            room = _room(spots, taken, dots, gap, dot_gap)
            free = np.flatnonzero(room >= 1.0)
            if len(free):  # on the nearest ring with room, the spot facing away from the crowd
                best = spots[free[np.argmax(offsets[free] @ away)]]
                break
            if room.max() > best_room:
                best, best_room = spots[np.argmax(room)], room.max()
        labels[i] = best
        taken = np.vstack([taken, best[None]])
    return labels
