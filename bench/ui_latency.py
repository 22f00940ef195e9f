"""Responsiveness while training: keystroke -> attention grid repainted, and event-loop stalls.

    python bench/ui_latency.py [--preset baby|lecture] [--seconds 20] [--prompt-len N]

Offscreen app, training running at the preset; one character typed every 100 ms (the prompt is
a sliding window of --prompt-len characters, so T stays fixed). Measures keystroke -> the grid's
next paint showing that prompt (p50 / p95 / max), the largest gap seen by a 10 ms QTimer, the
grid redraw alone (set_data + paint) at the preset's size, and the trainer's tokens/s inside
the app against the same trainer headless: with the views refreshing as the weights move (nobody
typing), alternated with headless rounds in the same process (the window's run paused), then
while typing.
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
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PRESETS = {"baby": 64, "lecture": 256}
ROUNDS = 5  # of window-training against headless training, alternated


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def headless_tokens_per_s(model_config, train_config, seconds: float) -> float:
    """The same trainer alone in a fresh process, in a thread like the app's, for `seconds`
    after a 2 s warm-up. A fresh process: in this one the window's paused run keeps its OpenMP
    helpers, and with more of those than cores libgomp stops spinning, which would slow the
    headless side and flatter the window."""
    job = {"model": model_config.to_dict(), "train": train_config.to_dict(), "seconds": seconds}
    out = subprocess.run(
        [sys.executable, __file__, "--headless", json.dumps(job)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return float(out.stdout.split()[-1])


def run_headless(job_json: str) -> None:
    """The --headless entry: prints the median tokens/s of one trainer with no window."""
    from core.control import SnapshotBox, TrainControl
    from core.corpus import builtin_corpus
    from core.trainer import GPTConfig, TrainConfig, Trainer
    from gui.workers import TRAIN_THREADS, use_torch_threads

    job = json.loads(job_json)
    model_config, train_config = GPTConfig(**job["model"]), TrainConfig(**job["train"])
    trainer = Trainer(builtin_corpus(), model_config, train_config, snapshots=SnapshotBox())
    rates: list[float] = []

    def run() -> None:
        use_torch_threads(TRAIN_THREADS)  # as the app's training thread does
        started = time.perf_counter()
        for p in trainer.run(TrainControl()):
            if not p.is_eval and time.perf_counter() - started > 2:  # after warm-up
                rates.append(p.tokens_per_s)
            if time.perf_counter() - started > job["seconds"] + 2 and len(rates) >= 2:
                break

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    print(statistics.median(rates))


def wait_until_parked(trainer, quiet_seconds: float) -> None:
    """Run the event loop until the paused trainer's step count stood still for quiet_seconds
    (the step in flight when the pause came has ended)."""
    last = (trainer.step, time.perf_counter())

    def parked() -> bool:
        nonlocal last
        if trainer.step != last[0]:
            last = (trainer.step, time.perf_counter())
        return time.perf_counter() - last[1] >= quiet_seconds

    run_events_for(0, done=parked)


def run_events_for(seconds: float, done=lambda: True, limit: float = 180) -> None:
    """Let the event loop run for `seconds`, and on until done() (at most `limit` seconds)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop, poll, began = QEventLoop(), QTimer(interval=50), time.perf_counter()

    def check() -> None:
        waited = time.perf_counter() - began
        if (waited >= seconds and done()) or waited > limit:
            loop.quit()

    poll.timeout.connect(check)
    poll.start()
    loop.exec()
    poll.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=PRESETS, default="baby")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--prompt-len", type=int, default=None)
    parser.add_argument("--headless", metavar="JOB", help=argparse.SUPPRESS)  # see run_headless
    args = parser.parse_args()
    if args.headless:
        run_headless(args.headless)
        return 0
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

    # 2) training in the window with its views refreshing as the weights move (nobody typing)
    # against the same trainer headless, alternated ROUNDS times in this one process, so that
    # the machine's drift hits both alike; the window's run is paused while the headless one
    # trains (ROUNDS rounds of --seconds / ROUNDS each, at least 4 step reports in the window)
    watching_rates, headless_rates = [], []
    share = args.seconds / ROUNDS
    for _ in range(ROUNDS):
        rates.clear()
        run_events_for(max(share, 6), done=lambda: len(rates) >= 4)
        watching_rates.append(statistics.median(rates[len(rates) // 5 :]))
        window.session.pause()
        step_seconds = train_config.batch_size * T / watching_rates[-1]
        wait_until_parked(window.session.current.trainer, max(0.3, 1.5 * step_seconds))
        headless_rates.append(
            headless_tokens_per_s(model_config, train_config, max(share, 6))
        )
        window.session.resume()
    watching, headless = statistics.median(watching_rates), statistics.median(headless_rates)
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
    rounds = ", ".join(
        f"{w:,.0f} vs {h:,.0f}" for w, h in zip(watching_rates, headless_rates, strict=True)
    )
    print(f"training, in the window with views refreshing vs headless, by round: {rounds}")
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
