"""Soak: train for a long while with typing every 100 ms and a Retrain every minute.

    python bench/soak.py [--seconds 600] [--retrain-every 60] [--type-every-ms 100]

Reports RSS and thread count over time and every exception (Python or Qt critical message).
Targets: RSS growth <= 10 % after warm-up, thread count flat, zero exceptions.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headwatch.core.performance import keep_freed_memory  # noqa: E402

TEXT = "ROMEO:\\nBut soft, what light through yonder window breaks? It is the east"


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


@dataclass
class SoakResult:
    samples: list[tuple[float, float, int, int]] = field(
        default_factory=list
    )  # t, RSS, threads, step
    exceptions: list[str] = field(default_factory=list)
    retrains: int = 0
    keystrokes: int = 0

    def growth_after_warmup(self, warmup_s: float) -> float:
        after = [s for s in self.samples if s[0] >= warmup_s]
        if len(after) < 2:
            return 0.0
        return (max(s[1] for s in after) - after[0][1]) / after[0][1]

    def end_growth(self, warmup_s: float) -> float:
        """RSS at the end against the first sample after warm-up (what stays, not the peaks)."""
        after = [s for s in self.samples if s[0] >= warmup_s]
        return (after[-1][1] - after[0][1]) / after[0][1] if len(after) >= 2 else 0.0

    def thread_range(self, warmup_s: float) -> tuple[int, int]:
        counts = [s[2] for s in self.samples if s[0] >= warmup_s] or [0]
        return min(counts), max(counts)


def soak(
    seconds: float, retrain_every: float, type_every_ms: int, small: bool = False
) -> SoakResult:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HEADWATCH_HOME", tempfile.mkdtemp(prefix="headwatch-soak-"))
    from PySide6.QtCore import QEventLoop, QTimer, QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from headwatch.gui.main_window import MainWindow

    result = SoakResult()

    def on_qt_message(kind, _context, message) -> None:
        if kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            result.exceptions.append(f"Qt: {message}")

    def on_exception(kind, value, tb) -> None:
        result.exceptions.append("".join(traceback.format_exception(kind, value, tb)))

    previous_hook = sys.excepthook
    sys.excepthook = on_exception
    previous_handler = qInstallMessageHandler(on_qt_message)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(settings_path=Path(os.environ["HEADWATCH_HOME"]) / "soak.ini")
    window.show()
    loop = QEventLoop()
    while window.controller.corpus is None:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    if small:  # the test suite's version: a small model, the same machinery
        window.setup.layers_spin.setValue(2)
        window.setup.embd_spin.setValue(32)
        window.setup.block_spin.setValue(32)
    window.setup.iters_spin.setValue(10**6)
    window.train()
    start = time.monotonic()
    last_retrain = start
    position = 0

    def tick_type() -> None:
        nonlocal position
        position = position % len(TEXT) + 1
        window.prompt_edit.setText(TEXT[:position])
        result.keystrokes += 1

    def tick_sample() -> None:
        nonlocal last_retrain
        now = time.monotonic()
        run = window.controller.current
        step = run.step if run is not None else -1
        result.samples.append((now - start, rss_mb(), thread_count(), step))
        if now - last_retrain >= retrain_every:
            last_retrain = now
            window.retrain()
            result.retrains += 1
        if now - start >= seconds:
            loop.quit()

    typing = QTimer(interval=type_every_ms)
    typing.timeout.connect(tick_type)
    sampling = QTimer(interval=1000)
    sampling.timeout.connect(tick_sample)
    typing.start()
    sampling.start()
    loop.exec()
    typing.stop()
    sampling.stop()
    window.controller.allThreadsEnded.connect(loop.quit)
    QTimer.singleShot(600_000, loop.quit)
    window.close()
    loop.exec()
    if not window.controller.threads_ended():
        result.exceptions.append("a worker thread was still running 10 minutes after close")
    window.deleteLater()
    app.processEvents()
    sys.excepthook = previous_hook
    qInstallMessageHandler(previous_handler)
    return result


def main() -> int:
    keep_freed_memory()  # first, as gui.app.main does (here, not in soak(): tests call that)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600, help="how long it trains")
    parser.add_argument("--retrain-every", type=float, default=60, metavar="SECONDS")
    parser.add_argument("--type-every-ms", type=int, default=100, metavar="MS")
    args = parser.parse_args()
    import torch

    print(
        f"$ python bench/soak.py --seconds {args.seconds:g} --retrain-every {args.retrain_every:g}"
    )
    print(
        f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; baby preset"
    )
    result = soak(args.seconds, args.retrain_every, args.type_every_ms)
    warmup = min(60.0, args.seconds / 5)
    print("t(s)  RSS(MB)  threads  step")
    for t, rss, threads, step in result.samples[:: max(1, len(result.samples) // 20)]:
        print(f"{t:5.0f}  {rss:7.1f}  {threads:7d}  {step}")
    low, high = result.thread_range(warmup)
    growth = result.growth_after_warmup(warmup)
    print(f"keystrokes {result.keystrokes}, retrains {result.retrains}")
    print(f"RSS growth after {warmup:.0f}s warm-up: peak {growth:+.1%}, at the end "
          f"{result.end_growth(warmup):+.1%} (target <= +10%)")  # fmt: skip
    print(f"threads after warm-up: {low}..{high} (target: flat)")
    print(f"exceptions: {len(result.exceptions)} (target 0)")
    for text in result.exceptions[:5]:
        print(text)
    return 0 if not result.exceptions else 1


if __name__ == "__main__":
    sys.exit(main())
