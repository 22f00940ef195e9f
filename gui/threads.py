"""Owning QThreads: start a worker in its own thread, end it without blocking the caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from PySide6.QtCore import QObject, QThread, Signal, Slot


class WorkerThread(QObject):
    """One QThread running one QObject worker; create it in the GUI thread.

    `quit()` asks the thread to end and returns at once; `ended` is emitted (in the GUI thread)
    once it has. A started thread keeps itself referenced until then, so neither garbage
    collection nor the deletion of whoever started it can destroy a running QThread.
    """

    ended = Signal()
    _running: ClassVar[set[WorkerThread]] = set()

    def __init__(self, worker: QObject, name: str) -> None:
        super().__init__()
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName(name)
        worker.moveToThread(self.thread)
        self.thread.finished.connect(self._on_finished)  # queued: this object is ours

    def start(self, entry: Callable[[], None] | None = None) -> None:
        if entry is not None:
            self.thread.started.connect(entry)
        WorkerThread._running.add(self)
        self.thread.start()

    @classmethod
    def running_names(cls) -> list[str]:
        """The names of the threads started and not yet ended, in no order."""
        return [each.thread.objectName() for each in cls._running]

    def quit(self) -> None:
        """Ask the thread's event loop to end after the job in hand; never waits."""
        self.thread.quit()

    @Slot()
    def _on_finished(self) -> None:
        # the thread emitted finished as its last act: this join returns at once
        self.thread.wait()
        WorkerThread._running.discard(self)
        self.ended.emit()
