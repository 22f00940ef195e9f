"""Start-up time and memory.

    python bench/startup.py [--runs 3] [--steps 2000] [--lecture-steps 30]

1. Launch -> first window shown, in a fresh interpreter each time (median of --runs), split into
   imports, window construction and the first paint; the corpus loads after the window shows.
2. Peak RSS (VmHWM) of the offscreen app after --steps baby steps with live views (a prompt
   typed, the grid following training), and the same for a short lecture-preset run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter: timestamps relative to the parent's launch time (argv[1]).
LAUNCH = r"""
import json, sys, time
launched = float(sys.argv[1])
t0 = time.time()
from headwatch.core.performance import keep_freed_memory
keep_freed_memory()  # as gui.app.main does first
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
t_qt = time.time()
from headwatch.gui.main_window import MainWindow
from headwatch.gui.app import open_window
t_imports = time.time()
app, window = open_window(sys.argv[:1])  # as the app: it quits once its threads have ended
t_built = time.time()
window.show()
marks = {}
def shown():
    marks["shown"] = time.time()
    def corpus_ready():
        if window.controller.corpus is None:
            QTimer.singleShot(20, corpus_ready)
            return
        marks["corpus"] = time.time()
        window.close()
    corpus_ready()
QTimer.singleShot(0, shown)
app.exec()
print(json.dumps({
    "interpreter": t0 - launched, "qt_import": t_qt - t0, "app_imports": t_imports - t_qt,
    "window": t_built - t_imports, "first_paint": marks["shown"] - t_built,
    "total": marks["shown"] - launched, "corpus_after_show": marks["corpus"] - marks["shown"],
}))
"""

# Trains with live views and reports the peak RSS.
MEMORY = r"""
import sys
from headwatch.core.performance import keep_freed_memory
keep_freed_memory()  # as gui.app.main does first
from PySide6.QtCore import QEventLoop, QTimer
from headwatch.gui.app import open_window
preset, steps = sys.argv[1], int(sys.argv[2])
app, window = open_window(sys.argv[:1])
window.show()
while window.controller.corpus is None:
    app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
window.setup.apply_preset(preset)
window.setup.iters_spin.setValue(steps)
window.setup.eval_iters_spin.setValue(5)  # a lecture-size eval of 50 batches is minutes on a CPU
window.prompt_edit.setText("ROMEO:\\nBut soft, what light through yonder window breaks? It is")
window.train()
loop = QEventLoop()
def check():
    run = window.controller.current
    if run is not None and not window.controller.is_training() and run.step >= steps:
        loop.quit()
timer = QTimer(interval=200)
timer.timeout.connect(check)
timer.start()
loop.exec()
done = window.controller.current.step
window.controller.allThreadsEnded.connect(loop.quit)
window.close()
loop.exec()
with open("/proc/self/status") as fh:
    status = dict(line.split(":", 1) for line in fh)
print(int(status["VmHWM"].split()[0]) // 1024, done)
"""


def env() -> dict[str, str]:
    return {
        **os.environ,
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        "HEADWATCH_HOME": tempfile.mkdtemp(prefix="headwatch-startup-"),
        "PYTHONPATH": str(ROOT),
    }


def launch_once(cache: str) -> dict:
    environment = {**env(), "HEADWATCH_CACHE": cache}
    launched = time.time()
    out = subprocess.run(
        [sys.executable, "-c", LAUNCH, repr(launched)],
        env=environment, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss(preset: str, steps: int, cache: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY, preset, str(steps)],
        env={**env(), "HEADWATCH_CACHE": cache}, capture_output=True, text=True, timeout=3600,
        cwd=ROOT,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    mb, done = out.stdout.split()[-2:]
    return int(mb), int(done)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm launches to time")
    parser.add_argument("--steps", type=int, default=2000, help="baby steps before peak RSS")
    parser.add_argument(
        "--lecture-steps", type=int, default=30, help="the same at lecture size (0: not measured)"
    )
    args = parser.parse_args()
    import torch

    print(f"$ python bench/startup.py --runs {args.runs} --steps {args.steps} "
          f"--lecture-steps {args.lecture_steps}")  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, torch {torch.__version__}")
    cache = tempfile.mkdtemp(prefix="headwatch-cache-")
    cold = launch_once(cache)  # builds the corpus cache: a first launch ever
    runs = [launch_once(cache) for _ in range(args.runs)]
    keys = list(runs[0])
    print("\nlaunch -> first window shown (median of warm launches, seconds):")
    for key in keys:
        print(f"  {key:<18} {statistics.median(r[key] for r in runs):6.2f}")
    print(f"  first launch ever: total {cold['total']:.2f} s, corpus built in "
          f"{cold['corpus_after_show']:.2f} s after the window showed")  # fmt: skip
    baby_mb, baby_steps = peak_rss("baby", args.steps, cache)
    total = statistics.median(r["total"] for r in runs)
    print("\n| measure | figure | target |")
    print("|---|---|---|")
    print(f"| launch → window shown | {total:.2f} s | ≤ 2.5 s |")
    print(f"| peak RSS, baby, {baby_steps} steps, live views | {baby_mb} MB | ≤ 700 MB |")
    if args.lecture_steps > 0:
        mb, steps = peak_rss("lecture", args.lecture_steps, cache)
        print(f"| peak RSS, lecture, {steps} steps, live views | {mb} MB | (reported) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
