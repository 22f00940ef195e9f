"""The window's work while training, counted in CPU time and calls: robust to a busy machine.

    python bench/gui_work.py [--preset baby|lecture] [--seconds 4] [--rounds 4] [--profile]

Wall-clock latencies move with whatever else the machine runs; the CPU time each thread spends
and what it calls do not. Offscreen app training at the preset; rounds alternate the window
watching (views refreshing, nobody typing) and typing one character every 100 ms into a prompt
of the preset's block size (a sliding window, so T stays fixed). Per round: each thread's CPU
time (/proc, so also the viewing threads' and training's OpenMP helpers') and the paints per
widget class. Printed: the medians over rounds per second watching and per keystroke (typing's
excess over watching, per keystroke). --profile adds a cProfile of the GUI thread while typing.

Runs on this tree and on older ones (it imports through whichever package layout is installed),
so two versions can be compared: `cd OLD && .venv/bin/python /path/to/bench/gui_work.py`.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

PRESETS = {"baby": 64, "lecture": 256}
TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of this process's threads, by kind: the GUI (main) thread,
    "inspect", "analyse", and "training" (its thread and its OpenMP helpers: all the rest)."""
    by_kind: dict[str, float] = collections.defaultdict(float)
    main = threading.get_native_id()
    for task in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{task}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / TICKS
        kind = "gui" if int(task) == main else name if name in ("inspect", "analyse") else "train"
        by_kind[kind] += seconds
    return by_kind


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=PRESETS, default="baby")
    parser.add_argument("--seconds", type=float, default=4.0, help="per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--profile", action="store_true", help="cProfile the GUI thread typing")
    parser.add_argument(
        "--replay", type=int, default=0, metavar="N",
        help="no training: show N prompts' inspections again and again, the GUI thread's CPU "
        "per keystroke (showing one, then painting), in --rounds rounds",
    )  # fmt: skip
    args = parser.parse_args()
    try:
        from headwatch.core.performance import keep_freed_memory
    except ImportError:  # an older tree
        from core.memory import keep_freed_memory
    keep_freed_memory()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HEADWATCH_HOME", tempfile.mkdtemp(prefix="headwatch-bench-"))
    try:
        from headwatch.gui.app import stylesheet
        from headwatch.gui.main_window import MainWindow
    except ImportError:
        from gui.app import stylesheet
        from gui.main_window import MainWindow
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyleSheet(stylesheet())
    window = MainWindow(settings_path=Path(os.environ["HEADWATCH_HOME"]) / "bench.ini")
    window.resize(1600, 1000)
    window.show()
    owner = getattr(window, "controller", window)
    while owner.corpus is None:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    window.setup.apply_preset(args.preset)
    window.setup.iters_spin.setValue(10**6)

    def step() -> int:
        if hasattr(window, "controller"):
            return window.controller.current.step
        return window.session.current.trainer.step

    prompt_len = PRESETS[args.preset]
    verse = ("ROMEO:\nBut soft, what light through yonder window breaks? It is the east, and "
             "Juliet is the sun. Arise, fair sun, and kill the envious moon. ")  # fmt: skip
    text = verse * (2 + prompt_len // len(verse))
    position = prompt_len

    def type_one() -> None:
        nonlocal position
        position += 1
        start = (position - prompt_len) % len(verse)
        window.prompt_edit.setText(text[start : start + prompt_len].replace("\n", "\\n"))

    paints: collections.Counter[str] = collections.Counter()
    rows: dict[str, list[dict]] = {"watching": [], "typing": []}

    # the GUI thread's CPU from one event's delivery to the next: the dearest events
    heavy: list[tuple[float, str]] = []
    last_event = [time.thread_time(), ""]

    class PaintCounter(QObject):
        def eventFilter(self, obj, event) -> bool:  # noqa: N802
            if event.type() == QEvent.Type.Paint:
                paints[type(obj).__name__] += 1
            if recording and threading.get_native_id() == main_thread:
                now = time.thread_time()
                heavy.append(((now - last_event[0]) * 1000, last_event[1]))
                where = len(rows["watching"]) + len(rows["typing"]), time.perf_counter()
                what = f"{_path(obj)} {event.type().name}{_latest_signal()}"
                last_event[:] = [
                    now,
                    f"{what}, round {where[0]} at {where[1] - round_began[0]:.2f} s",
                ]
            return False

    main_thread, recording, round_began = threading.get_native_id(), False, [0.0]
    arrived: list[tuple[float, str]] = [(0.0, "")]  # the controller's last signal, and when

    def _latest_signal() -> str:
        at, name = arrived[-1]
        return f" (after {name} {1000 * (time.perf_counter() - at):.0f} ms ago)" if name else ""

    collections_ms: dict[int, list[float]] = collections.defaultdict(list)
    gc_began = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if not recording:
            return
        if phase == "start":
            gc_began[0] = time.thread_time()
        else:
            collections_ms[info["generation"]].append((time.thread_time() - gc_began[0]) * 1000)
            if info["generation"] == 2:
                arrived.append(
                    (time.perf_counter(), f"a full gc of {collections_ms[2][-1]:.0f} ms")
                )

    gc.callbacks.append(on_gc)
    grid = window.attention_grid
    if hasattr(grid, "_fit_layout"):  # the grid's relayout (new axis widths, a resize)
        fit_layout = grid._fit_layout

        def traced_fit_layout(size) -> None:
            fit_layout(size)
            arrived.append((time.perf_counter(), "the grid's relayout"))

        grid._fit_layout = traced_fit_layout
    owner_signals = ("headsAnalysed", "evaluated", "runChanged", "stepsReady", "inspected")
    for name in owner_signals:
        if hasattr(owner, name):
            getattr(owner, name).connect(
                lambda *_a, n=name: arrived.append((time.perf_counter(), n))
            )

    counter = PaintCounter()
    app.installEventFilter(counter)

    def run_events_for(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    if args.replay:
        return replay(app, window, type_one, args)
    typing = QTimer(interval=100)
    typing.timeout.connect(type_one)
    type_one()
    window.train()
    run_events_for(2)
    while step() < 5:  # training warms up
        run_events_for(0.5)
    # timed by the GUI thread's own CPU time: the time slices other processes take cost nothing
    profile = cProfile.Profile(time.thread_time) if args.profile else None
    for index in range(2 * args.rounds):
        kind = "typing" if index % 2 else "watching"
        paints.clear()
        typed_before, step_before = position, step()
        cpu_before, wall_before = thread_cpu(), time.perf_counter()
        recording = True
        round_began[0] = time.perf_counter()
        last_event[0] = time.thread_time()
        if kind == "typing":
            typing.start()
            if profile is not None:
                profile.enable()
        run_events_for(args.seconds)
        if profile is not None:
            profile.disable()
        typing.stop()
        recording = False
        cpu_after, wall = thread_cpu(), time.perf_counter() - wall_before
        row = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after}
        row.update(wall=wall, keys=position - typed_before, steps=step() - step_before)
        row.update({f"paint {name}": n for name, n in paints.items()})
        rows[kind].append(row)
    young = gc.get_objects()  # what a full collection walks: all but the frozen start-up set
    kinds = collections.Counter(type(o).__name__ for o in young)
    print(f"objects a full collection walks: {len(young):,} (frozen at start-up: "
          f"{gc.get_freeze_count():,}); most common: "
          + ", ".join(f"{name} {n:,}" for name, n in kinds.most_common(8)))  # fmt: skip
    modules = collections.Counter(
        getattr(o, "__module__", None) or "?" for o in young if type(o).__name__ == "function"
    )
    print("their functions by module: "
          + ", ".join(f"{m} {n:,}" for m, n in modules.most_common(8)))  # fmt: skip
    del young
    window.close()
    deadline = time.perf_counter() + 120
    ended = getattr(getattr(window, "controller", None), "threads_ended", lambda: True)
    while not ended() and time.perf_counter() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

    def median(kind: str, key: str, per: str = "wall") -> float:
        return statistics.median(r.get(key, 0.0) / max(r[per], 1e-9) for r in rows[kind])

    print(f"preset {args.preset}, {args.rounds} rounds of {args.seconds:g} s each kind, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    keys = statistics.median(r["keys"] / r["wall"] for r in rows["typing"])
    print(f"keystrokes per second typing: {keys:.2f}")
    print("CPU ms per second (watching / typing) and typing's excess per keystroke:")
    for kind in ("gui", "inspect", "analyse", "train"):
        watching, typing_ = median("watching", kind) * 1000, median("typing", kind) * 1000
        print(
            f"  {kind:8s} {watching:7.1f} / {typing_:7.1f}   {(typing_ - watching) / keys:6.2f} ms"
        )
    steps_w, steps_t = median("watching", "steps"), median("typing", "steps")
    print(f"steps per second: watching {steps_w:.2f}, typing {steps_t:.2f}")
    names = sorted(
        {k for r in rows["typing"] + rows["watching"] for k in r if k.startswith("paint")}
    )
    print("paints per second (watching / typing):")
    for name in names:
        print(f"  {name[6:]:28s} {median('watching', name):6.1f} / {median('typing', name):6.1f}")
    for generation, times in sorted(collections_ms.items()):
        print(f"gc generation {generation}: {len(times)} collections, "
              f"{sum(times):.0f} ms in all, the longest {max(times):.1f} ms")  # fmt: skip
    heavy.sort(reverse=True)
    print("the GUI thread's dearest events (CPU ms until the next event, the event before):")
    for ms, what in heavy[:15]:
        print(f"  {ms:6.1f}  {what}")
    if profile is not None:
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(40)
        print(out.getvalue())
    return 0


def _path(obj) -> str:
    """An object and the classes (or names) of its parents: 'QHeaderView<CompareView'."""
    names = []
    while obj is not None and len(names) < 4:
        names.append(obj.objectName() or type(obj).__name__)
        obj = obj.parent() if hasattr(obj, "parent") else None
    return "<".join(names)


def replay(app, window, type_one, args) -> int:
    """The GUI thread's own work per keystroke, without training or typing's threads: N
    inspections collected first, then shown in turn (the window's _on_inspected, then the paint
    it causes), timed by the GUI thread's CPU time."""
    from PySide6.QtCore import QEventLoop

    owner = getattr(window, "controller", window)
    inspections = []
    for _ in range(args.replay):
        type_one()
        wanted = window.prompt_edit.text().replace("\\n", "\n")
        while owner.last_inspection is None or "".join(owner.last_inspection.tokens) != wanted:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        inspections.append(owner.last_inspection)
    for _ in range(20):  # settle: the last paints and layouts
        app.processEvents()
    profile = cProfile.Profile(time.thread_time) if args.profile else None
    per_key = []
    for _ in range(args.rounds):
        if profile is not None:
            profile.enable()
        began = time.thread_time()
        # the controller hands an inspection to every view showing one (an older tree: the window)
        show = getattr(owner, "_on_inspected", window._on_inspected)
        for inspection in inspections:
            show(inspection)
            app.processEvents()  # the paint it asked for
        per_key.append((time.thread_time() - began) * 1000 / len(inspections))
        if profile is not None:
            profile.disable()
    window.close()
    by_round = ", ".join(f"{ms:.2f}" for ms in per_key)
    print(
        f"preset {args.preset}: GUI thread CPU per keystroke (show + paint), {len(inspections)} "
        f"prompts, by round: {by_round} ms; median {statistics.median(per_key):.2f} ms; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    if profile is not None:
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        keys = args.rounds * len(inspections)
        print(f"Python calls per keystroke: {stats.total_calls / keys:,.0f}")
        stats.sort_stats("cumulative").print_stats(45)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
