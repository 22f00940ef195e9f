"""Render the window with the Embeddings tab on show for a saved run, to a PNG.

    python -m bench.embedding_screenshot RUN_DIR [OUT.png] [--size 1366x768]

Runs offscreen in a private home (no user settings or runs are read or written): opens the
run, shows the Embeddings tab and grabs the whole window once the map of the run's weights is
drawn.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", nargs="?", default="embeddings.png")
    parser.add_argument("--size", default="1366x768")
    parser.add_argument("--prompt", default="ROMEO:\\nBut soft")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HEADWATCH_HOME", tempfile.mkdtemp(prefix="headwatch-shot-"))

    from headwatch.gui.app import stylesheet
    from headwatch.gui.main_window import MainWindow
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyleSheet(stylesheet())
    window = MainWindow()
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()

    def wait_until(predicate, timeout_s: float) -> bool:
        loop = QEventLoop()
        timer = QTimer()
        timer.timeout.connect(lambda: predicate() and loop.quit())
        timer.start(50)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        timer.stop()
        return bool(predicate())

    controller, view = window.controller, window.embedding_view
    wait_until(lambda: controller.corpus is not None, 120)
    window.prompt_edit.setText(args.prompt)
    window.analysis_tabs.setCurrentWidget(view)
    if not controller.open_run(args.run):
        print(window.last_error, file=sys.stderr)
        return 2
    opened = lambda: controller.current is not None and controller.current.folder  # noqa: E731
    wait_until(opened, 60)
    step = controller.current.step
    drawn = wait_until(lambda: view.current is not None and view.current.step == step, 60)
    wait_until(lambda: controller.last_inspection and controller.last_inspection.step == step, 60)
    app.processEvents()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    print(f"wrote {args.out} at step {step}" + ("" if drawn else " (the map was not drawn)"))
    window.close()
    wait_until(controller.threads_ended, 60)
    return 0 if drawn else 1


if __name__ == "__main__":
    sys.exit(main())
