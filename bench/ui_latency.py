"""Responsiveness while training: keystroke -> attention grid repainted, and event-loop stalls.

    python bench/ui_latency.py [--preset baby|lecture] [--seconds 20] [--rounds 8] [--prompt-len N]
                               [--lens closed|open|alternate] [--train-niceness N]

Offscreen app, training running at the preset; one character typed every 100 ms (the prompt is
a sliding window of --prompt-len characters, so T stays fixed). Measures keystroke -> the grid's
next paint showing that prompt (p50 / p95 / max), the largest gap seen by a 10 ms QTimer, the
grid redraw alone (set_data + paint) at the preset's size, and the trainer's tokens/s inside
the app against the same trainer headless (in another process), in alternated rounds: the window
with its views refreshing as the weights move and nobody typing; headless, the window's run
paused; the window while typing. --lens open types with the Lens tab on show (the logit lens
computed with every inspection and painted): a keystroke then counts until the lens has painted
that prompt; --lens alternate alternates the typing rounds between the tab on show and not.
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

from bench.offscreen import offscreen_window  # noqa: E402
from headwatch.core import performance  # noqa: E402
from headwatch.core.performance import keep_freed_memory  # noqa: E402

PRESETS = {"baby": 64, "lecture": 256}
ROUNDS = 8  # of window watching / headless / window typing, alternated (--rounds)
MIN_REPORTS = 3  # step reports in a round, at least (a lecture step takes seconds)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def round_rate(reports: list[tuple[int, float]], tokens_per_step: int) -> float:
    """Tokens/s over a round's steps, from its first to its last (step, training seconds)
    report: every step counted once, evaluations and the pauses between rounds left out."""
    (first_step, first_s), (last_step, last_s) = reports[0], reports[-1]
    return (last_step - first_step) * tokens_per_step / (last_s - first_s)


class HeadlessTrainer:
    """The same trainer alone in another process, trained in rounds on request.

    One process for all rounds, warmed up once, so that each round is as short as the window's
    and the rounds can alternate often: this machine's speed drifts by ±20 % within a minute, and
    a fresh process per round paid its start-up (first steps' page faults) in every round. Another
    process, not a thread here: the window's paused run keeps its OpenMP helpers in this one, and
    with more of those than cores libgomp stops spinning, which would slow the headless side."""

    def __init__(self, model_config, train_config) -> None:
        job = {"model": model_config.to_dict(), "train": train_config.to_dict()}
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--headless", json.dumps(job)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.process.stdout.readline()  # "ready": built and warmed up

    def tokens_per_s(self, seconds: float) -> float:
        """Train for `seconds` (MIN_REPORTS steps at least); tokens/s over the round's steps."""
        self.process.stdin.write(f"{seconds}\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def run_headless(job_json: str) -> None:
    """The --headless entry: one trainer, paused between rounds; for each line of stdin (a number
    of seconds) it trains that long (and MIN_REPORTS steps at least), and prints the tokens/s
    over the round's steps (round_rate)."""
    from headwatch.core.control import SnapshotBox, TrainControl
    from headwatch.core.corpus import builtin_corpus
    from headwatch.core.performance import (
        TRAIN_THREADS,
        keep_gui_thread_serial,
        use_torch_threads,
    )
    from headwatch.core.trainer import GPTConfig, TrainConfig, Trainer

    keep_gui_thread_serial()  # this thread builds the model, as the app's GUI thread does

    class ParkingControl(TrainControl):
        """Tells when a pause has taken hold: the step in flight is done, the trainer waits."""

        def __init__(self) -> None:
            super().__init__()
            self.parked = threading.Event()

        def resume(self) -> None:
            self.parked.clear()
            super().resume()

        def wait_while_paused(self) -> None:
            self.parked.set()
            super().wait_while_paused()

    job = json.loads(job_json)
    model_config, train_config = GPTConfig(**job["model"]), TrainConfig(**job["train"])
    trainer = Trainer(builtin_corpus(), model_config, train_config, snapshots=SnapshotBox())
    tokens_per_step = train_config.batch_size * model_config.block_size
    control, reports = ParkingControl(), []

    def train() -> None:
        use_torch_threads(TRAIN_THREADS)  # as the app's training thread does
        for p in trainer.run(control):
            if not p.is_eval:
                reports.append((p.step, p.elapsed))

    worker = threading.Thread(target=train)
    began = time.perf_counter()
    worker.start()
    while time.perf_counter() - began < 3 or len(reports) < 2:  # warm-up
        time.sleep(0.05)
    control.pause()
    control.parked.wait()
    print("ready", flush=True)
    for line in sys.stdin:
        reports.clear()
        started = time.perf_counter()
        control.resume()
        while time.perf_counter() - started < float(line) or len(reports) < MIN_REPORTS:
            time.sleep(0.05)
        control.pause()
        # the step in flight goes on after the pause (seconds at the lecture preset): answer
        # only once it is done, or the window's next round would share the cores with it
        control.parked.wait()
        print(round_rate(reports, tokens_per_step), flush=True)
    control.stop()
    worker.join()


def wait_until_parked(step, quiet_seconds: float) -> None:
    """Run the event loop until the paused run's step() stood still for quiet_seconds (the step
    in flight when the pause came has ended and been reported)."""
    last = (step(), time.perf_counter())

    def parked() -> bool:
        nonlocal last
        if step() != last[0]:
            last = (step(), time.perf_counter())
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
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--lens", choices=("closed", "open", "alternate"), default="closed")
    parser.add_argument(
        "--train-niceness", type=int, metavar="N", help="the training thread's, for this run"
    )
    parser.add_argument("--headless", metavar="JOB", help=argparse.SUPPRESS)  # see run_headless
    args = parser.parse_args()
    keep_freed_memory()  # as gui.app.main does first (the headless trainer too)
    if args.headless:
        run_headless(args.headless)
        return 0
    prompt_len = args.prompt_len or PRESETS[args.preset]
    if args.train_niceness is not None:  # read when the training thread starts
        performance.TRAIN_NICENESS = args.train_niceness
    os.environ.setdefault("HEADWATCH_HOME", tempfile.mkdtemp(prefix="headwatch-bench-"))

    import numpy as np
    import torch
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer

    from headwatch.gui.attention_grid import AttentionGrid

    print(
        f"$ python bench/ui_latency.py --preset {args.preset} --seconds {args.seconds:g} "
        f"--rounds {args.rounds} --lens {args.lens}; training at nice "
        f"+{performance.TRAIN_NICENESS}"
    )
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, Qt offscreen"
    )
    app, window = offscreen_window("1600x1000")
    while window.controller.corpus is None:
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
    verse = ("ROMEO:\nBut soft, what light through yonder window breaks? It is the east, and "
             "Juliet is the sun. Arise, fair sun, and kill the envious moon. ")  # fmt: skip
    # typed round and round: a lecture run types 1,000-1,400 characters, and a prompt cut short by
    # the end of the text would change T (and the grid's geometry) at every keystroke
    text = verse * (2 + prompt_len // len(verse))

    def prompt_at(position: int) -> str:
        """The prompt_len characters typed before `position` (counted from the start)."""
        start = (position - prompt_len) % len(verse)
        return text[start : start + prompt_len]

    typed_at: dict[str, float] = {}
    lens_typed_at: dict[str, float] = {}  # the same keystrokes, waiting for the lens's paint
    # keystroke latencies: to the grid's paint with the Lens tab closed and open, and with it
    # open, to the end of the lens's paint
    by_lens: dict[str, list[float]] = {"closed": [], "open": [], "open, lens painted": []}
    lens = {"now": "open" if args.lens == "open" else "closed"}
    gaps: list[float] = []
    reports: list[tuple[int, float]] = []  # (step, training seconds) of each step report
    viewport = window.attention_grid._view.viewport()

    class PaintWatch(QObject):
        """Keystroke -> the grid's paint begins; with the Lens tab open, also -> the lens's
        paint ends."""

        def eventFilter(self, obj, event) -> bool:  # noqa: N802
            inspection = window.controller.last_inspection
            if event.type() != QEvent.Type.Paint or inspection is None:
                return False
            waiting, kind, painted = typed_at, lens["now"], False
            if obj is lens_grid:
                if lens["now"] != "open" or inspection.lens is None:
                    return False
                obj.event(event)  # the paint itself, timed to its end
                waiting, kind, painted = lens_typed_at, "open, lens painted", True
            shown = "".join(inspection.tokens)
            if shown in waiting:
                # this paint serves its prompt and every one typed before it (those were
                # skipped for this newer one): each waited from its keystroke until now
                now, since = time.perf_counter(), waiting[shown]
                for prompt in [k for k, t in waiting.items() if t <= since]:
                    by_lens[kind].append((now - waiting.pop(prompt)) * 1000)
            return painted

    watch = PaintWatch()
    viewport.installEventFilter(watch)
    lens_grid = window.lens_panel.grid
    lens_grid.installEventFilter(watch)

    def show_lens(shown: bool) -> None:
        typed_at.clear()  # a keystroke typed before the switch counts for neither
        lens_typed_at.clear()
        lens["now"] = "open" if shown else "closed"
        window.analysis_tabs.setCurrentIndex(0)  # Predictions
        if shown:
            window.analysis_tabs.setCurrentWidget(window.lens_panel)

    show_lens(args.lens == "open")
    window.controller.stepsReady.connect(lambda b: reports.append((b.step, b.elapsed)))
    window.prompt_edit.setText(prompt_at(prompt_len).replace("\n", "\\n"))
    window.train()

    # 2) rounds, alternated so that the machine's drift hits all three alike: the window training
    # with its views refreshing as the weights move (nobody typing); the same trainer headless
    # (the window's run paused); the window training while one character is typed every 100 ms.
    # --seconds of typing in all, in --rounds rounds; each round MIN_REPORTS step reports at least.
    headless_trainer = HeadlessTrainer(model_config, train_config)
    tokens_per_step = train_config.batch_size * T
    share = args.seconds / args.rounds
    by_kind: dict[str, list[float]] = {"watching": [], "headless": [], "typing": []}
    position = prompt_len
    last_tick = time.perf_counter()

    def type_one() -> None:
        nonlocal position
        position += 1
        prompt = prompt_at(position)
        typed_at[prompt] = time.perf_counter()
        if lens["now"] == "open":
            lens_typed_at[prompt] = typed_at[prompt]
        window.prompt_edit.setText(prompt.replace("\n", "\\n"))

    def tick() -> None:
        nonlocal last_tick
        now = time.perf_counter()
        gaps.append((now - last_tick) * 1000)
        last_tick = now

    typing, ticking = QTimer(interval=100), QTimer(interval=10)
    typing.timeout.connect(type_one)
    ticking.timeout.connect(tick)

    def window_round(kind: str) -> None:
        nonlocal last_tick
        reports.clear()
        if kind == "typing":
            last_tick = time.perf_counter()
            typing.start()
            ticking.start()
        run_events_for(share, done=lambda: len(reports) >= MIN_REPORTS)
        typing.stop()
        ticking.stop()
        by_kind[kind].append(round_rate(reports, tokens_per_step))

    run_events_for(2)  # the window's training warms up
    for n in range(args.rounds):
        if args.lens == "alternate":
            show_lens(n % 2 == 0)
        window_round("watching")
        window.controller.pause()
        step_seconds = tokens_per_step / by_kind["watching"][-1]
        wait_until_parked(lambda: window.controller.current.step, max(0.3, 1.5 * step_seconds))
        by_kind["headless"].append(headless_trainer.tokens_per_s(share))
        window.controller.resume()
        window_round("typing")
    headless_trainer.close()
    window.close()
    run_events_for(0, done=window.controller.threads_ended, limit=600)
    headless = statistics.median(by_kind["headless"])
    shares = {  # each window round against the headless round beside it: drift cancels
        kind: [w / h for w, h in zip(by_kind[kind], by_kind["headless"], strict=True)]
        for kind in ("watching", "typing")
    }
    summary = {
        kind: f"{statistics.median(s):.0%} (mean {statistics.mean(s):.0%})"
        for kind, s in shares.items()
    }

    latencies = by_lens["open, lens painted" if args.lens == "open" else "closed"]
    if args.lens == "alternate":
        print("\nkeystroke -> repainted, typing rounds alternated, Lens tab:")
        for state, values in by_lens.items():
            print(
                f"  {state:>18}: {len(values)} keystrokes, p50 {percentile(values, 0.5):.1f} ms, "
                f"p95 {percentile(values, 0.95):.1f} ms, max {max(values):.1f} ms"
            )
    print(f"\nkeystrokes measured: {len(latencies)} (prompt of {prompt_len} chars, T={T})")
    print(
        f"keystroke -> {'lens' if args.lens == 'open' else 'grid'} repainted: "
        f"p50 {percentile(latencies, 0.5):.1f} ms, "
        f"p95 {percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms"
    )
    print(f"event loop: largest 10 ms-timer gap {max(gaps):.1f} ms (stall)")
    over = sum(gap > 30 for gap in gaps) * 60_000 / sum(gaps)
    print(
        f"event loop gaps: p99 {percentile(gaps, 0.99):.1f} ms, p99.9 "
        f"{percentile(gaps, 0.999):.1f} ms, over 30 ms {over:.1f} a minute ({len(gaps):,} ticks)"
    )
    print(
        f"grid redraw alone ({L}x{H} heads of {T}x{T}, set_data + paint): "
        f"median {statistics.median(redraws):.1f} ms, max {max(redraws):.1f} ms"
    )
    by_round = zip(*by_kind.values(), strict=True)
    rounds = ", ".join(f"{w:,.0f}/{h:,.0f}/{t:,.0f}" for w, h, t in by_round)
    print(f"training tok/s by round, window watching / headless / window typing: {rounds}")
    print(
        f"training: {headless:,.0f} tok/s headless (median); in the app, the median of each "
        f"round's share of the headless round beside it: {summary['watching']} with the views "
        f"refreshing, {summary['typing']} while typing"
    )
    print(
        "\n| preset | prompt | keystroke p50 / p95 / max | max stall | grid redraw "
        "| in-app training, watching | in-app training, typing |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.preset} | {prompt_len} | {percentile(latencies, 0.5):.0f} / "
        f"{percentile(latencies, 0.95):.0f} / {max(latencies):.0f} ms | {max(gaps):.0f} ms | "
        f"{statistics.median(redraws):.1f} ms | {summary['watching']} of {headless:,.0f} tok/s "
        f"| {summary['typing']} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
