"""A run's history for viewing: its weight snapshots (core.snapshot_store) loaded as
core.control.Snapshot objects, a few kept in memory, and every head's label at every snapshot.

The window's timeline inspects the prompt on `SnapshotCache.get(step)` instead of the live
weights; `labels_over_time` is what "Export head labels over time…" and
`headwatch heads RUN --over-time` write, so that one can read when a head became "1 back".
"""

from __future__ import annotations

import csv
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

import torch

from headwatch.core.analyses import DEFAULT_WINDOWS, run_windows
from headwatch.core.char_classes import class_ids
from headwatch.core.control import Snapshot
from headwatch.core.head_profiles import head_profiles, label_heads
from headwatch.core.runs import load_run
from headwatch.core.snapshot_store import list_snapshots, load_snapshot, nearest

# loaded snapshots kept: a slider dragged back and forth reads each file once (16 at the baby
# preset, 3.2 MB each)...
CACHE_SNAPSHOTS = 16
# ...and never more than this many bytes of them (fp32 weights), one at least (the lecture
# preset's are 43 MB each)
CACHE_BYTES = 64 * 2**20
# Snapshots loaded from disk get negative versions, so an Inspector (which reloads weights when
# the version changes) never mistakes one for a live SnapshotBox snapshot (versions from 1 up).
_disk_versions = itertools.count(-1, -1)


class SnapshotCache:
    """One run's snapshots as Snapshot objects, the CACHE_SNAPSHOTS most recently used kept.

    Thread-safe, so the window's viewing threads share one (shared_cache) and read each file
    once. Raises RunError (from the constructor) when run is not a readable run folder."""

    def __init__(self, run: str | os.PathLike, size: int = CACHE_SNAPSHOTS) -> None:
        record = load_run(run, with_checkpoint=False)
        self.run = record.path
        self.config, self.tokenizer = record.model_config, record.tokenizer
        self.size = size
        self._loaded: OrderedDict[int, Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, step: int) -> Snapshot:
        """The snapshot of `step`, or the nearest one kept (one thinned away since it was listed
        is replaced by its neighbour). Raises RunError when the run has no snapshot or the file
        is damaged or does not fit the run."""
        with self._lock:
            return self._get(step)

    def _get(self, step: int) -> Snapshot:
        if step in self._loaded:
            self._loaded.move_to_end(step)
            return self._loaded[step]
        info = nearest(list_snapshots(self.run), step)
        if info.step in self._loaded:
            self._loaded.move_to_end(info.step)
            return self._loaded[info.step]
        state = load_snapshot(info)["model"]
        snapshot = Snapshot(next(_disk_versions), info.step, self.config, self.tokenizer, state)
        self._loaded[info.step] = snapshot
        per_snapshot = sum(t.numel() * t.element_size() for t in state.values())
        keep = max(1, min(self.size, CACHE_BYTES // max(per_snapshot, 1)))
        while len(self._loaded) > keep:
            self._loaded.popitem(last=False)
        return snapshot

    def cached_steps(self) -> list[int]:
        """The steps held in memory, least recently used first."""
        return list(self._loaded)


# the one cache of the run the window's timeline shows: (folder as asked, its cache)
_shared: tuple[str, SnapshotCache] | None = None
_shared_lock = threading.Lock()


def shared_cache(run: str) -> SnapshotCache:
    """The SnapshotCache of run that every viewing thread uses (the inspection's, the embedding
    map's, the viewed step's head labels), so a snapshot file is read once; asking for another
    run replaces it. Raises RunError as SnapshotCache."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != run:
            _shared = None  # a run that fails to load leaves no stale cache behind
            _shared = (run, SnapshotCache(run))
        return _shared[1]


def drop_shared_cache() -> None:
    """Let the shared cache's snapshots go (the timeline is back on Live)."""
    global _shared
    with _shared_lock:
        _shared = None


@dataclass(frozen=True)
class LabelRow:
    """One head's label at one snapshot (layer and head from 0), as core.head_profiles says."""

    step: int
    layer: int
    head: int
    label: str  # "1 back", "spaces", "broad", "mixed", ...
    kind: str  # core.head_profiles.LabelKind value
    entropy: float  # mean attention entropy, nats

    @property
    def head_name(self) -> str:
        """The name the window and the README use: "L2·H3" (counted from 1)."""
        return f"L{self.layer + 1}·H{self.head + 1}"


CSV_FIELDS = ("step", "layer", "head", "head_name", "label", "kind", "entropy")


@torch.no_grad()
def labels_over_time(
    run: str | os.PathLike,
    windows: int = DEFAULT_WINDOWS,
    progress: Callable[[int, int], None] | None = None,
) -> list[LabelRow]:
    """Every head's label at every snapshot of the run, over the same `windows` validation
    windows of its corpus: rows by step, then layer, then head (n_snapshots × n_layer × n_head).
    progress(done, total) is called after each snapshot.

    Raises RunError for an unreadable run, one with no snapshots, or a damaged snapshot;
    CorpusError when the run's corpus cannot be read; ConfigError for windows out of range."""
    record = load_run(run, with_checkpoint=False)
    snapshots = list_snapshots(record.path)
    nearest(snapshots, 0)  # raises the "no snapshots" RunError
    x, _ = run_windows(record, windows)
    classes = class_ids(record.tokenizer.chars)
    rows: list[LabelRow] = []
    for done, info in enumerate(snapshots, 1):
        model = record.build_snapshot_model(info)
        profiles = head_profiles(model, x, classes)
        for layer, labels in enumerate(label_heads(profiles)):
            for head, label in enumerate(labels):
                entropy = float(profiles.entropy[layer, head])
                rows.append(LabelRow(info.step, layer, head, label.text, label.kind.value, entropy))
        if progress is not None:
            progress(done, len(snapshots))
    return rows


def write_labels_csv(rows: Iterable[LabelRow], out: IO[str]) -> None:
    """rows as CSV with a header (CSV_FIELDS); layer and head counted from 1."""
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    for r in rows:
        writer.writerow(
            (r.step, r.layer + 1, r.head + 1, r.head_name, r.label, r.kind, f"{r.entropy:.4f}")
        )


@dataclass(frozen=True)
class LabelChange:
    """When a head took the label it ends with: the first snapshot from which it kept it."""

    layer: int
    head: int
    label: str
    step: int  # the first snapshot step of the final run of equal labels
    previous: str | None  # the label before that, None when it had it from the first snapshot


def label_changes(rows: Iterable[LabelRow]) -> list[LabelChange]:
    """For each head (by layer, head), the label it ends with and the step it became that."""
    by_head: dict[tuple[int, int], list[LabelRow]] = {}
    for r in sorted(rows, key=lambda r: (r.layer, r.head, r.step)):
        by_head.setdefault((r.layer, r.head), []).append(r)
    changes = []
    for (layer, head), series in by_head.items():
        final = series[-1].label
        i = len(series) - 1
        while i > 0 and series[i - 1].label == final:
            i -= 1
        previous = series[i - 1].label if i > 0 else None
        changes.append(LabelChange(layer, head, final, series[i].step, previous))
    return changes
