"""Owning QThreads: start a worker in its own thread, and stop + join it for sure at the end."""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread


class WorkerThread:
    """One QThread running one QObject worker. `stop()` quits and joins the thread."""

    def __init__(self, worker: QObject, name: str) -> None:
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName(name)
        worker.moveToThread(self.thread)
        # Qt deletes the worker as its thread ends (deferred deletes run at thread exit)
        self.thread.finished.connect(worker.deleteLater)

    def start(self, entry=None) -> None:
        if entry is not None:
            self.thread.started.connect(entry)
        self.thread.start()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def stop(self, timeout_ms: int = 300_000) -> bool:
        """Ask the thread's event loop to end and wait for it; True once it has ended."""
        self.thread.quit()
        return self.thread.wait(timeout_ms)
