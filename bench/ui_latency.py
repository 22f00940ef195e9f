"""Responsiveness while training: keystroke -> attention grid repainted, and event-loop stalls.

    python bench/ui_latency.py [--preset baby|lecture] [--seconds 20] [--prompt-len N]

Offscreen app, training running at the preset; one character typed every 100 ms (the prompt is
a sliding window of --prompt-len characters, so T stays fixed). Measures keystroke -> the grid's
next paint showing that prompt (p50 / p95 / max), the largest gap seen by a 10 ms QTimer, the
grid redraw alone (set_data + paint) at the preset's size, and the trainer's tokens/s inside
the app against the same trainer headless: first with the views refreshing as the weights move
(nobody typing), then while typing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PRESETS = {"baby": 64, "lecture": 256}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def headless_tokens_per_s(corpus, model_config, train_config, seconds: float) -> float:
    """The same trainer with no window, in a thread like the app's, for `seconds`."""
    from core.control import SnapshotBox, TrainControl
    from core.trainer import Trainer

    trainer = Trainer(corpus, model_config, train_config, snapshots=SnapshotBox())
    control = TrainControl()
    rates: list[float] = []

    def run() -> None:
        from gui.workers import TRAIN_THREADS, use_torch_threads

        use_torch_threads(TRAIN_THREADS)  # as the app's training thread does
        started = time.perf_counter()
        for p in trainer.run(control):
            if not p.is_eval and time.perf_counter() - started > 2:  # after warm-up
                rates.append(p.tokens_per_s)
            if time.perf_counter() - started > seconds:
                break

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=PRESETS, default="baby")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--prompt-len", type=int, default=None)
    args = parser.parse_args()
    prompt_len = args.prompt_len or PRESETS[args.preset]
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HEADWATCH_HOME", tempfile.mkdtemp(prefix="headwatch-bench-"))

    import numpy as np
    import torch
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.app import stylesheet
    from gui.attention_grid import AttentionGrid
    from gui.main_window import MainWindow

    print(f"$ python bench/ui_latency.py --preset {args.preset} --seconds {args.seconds:g}")
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, Qt offscreen"
    )
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyleSheet(stylesheet())
    window = MainWindow(settings_path=Path(os.environ["HEADWATCH_HOME"]) / "bench.ini")
    window.resize(1600, 1000)
    window.show()
    while window.corpus is None:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    window.setup.apply_preset(args.preset)
    window.setup.iters_spin.setValue(10**6)
    corpus = window.corpus
    model_config, train_config = window.setup.model_config(), window.setup.train_config()

    # 1) the grid alone: set_data + paint at this preset's size
    L, H, T = model_config.n_layer, model_config.n_head, model_config.block_size
    grid = AttentionGrid()
    grid.resize(900, 700)
    grid.show()
    rng = np.random.default_rng(0)
    raw = np.tril(rng.random((L, H, T, T), dtype=np.float32))
    attention = raw / raw.sum(-1, keepdims=True)
    tokens = list(("ROMEO:\nBut soft, what light through yonder window breaks? " * 8)[:T])
    redraws = []
    for _ in range(30):
        started = time.perf_counter()
        grid.set_data(attention, tokens)
        grid.grab()  # forces a real paint of the whole widget
        redraws.append((time.perf_counter() - started) * 1000)
    grid.close()

    # 2) headless trainer throughput, same config
    headless = headless_tokens_per_s(corpus, model_config, train_config, args.seconds)

    # 3) the app: training + typing
    text = ("ROMEO:\nBut soft, what light through yonder window breaks? It is the east, and "
            "Juliet is the sun. Arise, fair sun, and kill the envious moon. ") * 10  # fmt: skip
    typed_at: dict[str, float] = {}
    latencies: list[float] = []
    gaps: list[float] = []
    rates: list[float] = []
    viewport = window.attention_grid._view.viewport()

    class PaintWatch(QObject):
        def eventFilter(self, obj, event) -> bool:  # noqa: N802
            if event.type() == QEvent.Type.Paint and window.last_inspection is not None:
                shown = "".join(window.last_inspection.tokens)
                if shown in typed_at:
                    # this paint serves its prompt and every one typed before it (those were
                    # skipped for this newer one): each waited from its keystroke until now
                    now, since = time.perf_counter(), typed_at[shown]
                    for prompt in [k for k, t in typed_at.items() if t <= since]:
                        latencies.append((now - typed_at.pop(prompt)) * 1000)
            return False

    watch = PaintWatch()
    viewport.installEventFilter(watch)
    window.session.stepsReady.connect(lambda *a: rates.append(a[5]))
    window.prompt_edit.setText(text[:prompt_len].replace("\n", "\\n"))
    window.train()

    # 3a) views refreshing as training moves the weights, nobody typing: --seconds and at least
    # 4 step reports (a lecture-size step takes seconds), at most 3 minutes
    idle, poll, began = QEventLoop(), QTimer(interval=100), time.perf_counter()

    def enough() -> None:
        waited = time.perf_counter() - began
        if (waited >= args.seconds and len(rates) >= 4) or waited > 180:
            idle.quit()

    poll.timeout.connect(enough)
    poll.start()
    idle.exec()
    poll.stop()
    watching = statistics.median(rates[len(rates) // 5 :]) if rates else float("nan")
    rates.clear()

    # 3b) the same, typing
    position = prompt_len
    last_tick = time.perf_counter()
    loop = QEventLoop()
    started = time.perf_counter()

    def type_one() -> None:
        nonlocal position
        position += 1
        prompt = text[position - prompt_len : position]
        typed_at[prompt] = time.perf_counter()
        window.prompt_edit.setText(prompt.replace("\n", "\\n"))
        if time.perf_counter() - started > args.seconds:
            loop.quit()

    def tick() -> None:
        nonlocal last_tick
        now = time.perf_counter()
        if now - started > 2:  # skip the start of training
            gaps.append((now - last_tick) * 1000)
        last_tick = now

    typing, ticking = QTimer(interval=100), QTimer(interval=10)
    typing.timeout.connect(type_one)
    ticking.timeout.connect(tick)
    typing.start()
    ticking.start()
    loop.exec()
    typing.stop()
    ticking.stop()
    window.close()
    in_app = statistics.median(rates[len(rates) // 5 :]) if rates else float("nan")

    print(f"\nkeystrokes measured: {len(latencies)} (prompt of {prompt_len} chars, T={T})")
    print(
        f"keystroke -> grid repainted: p50 {percentile(latencies, 0.5):.1f} ms, "
        f"p95 {percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms"
    )
    print(f"event loop: largest 10 ms-timer gap {max(gaps):.1f} ms (stall)")
    print(
        f"grid redraw alone ({L}x{H} heads of {T}x{T}, set_data + paint): "
        f"median {statistics.median(redraws):.1f} ms, max {max(redraws):.1f} ms"
    )
    print(
        f"training: {headless:,.0f} tok/s headless; in the app with views refreshing "
        f"{watching:,.0f} ({watching / headless:.0%}), while typing {in_app:,.0f} "
        f"({in_app / headless:.0%})"
    )
    print(
        "\n| preset | prompt | keystroke p50 / p95 / max | max stall | grid redraw "
        "| in-app tok/s, watching | in-app tok/s, typing |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.preset} | {prompt_len} | {percentile(latencies, 0.5):.0f} / "
        f"{percentile(latencies, 0.95):.0f} / {max(latencies):.0f} ms | {max(gaps):.0f} ms | "
        f"{statistics.median(redraws):.1f} ms | {watching:,.0f} ({watching / headless:.0%} of "
        f"{headless:,.0f}) | {in_app:,.0f} ({in_app / headless:.0%}) |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
