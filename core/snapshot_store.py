"""A run's weights over time: weights-only snapshots in RUN/snapshots/, for a follower to show
the weights between evaluations and for the timeline (issue #16) to rewind to any moment.

Which steps are kept (`SnapshotStore.wants`):
- "log": log-spaced steps 0, 10, 20, 50, 100, 200, 500, 1000, ... (1-2-5 per decade),
- "eval": every evaluation,
- "timed": the newest of those written every `every_s` seconds (each replaces the previous one).

Snapshots are stored in bfloat16: half the bytes of fp32, and, unlike fp16, fp32's exponent
range, so no weight overflows or flushes to zero; its ~3 significant digits change no attention
pattern or prediction a person can see. Each file is written atomically (core.storage), so a
reader never sees half a file and a killed run leaves only whole ones. Past the byte budget the
store thins: timed snapshots first, then evaluations, then log-spaced steps, each time the one
whose removal leaves the smallest gap (the older one on a tie), the first and the newest last;
the disk never holds more than the budget. Readers use `list_snapshots` and `load_snapshot`;
neither writes nor locks.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from headwatch.core.config import ConfigError
from headwatch.core.storage import RunError, RunWriteError, atomic_write

SNAPSHOTS = "snapshots"
FORMAT = "headwatch-snapshot"
FORMAT_VERSION = 1
VIEW_DTYPE = torch.bfloat16
DEFAULT_EVERY_S = 10.0
DEFAULT_BUDGET_MB = 400  # 18 snapshots of the lecture preset (10.8 M parameters, 21.6 MB each)
KINDS = ("timed", "eval", "log")  # the order in which the budget thins them
_NAME = re.compile(r"^step-(\d{9})\.(timed|eval|log)\.pt$")


def log_spaced(step: int) -> bool:
    """Whether step is 0 or 1, 2 or 5 times a power of ten from 10 up (0, 10, 20, 50, 100, ...)."""
    if step == 0:
        return True
    if step < 10:
        return False
    digits = str(step)
    return digits[0] in "125" and set(digits[1:]) == {"0"}


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot file: the step its weights are of, why it was kept, its path and bytes."""

    step: int
    kind: str  # "log", "eval" or "timed"
    path: Path
    size: int


def snapshot_dir(run: str | os.PathLike) -> Path:
    return Path(run) / SNAPSHOTS


def list_snapshots(run: str | os.PathLike) -> list[SnapshotInfo]:
    """The run's snapshots by step (none: []). Temp files of a write in flight are not listed."""
    found = []
    try:
        entries = list(os.scandir(snapshot_dir(run)))
    except OSError:
        return []
    for entry in entries:
        match = _NAME.match(entry.name)
        if match is None:
            continue
        with contextlib.suppress(OSError):  # thinned away while we looked
            found.append(
                SnapshotInfo(int(match[1]), match[2], Path(entry.path), entry.stat().st_size)
            )
    return sorted(found, key=lambda s: s.step)


def nearest(snapshots: list[SnapshotInfo], step: int) -> SnapshotInfo:
    """The snapshot closest to step (the earlier one on a tie). Raises RunError when empty."""
    if not snapshots:
        raise RunError("this run has no weight snapshots (it was trained without them)")
    return min(snapshots, key=lambda s: (abs(s.step - step), s.step))


