"""The app's window offscreen, for the scripts that drive it (screenshots): one styled window
in a private home, and a wait that keeps the event loop turning."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable


def offscreen_window(size: str = "1600x1000"):
    """(QApplication, MainWindow) shown at size "WxH", offscreen, in a private home: the script
    neither reads nor writes the user's runs and settings."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HEADWATCH_HOME", tempfile.mkdtemp(prefix="headwatch-shot-"))

    from PySide6.QtWidgets import QApplication

    from headwatch.gui.app import stylesheet
    from headwatch.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyleSheet(stylesheet())
    window = MainWindow()
    window.resize(*(int(v) for v in size.split("x")))
    window.show()
    return app, window


def wait_until(predicate: Callable[[], object], timeout_s: float) -> bool:
    """Run the event loop until predicate() is true or timeout_s seconds have passed; whether
    it became true."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: predicate() and loop.quit())
    timer.start(50)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    timer.stop()
    return bool(predicate())
