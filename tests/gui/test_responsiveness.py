"""The window never waits for a training step: Retrain, Stop, Train and closing return to the
event loop at once while a (deliberately slow) step is in flight."""

from __future__ import annotations

import time

import pytest
from headwatch.core.runs import load_run
from headwatch.core.trainer import Trainer
from PySide6.QtCore import QTimer

STEP_SECONDS = 3.0  # a lecture-preset step on a 2-core CPU takes several seconds
MAX_GAP_MS = 100


class SlowTrainer(Trainer):
    """A trainer whose every step takes STEP_SECONDS (in the training thread)."""

    def train_step(self) -> float:
        time.sleep(STEP_SECONDS)
        return super().train_step()


class GapMeter:
    """A 10 ms timer on the GUI thread; the largest gap between its ticks is how long the event
    loop was blocked."""

    def __init__(self) -> None:
        self.largest_ms = 0.0
        self._last = time.perf_counter()
        self._timer = QTimer(interval=10)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.largest_ms = max(self.largest_ms, (now - self._last) * 1000)
        self._last = now

    def stop(self) -> None:
        self._timer.stop()


@pytest.fixture
def slow_window(window_with):
    return window_with(SlowTrainer)


def test_retrain_stop_and_close_never_stall_the_event_loop(qtbot, slow_window):
    window = slow_window
    controller = window.controller
    started = time.monotonic()
    window.train()
    qtbot.waitUntil(lambda: controller.current is not None and controller.current.step >= 1,
                    timeout=30_000)  # fmt: skip
    first = controller.current.run_id
    meter = GapMeter()

    # Retrain mid-step: returns at once, says "stopping…", starts the new run once the old ended
    window.setup.heads_combo.setCurrentIndex(window.setup.heads_combo.findText("2"))
    window.retrain()
    assert controller.state == "stopping"
    assert window.setup.progress_label.text().endswith("stopping…")
    qtbot.waitUntil(lambda: controller.current.run_id != first and bool(controller.current.folder),
                    timeout=30_000)  # fmt: skip
    assert controller.state == "training"
    assert load_run(controller.runs.get(first).folder).step >= 1  # the old run was saved

    # Stop mid-step: the same
    window.controller.stop()
    assert controller.state == "stopping"
    qtbot.waitUntil(lambda: controller.state == "idle", timeout=30_000)

    # Train on, then close mid-step: the window goes at once, the threads end after the step
    window.train()
    qtbot.waitUntil(lambda: controller.state == "training", timeout=10_000)
    with qtbot.waitSignal(controller.allThreadsEnded, timeout=30_000):
        window.close()
        assert not window.isVisible()
    meter.stop()
    assert controller.threads_ended()
    assert meter.largest_ms < MAX_GAP_MS, f"the event loop stalled {meter.largest_ms:.0f} ms"
    assert time.monotonic() - started < 25
