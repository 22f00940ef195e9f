"""Thread-safe hand-offs between the training thread and whoever watches it.

TrainControl carries pause / resume / stop requests in; SnapshotBox carries finished weight
snapshots out. Both are plain threading primitives, so the GUI and the CLI use the same ones.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headwatch.core.config import GPTConfig
from headwatch.core.corpus import Tokenizer

if TYPE_CHECKING:
    import torch


class TrainControl:
    """Requests from another thread; the trainer honours them between steps."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._abort = threading.Event()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused trainer so it can see the stop

    def abort(self) -> None:
        """Stop without saving anything more (a second Ctrl+C): the checkpoint already on disk
        is what is kept."""
        self._abort.set()
        self.stop()

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_while_paused(self) -> None:
        """Block the calling (training) thread until resumed or stopped."""
        self._running.wait()


@dataclass(frozen=True)
class Snapshot:
    """Weights between two optimizer steps: a private CPU copy, safe to read from any thread."""

    version: int
    step: int
    config: GPTConfig
    tokenizer: Tokenizer
    state: dict[str, torch.Tensor]


class SnapshotBox:
    """Holds the latest snapshot; publishing replaces it whole, so readers never see a mix."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: Snapshot | None = None
        self._version = 0

    def publish(
        self, step: int, config: GPTConfig, tokenizer: Tokenizer, state: dict[str, torch.Tensor]
    ) -> Snapshot:
        with self._lock:
            self._version += 1
            self._latest = Snapshot(self._version, step, config, tokenizer, state)
            return self._latest

    def latest(self) -> Snapshot | None:
        with self._lock:
            return self._latest

    def clear(self) -> None:
        with self._lock:
            self._latest = None
