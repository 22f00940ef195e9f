"""Retrain and close while a training step is in flight: how long each takes to return to the
event loop, the largest event-loop gap around them, and when the last thread ends.

    python bench/responsiveness.py [--preset lecture]

Runs the real window offscreen, in a private HEADWATCH_HOME, on the built-in corpus. At the lecture
preset a step takes seconds on a CPU, so both actions land mid-step.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("tiny", "baby", "lecture"), default="lecture")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = tempfile.mkdtemp(prefix="headwatch-bench-")
    os.environ["HEADWATCH_HOME"] = home

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from headwatch.core.runs import load_run
    from headwatch.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(settings_path=Path(home) / "settings.ini")
    window.show()
    gap = {"last": time.perf_counter(), "max": 0.0}

    def tick() -> None:
        now = time.perf_counter()
        gap["max"], gap["last"] = max(gap["max"], now - gap["last"]), now

    def reset_gap() -> None:
        gap["max"], gap["last"] = 0.0, time.perf_counter()

    timer = QTimer(interval=10, timeout=tick)
    timer.start()

    def wait(done, limit_s: float = 600) -> bool:
        end = time.monotonic() + limit_s
        while not done() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.002)
        return done()

    controller = window.controller
    wait(lambda: controller.corpus is not None)
    window.setup.apply_preset(args.preset)
    window.train()
    wait(lambda: controller.current is not None and controller.current.step >= 1)
    reset_gap()
    started = time.perf_counter()
    window.retrain()
    retrain_ms = (time.perf_counter() - started) * 1000
    first = controller.current.run_id
    wait(lambda: controller.current.run_id != first and controller.current.step >= 1)
    retrain_gap_ms = gap["max"] * 1000
    reset_gap()
    started = time.perf_counter()
    window.close()
    close_ms = (time.perf_counter() - started) * 1000
    hidden = not window.isVisible()
    started = time.perf_counter()
    wait(controller.threads_ended)
    ended_s = time.perf_counter() - started
    saved = load_run(controller.current.folder).step
    print(f"preset {args.preset}: {window.setup.model_config().n_layer} layers, "
          f"n_embd {window.setup.model_config().n_embd}")  # fmt: skip
    print(f"Retrain returned in {retrain_ms:.1f} ms; largest event-loop gap until the new run's "
          f"first step {retrain_gap_ms:.0f} ms")  # fmt: skip
    print(f"close returned in {close_ms:.1f} ms (window hidden: {hidden}); the threads ended "
          f"{ended_s:.1f} s later, largest gap {gap['max'] * 1000:.0f} ms; the run saved at step "
          f"{saved} of {controller.current.step}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
