"""Timeline scrubbing: slider move -> attention grid repainted at that snapshot's weights.

    python bench/scrub_latency.py [--preset baby|lecture] [--steps 300] [--seconds 20]
                                  [--interval-ms 100] [--paused]

Offscreen app: trains the preset for --steps steps (evaluating every 50, so the run folder holds
a snapshot every 50 steps besides the log-spaced ones), then drags the timeline slider one
snapshot at a time back and forth over all of them, a move every --interval-ms, for --seconds,
while training goes on (--paused: with the run paused). Measures each move -> the grid's next
paint showing the inspection of that step (p50 / p95 / max; a move overtaken by the next one
before it was shown counts until the newer one is painted, as a keystroke does in
bench/ui_latency.py), how many snapshots were read from disk (the inspection thread's cache,
core.timeline.SnapshotCache, holds the rest), and the largest gap seen by a 10 ms QTimer on the
GUI thread.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.offscreen import offscreen_window  # noqa: E402
from bench.ui_latency import PRESETS, percentile, run_events_for  # noqa: E402
from headwatch.core.performance import keep_freed_memory  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=PRESETS, default="baby")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument("--paused", action="store_true", help="scrub with the run paused")
    args = parser.parse_args()
    keep_freed_memory()
    os.environ.setdefault("HEADWATCH_HOME", tempfile.mkdtemp(prefix="headwatch-bench-"))

    import torch
    from PySide6.QtCore import QEvent, QObject, QTimer

    import headwatch.core.timeline as timeline

    print(
        f"$ python bench/scrub_latency.py --preset {args.preset} --steps {args.steps} "
        f"--seconds {args.seconds:g} --interval-ms {args.interval_ms}"
        + (" --paused" if args.paused else "")
    )
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, torch {torch.__version__}, "
        f"Qt offscreen; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the start"
    )
    app, window = offscreen_window("1600x1000")
    c, bar = window.controller, window.timeline_bar
    run_events_for(0, done=lambda: c.corpus is not None)
    window.setup.apply_preset(args.preset)
    window.setup.iters_spin.setValue(10**6)
    window.setup.eval_every_spin.setValue(50)
    T = window.setup.model_config().block_size
    verse = "ROMEO:\nBut soft, what light through yonder window breaks? It is the east. "
    window.prompt_edit.setText((verse * (1 + T // len(verse)))[:T].replace("\n", "\\n"))
    window.train()
    run_events_for(
        0, done=lambda: c.current is not None and c.current.step >= args.steps, limit=3600
    )
    if args.paused:
        c.pause()
    run_events_for(1)
    steps = bar.steps()
    print(f"trained to step {c.current.step}; {len(steps)} snapshots: {steps}")

    moved: list[tuple[int, float]] = []  # (step, perf_counter) of moves not yet shown
    latencies: list[float] = []
    gaps: list[float] = []
    disk_reads = 0
    load_snapshot = timeline.load_snapshot

    def counted_load(info):  # in the inspection thread: a counter only
        nonlocal disk_reads
        disk_reads += 1
        return load_snapshot(info)

    timeline.load_snapshot = counted_load
    last_tick = time.perf_counter()

    class PaintWatch(QObject):
        def eventFilter(self, obj, event) -> bool:  # noqa: N802
            shown = c.last_inspection
            if event.type() == QEvent.Type.Paint and shown is not None and moved:
                now = time.perf_counter()
                hits = [i for i, (step, _) in enumerate(moved) if step == shown.step]
                if hits and c.viewed_step == shown.step:
                    for _, at in moved[: hits[-1] + 1]:  # it and every move it overtook
                        latencies.append((now - at) * 1000)
                    del moved[: hits[-1] + 1]
            return False

    watch = PaintWatch()
    window.attention_grid._view.viewport().installEventFilter(watch)
    path = list(range(len(steps))) + list(range(len(steps) - 2, 0, -1))  # there and back
    position = 0

    def move() -> None:
        nonlocal position
        index = path[position % len(path)]
        position += 1
        step = steps[index]
        moved.append((step, time.perf_counter()))
        bar.slider.setValue(index)

    def tick() -> None:
        nonlocal last_tick
        now = time.perf_counter()
        gaps.append((now - last_tick) * 1000)
        last_tick = now

    mover, ticker = QTimer(interval=args.interval_ms), QTimer(interval=10)
    mover.timeout.connect(move)
    ticker.timeout.connect(tick)
    last_tick = time.perf_counter()
    mover.start()
    ticker.start()
    run_events_for(args.seconds)
    mover.stop()
    run_events_for(0.5, done=lambda: not moved, limit=30)
    ticker.stop()
    bar.live_button.click()
    window.close()
    run_events_for(0, done=c.threads_ended, limit=600)
    load = os.getloadavg()

    print(
        f"\nmoves: {position}, shown: {len(latencies)}, snapshots read from disk: {disk_reads} "
        f"(T={T}, {'paused' if args.paused else 'training'})"
    )
    print(
        f"slider move -> grid repainted: p50 {percentile(latencies, 0.5):.1f} ms, "
        f"p95 {percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms"
    )
    print(f"event loop: largest 10 ms-timer gap {max(gaps):.1f} ms")
    print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
