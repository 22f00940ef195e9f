"""Which evaluation the Lens tab's dashed val-loss line shows: the one of the weights on show.

The loss by depth is measured on the model the views show (the timeline's viewed step); the val
loss beside it must be that step's too, not the run's latest. No Qt, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def evaluation_near(evaluations: Mapping[int, float], step: int | None) -> tuple[int, float] | None:
    """(step, val loss) from evaluations {training step: val loss, nats/char}: the newest for
    step None (the views follow the newest weights); for a viewed step, the evaluation at that
    step, else the nearest one no farther than half the run's usual interval between
    evaluations (the median); None when the run has none that near (or none at all)."""
    if not evaluations:
        return None
    steps = np.array(sorted(evaluations))
    if step is None:
        return int(steps[-1]), evaluations[int(steps[-1])]
    nearest = int(steps[np.argmin(np.abs(steps - step))])
    reach = float(np.median(np.diff(steps))) / 2 if len(steps) > 1 else 0.0
    if abs(nearest - step) > reach:
        return None
    return nearest, evaluations[nearest]
