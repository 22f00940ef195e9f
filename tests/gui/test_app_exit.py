"""The real entry point: start, train or not, close → exit 0, nothing alarming on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from headwatch.gui import app as headwatch

    qapp = QApplication(sys.argv[:1])

    def window():
        found = [w for w in qapp.topLevelWidgets() if w.objectName() == "mainWindow"]
        return found[0] if found else None

    def drive():
        w = window()
        if w is None or w.controller.corpus is None:
            QTimer.singleShot(50, drive)
            return
        if sys.argv[1] == "idle":  # closed as soon as the corpus is in: no run, idle threads
            print("closing idle", flush=True)
            w.close()
            return
        w.setup.iters_spin.setValue(100000)
        w.train()
        def close_when_training():
            run = w.controller.current
            if run is not None and run.step >= 3:
                print("closing at step", run.step, flush=True)
                w.close()
            else:
                QTimer.singleShot(50, close_when_training)
        close_when_training()

    QTimer.singleShot(0, drive)
    sys.exit(headwatch.run_app(sys.argv[:1]))
    """
)


def run_and_close(home, mode: str) -> subprocess.CompletedProcess:
    """The app in a process, closed by SCRIPT in `mode` ("train" or "idle"); checks it exited
    0 with nothing alarming on stderr."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HEADWATCH_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for alarm in ("QThread: Destroyed", "Segmentation", "Traceback", "Fatal Python error"):
        assert alarm not in result.stderr, result.stderr[-2000:]
    return result


def test_closing_mid_training_exits_cleanly(tmp_path):
    assert "closing at step" in run_and_close(tmp_path, "train").stdout
    runs = list((tmp_path / "data" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "checkpoint.pt").exists()


def test_closing_at_once_exits_cleanly(tmp_path):
    assert "closing idle" in run_and_close(tmp_path, "idle").stdout
    runs = tmp_path / "data" / "runs"
    assert not runs.exists() or not any(runs.iterdir())  # nothing trained, nothing written
