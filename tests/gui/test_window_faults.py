"""Issue #18's fault kinds as the window meets them: each is one clear message, the window lives
on, and nothing on disk is lost."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from headwatch.core.lock import LOCK
from headwatch.core.paths import runs_dir
from headwatch.core.runs import CONFIG, load_run
from headwatch.core.trainer import Trainer
from tests.gui.conftest import stop_training


def _alive_and_well(window) -> None:
    assert window.isVisible()
    assert window.controller.state == "idle"


@pytest.fixture
def saved_run(qtbot, window) -> Path:
    window.train()
    qtbot.waitUntil(lambda: window.controller.current.step >= 12, timeout=30_000)
    stop_training(qtbot, window)
    return Path(window.controller.current.folder)


class OutOfMemoryTrainer(Trainer):
    """A trainer whose model does not fit: torch's CPU allocator's own words."""

    def __init__(self, *args, **kwargs) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't "
                           "allocate memory: you tried to allocate 34359738368 bytes.")  # fmt: skip


@pytest.fixture
def oom_window(window_with):
    return window_with(OutOfMemoryTrainer)


def test_out_of_memory_is_said_as_what_to_lower_and_leaves_no_folder(qtbot, oom_window):
    window = oom_window
    before = set(runs_dir().glob("*")) if runs_dir().exists() else set()
    window.train()
    qtbot.waitUntil(lambda: "out of memory" in window.last_error, timeout=30_000)
    qtbot.waitUntil(lambda: window.controller.state == "idle", timeout=30_000)
    assert "lower the layers or n_embd" in window.last_error
    assert "Traceback" not in window.last_error and "RuntimeError" not in window.last_error
    after = set(runs_dir().glob("*")) if runs_dir().exists() else set()
    assert after == before  # no run folder without training
    _alive_and_well(window)


def test_a_run_folder_that_cannot_be_written_is_one_message(qtbot, window):
    home = runs_dir()
    home.parent.mkdir(parents=True, exist_ok=True)
    home.write_text("a file where the runs folder should be")
    window.train()
    qtbot.waitUntil(lambda: "nothing of this run was saved" in window.last_error, timeout=30_000)
    assert "cannot create this folder (a file stands where a folder should be)" in (
        window.last_error
    )
    qtbot.waitUntil(lambda: window.controller.state == "idle", timeout=30_000)
    assert home.read_text() == "a file where the runs folder should be"
    _alive_and_well(window)


def test_a_run_trained_by_another_process_is_refused_for_training_but_opens(
    qtbot, window, saved_run
):
    holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)  # fmt: skip
    try:
        owner = {"pid": holder.pid, "host": socket.gethostname(), "time": "now"}
        (saved_run / LOCK).write_text(json.dumps(owner))
        before = _files(saved_run)
        assert window.controller.open_run(saved_run)  # viewing needs no lock
        qtbot.waitUntil(lambda: window.controller.current.folder == str(saved_run),
                        timeout=30_000)  # fmt: skip
        window.train()  # continuing it does
        qtbot.waitUntil(lambda: "being trained by PID" in window.last_error, timeout=30_000)
        assert str(holder.pid) in window.last_error
        qtbot.waitUntil(lambda: window.controller.state == "idle", timeout=30_000)
        assert _files(saved_run) == before
        _alive_and_well(window)
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_run_trained_on_a_gpu_opens_on_a_cpu_machine(qtbot, window, saved_run):
    config = json.loads((saved_run / CONFIG).read_text())
    config["train"]["device"] = "cuda"
    (saved_run / CONFIG).write_text(json.dumps(config))
    step = load_run(saved_run).step
    window.controller.retrain(window.setup.model_config(), window.setup.train_config())
    qtbot.waitUntil(lambda: window.controller.state == "training", timeout=30_000)
    stop_training(qtbot, window)
    assert window.controller.open_run(saved_run)
    qtbot.waitUntil(lambda: window.controller.current.folder == str(saved_run), timeout=30_000)
    assert window.controller.current.step == step
    assert window.last_error == ""


def test_temperature_zero_samples_greedily(qtbot, window, saved_run):
    samples = []  # the weights stay those of the stopped run
    window.controller.sampled.connect(lambda sample: samples.append(sample.continuation))
    for _ in range(2):
        with qtbot.waitSignal(window.controller.sampled, timeout=30_000):
            window.controller.sample("ROMEO:", 0.0, 40)
    assert len(samples) == 2 and samples[0] == samples[1] and len(samples[0]) == 40
    assert window.last_error == ""


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of a run folder, its weight snapshots included, by relative path."""
    return {str(f.relative_to(folder)): f.read_bytes() for f in folder.rglob("*") if f.is_file()}
