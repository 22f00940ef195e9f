"""Bad input everywhere it enters the window, faults in the training thread, rapid clicking."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import headwatch.core.corpus as corpus_mod
from headwatch.core.runs import CHECKPOINT, CONFIG, load_run
from headwatch.core.trainer import Trainer
from headwatch.gui.app import setup_logging
from headwatch.gui.threads import WorkerThread
from tests.gui.conftest import close_window, open_run, stop_training

ROOT = Path(__file__).resolve().parents[2]


def _binary(path: Path) -> Path:
    path.write_bytes(b"\x00\x01\x02binary")
    return path


def _latin1(path: Path) -> Path:
    path.write_bytes("café au lait".encode("latin-1"))
    return path


def _empty(path: Path) -> Path:
    path.write_text("")
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.parent / "missing.txt", "no such file"),
        (lambda p: p.parent, "is a folder"),
        (_empty, "is empty"),
        (_binary, "looks binary"),
        (_latin1, "not UTF-8"),
    ],
)
def test_bad_corpus_is_explained_and_the_previous_one_stays(window, tmp_path, make, message):
    before = window.controller.corpus
    path = make(tmp_path / "corpus.txt")
    assert window.set_corpus(str(path)) is False
    assert message in window.last_error
    assert "previous corpus stays loaded" in window.last_error
    assert window.controller.corpus is before and window.setup.corpus() is before


def test_unreadable_and_oversized_corpus(window, tmp_path, monkeypatch):
    path = tmp_path / "big.txt"
    path.write_text("x" * 5000)
    monkeypatch.setattr(corpus_mod, "MAX_CORPUS_BYTES", 1024)
    assert window.set_corpus(str(path)) is False
    assert "larger than the limit" in window.last_error
    monkeypatch.setattr(corpus_mod, "MAX_CORPUS_BYTES", 10**9)

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", denied)
    assert window.set_corpus(str(path)) is False
    assert "permission denied" in window.last_error


def test_corpus_shorter_than_a_block_cannot_be_trained(qtbot, window, tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("to be or not to be, " * 5)
    assert window.set_corpus(str(path))  # it loads ...
    assert not window.setup.train_button.isEnabled()  # ... but cannot train at block 16
    assert any("too short for block size 16" in e for e in window.setup.errors())
    assert "too short" in window.setup.block_spin.toolTip()  # the reason is at the field
    snapshots = window.controller.snapshots
    assert snapshots.latest() is None  # no weights of another vocabulary on show
    window.setup.block_spin.setValue(4)  # fixing the setting shows fresh weights again
    qtbot.waitUntil(lambda: snapshots.latest() is not None, timeout=5_000)
    window.setup.block_spin.setValue(16)
    window.train()  # F5 regardless: refused with a message, nothing started
    assert "too short for block size" in window.last_error
    assert window.controller.current is None


def test_invalid_hyperparameter_blocks_training_with_the_reason_by_the_field(window):
    window.setup.lr_spin.setValue(0)
    assert not window.setup.train_button.isEnabled()
    assert "learning rate must be above 0" in window.setup.lr_spin.toolTip()
    assert window.setup.lr_spin.property("invalid") is True
    window.setup.lr_spin.setValue(1e-3)
    assert window.setup.train_button.isEnabled()
    assert window.setup.lr_spin.property("invalid") is False


@pytest.fixture
def saved_run(qtbot, window):
    window.train()
    qtbot.waitUntil(lambda: window.controller.current.step >= 12, timeout=30_000)
    stop_training(qtbot, window)
    return Path(window.controller.current.folder)


def _snapshot_files(folder: Path) -> dict[str, bytes]:
    return {str(f.relative_to(folder)): f.read_bytes() for f in folder.rglob("*") if f.is_file()}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run: (run / CONFIG).unlink(), "not a HeadWatch run"),
        (lambda run: (run / CONFIG).write_text("{ oops"), "invalid JSON"),
        (
            lambda run: (run / CHECKPOINT).write_bytes((run / CHECKPOINT).read_bytes()[:500]),
            "damaged",
        ),
        (lambda run: torch.save({"some": "thing"}, run / CHECKPOINT), "not a HeadWatch checkpoint"),
        (lambda run: (run / CHECKPOINT).unlink(), "has no checkpoint"),
    ],
)
def test_bad_run_folder_is_explained_and_nothing_is_overwritten(
    qtbot, window, saved_run, damage, message
):
    damage(saved_run)
    before = _snapshot_files(saved_run)
    current = window.controller.current
    assert open_run(qtbot, window, saved_run) is False
    assert message in window.last_error
    assert window.last_error.lower().count("nothing was changed") == 1  # said once
    assert "Opening" not in window.statusBar().currentMessage()
    assert _snapshot_files(saved_run) == before
    assert window.controller.current is current


def test_checkpoint_of_another_architecture_is_refused(qtbot, window, saved_run, tmp_path):
    config = json.loads((saved_run / CONFIG).read_text())
    config["model"]["n_layer"] = 3
    (saved_run / CONFIG).write_text(json.dumps(config))
    assert open_run(qtbot, window, saved_run) is False
    assert "another architecture" in window.last_error


def test_divergence_keeps_the_last_good_checkpoint(qtbot, window):
    window.setup.lr_spin.setValue(10.0)
    with qtbot.waitSignal(window.controller.runEnded, timeout=60_000) as ended:
        window.train()
    assert ended.args[0].failed and "diverged" in ended.args[0].message
    assert "diverged" in window.last_error and "lower the learning rate" in window.last_error
    record = load_run(window.controller.current.folder)
    assert all(torch.isfinite(t).all() for t in record.checkpoint["model"].values())


def test_exception_in_the_training_thread_is_shown_logged_and_recoverable(
    qtbot, window, monkeypatch
):
    setup_logging()
    real_step = Trainer.train_step
    calls = {"n": 0}

    def flaky(self):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("simulated fault in the training thread")
        return real_step(self)

    monkeypatch.setattr(Trainer, "train_step", flaky)
    window.train()
    qtbot.waitUntil(lambda: "simulated fault" in window.last_error, timeout=30_000)
    qtbot.waitUntil(lambda: not window.controller.is_training(), timeout=10_000)
    assert window.controller.state == "idle"
    for handler in logging.getLogger("headwatch").handlers:
        handler.flush()
    log_file = Path(os.environ["HEADWATCH_HOME"]) / "log" / "headwatch.log"
    assert "simulated fault in the training thread" in log_file.read_text()
    window.train()  # and it trains again
    qtbot.waitUntil(lambda: window.controller.current.step >= 3, timeout=30_000)
    stop_training(qtbot, window)


def test_crashed_run_opens_and_resumes(qtbot, window, tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from headwatch.core.corpus import builtin_corpus
        from headwatch.core.runs import RunWriter
        from headwatch.core.session import train_into_run
        from headwatch.core.trainer import Trainer
        from tests.helpers import small_model, small_training

        corpus = builtin_corpus()
        mc = small_model(corpus.vocab_size)
        tc = small_training(max_iters=10**6, eval_interval=5)
        trainer = Trainer(corpus, mc, tc)
        for p in train_into_run(trainer, RunWriter.create(sys.argv[1], corpus, mc, tc)):
            if p.is_eval:
                print(p.step, flush=True)
        """
    )
    run = tmp_path / "crashed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", script, str(run)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    while int(child.stdout.readline() or 0) < 20:
        pass
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert open_run(qtbot, window, run)
    saved = window.controller.current.step
    assert saved >= 20
    window.train()  # same settings are not required: Train continues the opened run
    qtbot.waitUntil(lambda: window.controller.current.step >= saved + 3, timeout=30_000)
    stop_training(qtbot, window)
    assert window.last_error == ""
    assert load_run(run).step >= saved + 3