def load_snapshot(info: SnapshotInfo | str | os.PathLike) -> dict:
    """{"step", "elapsed", "model"} with the weights as fp32 CPU tensors. Raises RunError for a
    damaged or foreign file (never writes anything)."""
    path = info.path if isinstance(info, SnapshotInfo) else Path(info)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated / foreign files
        raise RunError(f"{path}: is damaged or not a HeadWatch snapshot ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise RunError(f"{path}: is not a HeadWatch snapshot")
    try:
        model = {k: v.float() for k, v in payload["model"].items()}
        return {"step": int(payload["step"]), "elapsed": float(payload["elapsed"]), "model": model}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunError(f"{path}: is incomplete ({exc})") from exc


def drop_snapshots_after(run: str | os.PathLike, step: int) -> None:
    """Remove snapshots past step and temp files: a killed run's leftovers, when it is continued
    from the checkpoint of step (its weights after that step are not this run's any more)."""
    for info in list_snapshots(run):
        if info.step > step:
            with contextlib.suppress(OSError):
                info.path.unlink()
    for stale in snapshot_dir(run).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def encode_snapshot(step: int, elapsed: float, state: dict[str, torch.Tensor]) -> bytes:
    """A snapshot file's bytes: state's floating tensors in VIEW_DTYPE."""
    model = {
        k: (v.detach().to("cpu", VIEW_DTYPE) if v.is_floating_point() else v.detach().cpu())
        for k, v in state.items()
    }
    buffer = io.BytesIO()
    torch.save(
        {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "step": step,
            "elapsed": elapsed,
            "dtype": str(VIEW_DTYPE),
            "model": model,
        },
        buffer,
    )
    return buffer.getvalue()


class SnapshotStore:
    """Writes one run's snapshots and keeps them within budget_bytes (see the module docstring).

    every_s: seconds between timed snapshots (0: none); budget_mb: the most its files take
    (MiB). Raises ConfigError for a negative interval or a budget under 1 MB; RunWriteError
    (from write) when the disk refuses a file.
    """

    def __init__(
        self,
        run: str | os.PathLike,
        every_s: float = DEFAULT_EVERY_S,
        budget_mb: float = DEFAULT_BUDGET_MB,
    ) -> None:
        if not every_s >= 0:
            raise ConfigError(f"--snapshot-every must be 0 (off) or more seconds, got {every_s}")
        if not (1 <= budget_mb < math.inf):
            raise ConfigError(
                f"--snapshot-budget-mb must be a number of at least 1, got {budget_mb}"
            )
        self.folder = snapshot_dir(run)
        self.every_s = every_s
        self.budget_bytes = int(budget_mb * 2**20)
        self._last_timed = time.monotonic()
        self.notes: list[str] = []

    def check_room(self, model: torch.nn.Module) -> None:
        """Raise ConfigError when one snapshot of model would not fit in the budget."""
        size = 2 * sum(p.numel() for p in model.parameters())  # VIEW_DTYPE: 2 bytes a weight
        if size > self.budget_bytes:
            raise ConfigError(
                f"one weights snapshot of this model takes {size / 2**20:.1f} MB, more than "
                f"--snapshot-budget-mb {self.budget_bytes / 2**20:g}; raise the budget"
            )

    def wants(self, step: int, is_eval: bool) -> str | None:
        """The kind of snapshot due at this step, or None."""
        if log_spaced(step):
            return "log"
        if is_eval:
            return "eval"
        if self.every_s and time.monotonic() - self._last_timed >= self.every_s:
            return "timed"
        return None

    def write(self, step: int, elapsed: float, state: dict[str, torch.Tensor], kind: str) -> None:
        """Store the weights of step as kind, thinning older snapshots first to stay in budget.
        A step already stored is upgraded to the more lasting kind, never written twice."""
        self._last_timed = time.monotonic()
        existing = {s.step: s for s in list_snapshots(self.folder.parent)}
        old = existing.get(step)
        if old is not None and KINDS.index(old.kind) >= KINDS.index(kind):
            return
        data = encode_snapshot(step, elapsed, state)
        replaced = [s for s in existing.values() if s.kind == "timed" or s.step == step]
        kept = [s for s in existing.values() if s not in replaced]
        # what stays on disk while the new file is written must leave room for it
        for info in self._thin(kept, self.budget_bytes - len(data) - _size(replaced)):
            with contextlib.suppress(OSError):
                info.path.unlink()
        target = self.folder / f"step-{step:09d}.{kind}.pt"
        try:
            atomic_write(target, lambda fh: fh.write(data))
        except OSError as exc:
            raise RunWriteError(target, exc, step) from exc
        for info in replaced:
            if info.path != target:
                with contextlib.suppress(OSError):
                    info.path.unlink()

    @staticmethod
    def _thin(kept: list[SnapshotInfo], room: int) -> list[SnapshotInfo]:
        """The snapshots to remove so that the rest fit in room bytes."""
        kept = sorted(kept, key=lambda s: s.step)
        removed = []
        while kept and _size(kept) > room:
            victim = min(
                range(len(kept)),
                key=lambda i: (KINDS.index(kept[i].kind), _gap(kept, i), kept[i].step),
            )
            removed.append(kept.pop(victim))
        return removed


def _size(snapshots: list[SnapshotInfo]) -> int:
    return sum(s.size for s in snapshots)


def _gap(snapshots: list[SnapshotInfo], i: int) -> float:
    """Steps between i's neighbours: the hole its removal would leave. The first and the newest
    snapshot are the timeline's ends (the initial weights, the latest): removed last."""
    if i == 0 or i == len(snapshots) - 1:
        return math.inf
    return snapshots[i + 1].step - snapshots[i - 1].step
