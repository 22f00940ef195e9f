"""The real entry point: start, train, close mid-training → exit 0, nothing alarming on stderr."""

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


def test_closing_mid_training_exits_cleanly(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HEADWATCH_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "closing at step" in result.stdout
    for alarm in ("QThread: Destroyed", "Segmentation", "Traceback", "Fatal Python error"):
        assert alarm not in result.stderr, result.stderr[-2000:]
    runs = list((tmp_path / "data" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "checkpoint.pt").exists()


def test_no_display_is_explained_not_aborted(monkeypatch):
    from headwatch.gui import app

    monkeypatch.setattr(app.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "DISPLAY is not set" in app.display_problem()
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(app, "missing_xcb_libraries", lambda: ["libxcb-cursor.so.0"])
    assert "missing: libxcb-cursor.so.0" in app.display_problem()
    assert "apt-get install libxcb-cursor0" in app.display_problem()
    monkeypatch.setattr(app, "missing_xcb_libraries", lambda: [])
    assert app.display_problem() is None
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert app.display_problem() is None