def test_rapid_retrain_heads_stop_train_with_typing(qtbot, window):
    """30 rapid sequences: no exception, one live training thread at the end, clean close."""
    heads = ["4", "2", "1", "8"]
    for i in range(30):
        window.prompt_edit.setText("ROMEO:"[: i % 6 + 1])
        window.setup.heads_combo.setCurrentIndex(window.setup.heads_combo.findText(heads[i % 4]))
        window.retrain()
        qtbot.keyClicks(window.prompt_edit, "ab")
        if i % 3 == 0:
            window.controller.stop()
        window.train()
        if i % 5 == 0:
            window.controller.toggle_pause()
        qtbot.wait(1)  # let queued signals through, as a user's clicks would
    window.controller.resume()
    qtbot.waitUntil(lambda: window.controller.state == "training", timeout=60_000)
    assert window.controller.is_training()
    training = [n for n in WorkerThread.running_names() if n.startswith("train-")]
    assert len(training) == 1  # one live training thread, whatever was queued
    assert window.last_error == ""
    close_window(qtbot, window)


def test_short_soak(qtbot):
    """60 s of bench/soak.py in the suite: no exception, no leaked thread (no timing asserted)."""
    from bench.soak import soak

    started = time.monotonic()
    result = soak(seconds=60, retrain_every=20, type_every_ms=100, small=True)
    assert result.exceptions == []
    assert result.retrains >= 2 and result.keystrokes > 300
    low, high = result.thread_range(warmup_s=10)
    assert high - low <= 1
    assert time.monotonic() - started < 300
