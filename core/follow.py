"""Follow a run folder that another process is writing: on this machine, on a mounted share
(NFS, SMB, sshfs) or a folder synced from a GPU box.

Network filesystems deliver no change notifications, so `RunFollower.poll()` is called about once
a second and looks cheaply: one stat per file (size and mtime) and one listing of snapshots/;
metrics.jsonl is read only from where the last poll stopped, whole lines only. A follower never
writes into the run and never takes its lock (core.lock.lock_state only reads it).
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from headwatch.core.lock import lock_state
from headwatch.core.runs import CHECKPOINT, CONFIG, METRICS, MetricRow, file_stamp
from headwatch.core.snapshot_store import SnapshotInfo, list_snapshots, snapshot_dir
from headwatch.core.storage import RunError

DEFAULT_STALE_AFTER_S = 120.0  # "no update for 2 min"


@dataclass
class FollowUpdate:
    """What one poll found.

    state: "following" (a live writer holds the lock), "ended" (the lock is released and a
    checkpoint is there), "dead" (the lock's owner on this machine is no longer running: killed
    or crashed), "stale" (a lock held, but nothing changed for stale_after_s; a writer on another
    host cannot be checked from here), "waiting" (no lock and no checkpoint yet).
    """

    state: str
    rows: list[MetricRow] = field(default_factory=list)  # metric lines new since the last poll
    reset: bool = False  # metrics.jsonl was rewritten (a resume): rows are all of it, not new ones
    snapshot: SnapshotInfo | None = None  # the newest snapshot, when it is new since last poll
    checkpoint_changed: bool = False
    step: int | None = None  # the latest step seen in metrics
    idle_s: float = 0.0  # seconds since the run last changed
    owner: dict | None = None  # the lock's {"pid", "host", "time"}, when there is one

    @property
    def changed(self) -> bool:
        return bool(self.rows or self.reset or self.snapshot or self.checkpoint_changed)


GIVE_INSTEAD = "give the run folder that `headwatch train --out` writes"


def check_followable(path: Path) -> None:
    """Raises RunError, saying what path is and what to give instead, unless it is a folder
    that holds a readable config.json (a run, maybe one whose first step is still to come)."""
    try:
        is_dir = stat.S_ISDIR(path.stat().st_mode)
    except FileNotFoundError:
        raise RunError(f"{path}: no such folder — {GIVE_INSTEAD}") from None
    except OSError as exc:  # a folder on the way that this user may not enter
        raise RunError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not is_dir:
        if (path.parent / CONFIG).is_file():  # a file of a run: config.json, metrics.jsonl, …
            raise RunError(f"{path}: is a file — give the run folder that holds it, {path.parent}")
        raise RunError(f"{path}: is a file, not a run folder — {GIVE_INSTEAD}")
    try:
        with (path / CONFIG).open("rb"):
            pass
    except FileNotFoundError:
        raise RunError(f"{path}: not a HeadWatch run (no {CONFIG}) — {GIVE_INSTEAD}") from None
    except PermissionError:
        raise RunError(
            f"{path}: cannot be read (permission denied) — check its permissions"
        ) from None
    except OSError as exc:  # config.json is a folder, or the share failed
        raise RunError(f"{path / CONFIG}: cannot be read ({exc.strerror or exc})") from None


class RunFollower:
    """Polls one run folder (see the module docstring). Raises RunError when the folder is not
    a run (see check_followable). clock: monotonic seconds (a test may pass its own)."""

    def __init__(
        self,
        run: str | os.PathLike,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(run).expanduser()
        check_followable(self.path)
        self.stale_after_s = stale_after_s
        self.clock = clock
        self._offset = 0  # bytes of metrics.jsonl already read (whole lines)
        self._metrics_stamp: tuple[int, int] | None = None
        self._checkpoint_stamp: tuple[int, int] | None = None
        self._snapshots_stamp: int | None = None
        self._newest_step: int | None = None  # of the newest snapshot reported
        self._last_change = clock()
        self.step: int | None = None

    def poll(self) -> FollowUpdate:
        update = FollowUpdate("following")
        # the lock first: once it is free the writer's last files are on disk, so the reads
        # below see them all (read after, a run that ends between could lose its last snapshot)
        lock, update.owner = lock_state(self.path)
        self._read_metrics(update)
        stamp = file_stamp(self.path / CHECKPOINT)
        if stamp != self._checkpoint_stamp:
            update.checkpoint_changed = stamp is not None
            self._checkpoint_stamp = stamp
        self._look_for_snapshot(update, listing_due=bool(update.rows))
        now = self.clock()
        if update.changed:
            self._last_change = now
        update.idle_s = now - self._last_change
        update.step = self.step
        if lock == "free":
            update.state = "ended" if self._checkpoint_stamp is not None else "waiting"
        elif lock == "dead":
            update.state = "dead"
        elif update.idle_s >= self.stale_after_s:
            update.state = "stale"
        return update

    def updates(
        self, interval_s: float = 1.0, stop: Callable[[], bool] = lambda: False
    ) -> Iterator[FollowUpdate]:
        """poll() every interval_s seconds until stop() says so; yields every update."""
        while not stop():
            yield self.poll()
            time.sleep(interval_s)

    def _read_metrics(self, update: FollowUpdate) -> None:
        path = self.path / METRICS
        stamp = file_stamp(path)
        if stamp == self._metrics_stamp:
            return  # the cheap case: nothing written since the last poll
        self._metrics_stamp = stamp
        if stamp is None:
            return
        size = stamp[1]
        if size < self._offset:  # rewritten shorter: a resume dropped a crash's leftovers
            self._offset, update.reset = 0, True
            self._newest_step = None  # its snapshots start again from the resumed step
        try:
            with path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read(size - self._offset)
        except OSError:
            return  # replaced while we looked: the next poll reads it
        whole = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        self._offset += len(whole)
        for line in whole.decode("utf-8", errors="replace").splitlines():
            try:
                update.rows.append(MetricRow.from_json(line))
            except (ValueError, KeyError, TypeError):
                continue
        if update.rows:
            self.step = update.rows[-1].step

    def _look_for_snapshot(self, update: FollowUpdate, listing_due: bool) -> None:
        """listing_due: list snapshots/ even if its mtime is unchanged (a filesystem whose
        mtimes are whole seconds shows no change for a second file within the same second)."""
        try:
            stamp = os.stat(snapshot_dir(self.path)).st_mtime_ns
        except OSError:
            return
        if stamp == self._snapshots_stamp and not listing_due:
            return  # no file added, renamed or removed in snapshots/
        self._snapshots_stamp = stamp
        snapshots = list_snapshots(self.path)
        newest = snapshots[-1] if snapshots else None
        # By step, and only a later one: a snapshot upgraded to a more lasting kind (step-N.timed.pt
        # rewritten as step-N.eval.pt) holds the same weights, and a listing taken while the store
        # replaces its timed snapshot can miss the newest file and show an older one as newest.
        if newest is not None and (self._newest_step is None or newest.step > self._newest_step):
            self._newest_step = newest.step
            update.snapshot = newest
