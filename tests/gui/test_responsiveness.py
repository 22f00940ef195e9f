"""The window never waits for a training step: Retrain, Stop, Train and closing return to the
event loop at once while a (deliberately slow) step is in flight; nor for a run folder being read:
Open run returns at once while a (deliberately slow) reader reads it."""

from __future__ import annotations

import gc
import threading
import time
import types
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from headwatch.core.performance import freeze_torch_optimizer_imports
from headwatch.core.runs import load_run
from headwatch.core.trainer import Trainer
from headwatch.gui.run_opener import read_saved_run
from tests.gui.conftest import stop_training

STEP_SECONDS = 3.0  # a lecture-preset step on a 2-core CPU takes several seconds
READ_SECONDS = 1.5  # reading a lecture-preset run (its ~130 MB checkpoint) on a busy machine
MAX_GAP_MS = 100


class SlowTrainer(Trainer):
    """A trainer whose every step takes STEP_SECONDS (in the training thread)."""

    def train_step(self) -> float:
        time.sleep(STEP_SECONDS)
        return super().train_step()


def run_delay_s() -> float:
    """Seconds the calling thread has waited for a free core so far (Linux's schedstat); 0
    where the system does not say."""
    try:
        stat = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat").read_text()
        return int(stat.split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class GapMeter:
    """A 10 ms timer on the GUI thread; the largest gap between its ticks is how long the event
    loop was blocked. The time the GUI thread only waited for a core (other processes on a busy
    machine) is left out: a wait on the training thread or on the GIL still counts in full."""

    def __init__(self) -> None:
        self.largest_ms = 0.0
        self._last = time.perf_counter(), run_delay_s()
        self._timer = QTimer(interval=10)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        now = time.perf_counter(), run_delay_s()
        gap = (now[0] - self._last[0]) - (now[1] - self._last[1])
        self.largest_ms = max(self.largest_ms, gap * 1000)
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


def slow_reader(path: str):
    """read_saved_run, taking READ_SECONDS longer (in the thread that reads)."""
    time.sleep(READ_SECONDS)
    return read_saved_run(path)


def _saved_runs(qtbot, window, n: int) -> list[str]:
    folders = []
    for _ in range(n):
        window.retrain()
        qtbot.waitUntil(lambda: bool(window.controller.current.folder)
                        and window.controller.current.step >= 2, timeout=30_000)  # fmt: skip
        stop_training(qtbot, window)
        folders.append(window.controller.current.folder)
    return folders


def test_open_run_never_stalls_the_event_loop_and_a_newer_open_supersedes(qtbot, window):
    controller = window.controller
    first, second = _saved_runs(qtbot, window, 2)
    controller.run_reader = slow_reader
    opened = []
    controller.runOpened.connect(lambda run: opened.append(run.folder))
    meter = GapMeter()
    started = time.monotonic()
    assert controller.open_run(first)
    assert time.monotonic() - started < READ_SECONDS / 2  # returned before the reader did
    assert window.statusBar().currentMessage() == f"Opening {Path(first).name}…"
    assert controller.open_run(second)  # while the first is being read
    qtbot.waitUntil(lambda: bool(opened), timeout=30_000)
    meter.stop()
    assert opened == [second]
    assert controller.current.folder == second
    assert window.statusBar().currentMessage().startswith(f"Opened {second} at step")
    assert window.last_error == ""  # the first Open's answer was dropped (or never read)
    assert meter.largest_ms < MAX_GAP_MS, f"the event loop stalled {meter.largest_ms:.0f} ms"


def test_open_run_while_training_stops_the_run_once_read(qtbot, window):
    controller = window.controller
    (saved,) = _saved_runs(qtbot, window, 1)
    controller.run_reader = slow_reader
    window.retrain()
    qtbot.waitUntil(lambda: controller.state == "training", timeout=30_000)
    training = controller.current.run_id
    meter = GapMeter()
    with qtbot.waitSignal(controller.runOpened, timeout=30_000):
        assert controller.open_run(saved)
        assert controller.state == "training"  # reading the folder stops nothing yet
    meter.stop()
    assert controller.current.folder == saved and controller.state == "idle"
    assert controller.runs.get(training).state == "idle"  # stopped, and saved
    assert meter.largest_ms < MAX_GAP_MS, f"the event loop stalled {meter.largest_ms:.0f} ms"


def test_a_training_started_while_a_run_is_read_supersedes_the_open(qtbot, window):
    controller = window.controller
    (saved,) = _saved_runs(qtbot, window, 1)
    reading = threading.Event()

    def reader(path: str):
        reading.set()
        return slow_reader(path)

    controller.run_reader = reader
    opened = []
    controller.runOpened.connect(opened.append)
    assert controller.open_run(saved)
    qtbot.waitUntil(reading.is_set, timeout=30_000)  # not dropped while queued: being read
    with qtbot.waitSignal(controller._opener.read, timeout=30_000):  # the Open's late answer
        window.retrain()  # the newer intent
        assert controller.state == "training"
    training = controller.current.run_id
    qtbot.waitUntil(lambda: controller.current.step >= 2, timeout=30_000)
    assert opened == [] and controller.current.run_id == training
    assert controller.state == "training"
    stop_training(qtbot, window)


LAZY_TORCH_MODULES = ("torch._dynamo", "torch.fx", "torch.onnx", "torch.distributed", "sympy")


def test_what_a_trainer_imports_is_never_walked_by_a_full_collection(qtbot, window):
    """torch's optimizers import torch._dynamo (and fx, onnx, sympy: ~120k objects) at their
    first use; unless frozen at start-up, every full garbage collection walks them with every
    thread stopped (~75 ms: the window's largest stall)."""
    qtbot.waitUntil(lambda: freeze_torch_optimizer_imports.cache_info().currsize == 1,
                    timeout=60_000)  # fmt: skip
    window.train()  # builds an optimizer
    qtbot.waitUntil(lambda: window.controller.current.step >= 2, timeout=30_000)
    stop_training(qtbot, window)
    walked = [
        each
        for each in gc.get_objects()  # what a full collection walks: all but the frozen
        if isinstance(each, types.FunctionType)
        and (each.__module__ or "").startswith(LAZY_TORCH_MODULES)
    ]
    assert len(walked) < 20, f"{len(walked)} functions of {LAZY_TORCH_MODULES} not frozen"
