"""Training in a thread lowered as the window's training thread is, alone and beside another
process that trains: steps per second for each training niceness.

    python bench/contention.py [--niceness 10 5] [--seconds 15] [--rounds 3] [--own-session]
                               [--threads N|auto]

Each round, for each niceness in turn (alternated, so drift falls on every one alike): a thread
lowered by that niceness below the main thread (core.performance.lower_priority, as the window's
training thread) trains the baby preset for --seconds alone, then as long again beside
`headwatch train --preset baby` in another process at the main thread's priority. Prints steps/s
alone and beside it, and their ratio (the median over rounds). How much the window's training
keeps beside other work is what the niceness trades against keystroke latency
(bench/ui_latency.py measures that side).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.train_throughput import BABY, core_trainer  # noqa: E402
from headwatch.core.corpus import builtin_corpus  # noqa: E402
from headwatch.core.performance import (  # noqa: E402
    TRAIN_THREADS,
    ThreadTuner,
    lower_priority,
    use_torch_threads,
)


def steps_per_s(corpus, niceness: int, seconds: float, threads: str | None) -> float:
    """Steps a second of a baby trainer in a new thread `niceness` below this one's priority,
    on `threads` torch threads (None: torch's default, as the window's training; "auto": the
    count core.performance.ThreadTuner picks as it trains, as the window's training does)."""
    done: list[float] = []

    def train() -> None:
        lower_priority(niceness)
        tuner = None
        if threads == "auto":
            use_torch_threads(TRAIN_THREADS)
            tuner = ThreadTuner.for_training("cpu")
        elif threads is not None:
            use_torch_threads(int(threads))
        trainer = core_trainer(corpus, BABY, precision="auto")
        trainer.train_step()  # warm-up: the first step builds kernels
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            began = time.perf_counter()
            trainer.train_step()
            if tuner is not None:
                tuner.step_done(time.perf_counter() - began)
            steps += 1
        done.append(steps / (time.perf_counter() - start))
        if tuner is not None:
            print(f"  auto: {tuner.switches} switches, ended on {tuner.current} threads")

    thread = threading.Thread(target=train, name=f"train-nice-{niceness}")
    thread.start()
    thread.join()
    return done[0]


def competitor(folder: str, own_session: bool) -> subprocess.Popen:
    """`headwatch train --preset baby` in another process, far more steps than a round takes;
    own_session: in a session of its own, as from another terminal (Linux then shares the CPU
    between the two sessions' autogroups first, and nice counts only within one)."""
    command = [sys.executable, "-m", "headwatch", "train", "--preset", "baby", "--out", folder]
    return subprocess.Popen(
        [*command, "--iters", "10000000", "--eval-every", "1000000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=own_session,
        # two threads for good, as another program's: OMP_NUM_THREADS turns its ThreadTuner off
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--niceness", type=int, nargs="+", default=[10, 5], metavar="N")
    parser.add_argument("--seconds", type=float, default=15, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads",
        help="the trainer's torch threads: a number, or auto (the window's choice as it trains); "
        "default torch's",
    )
    parser.add_argument(
        "--own-session", action="store_true", help="the other process in a session of its own"
    )
    args = parser.parse_args()
    import torch

    print(f"$ python bench/contention.py --niceness {' '.join(map(str, args.niceness))} "
          f"--seconds {args.seconds:g} --rounds {args.rounds}"
          f"{' --own-session' if args.own_session else ''}"
          f"{f' --threads {args.threads}' if args.threads else ''}")  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, baby preset")
    corpus = builtin_corpus()
    alone: dict[int, list[float]] = {n: [] for n in args.niceness}
    beside: dict[int, list[float]] = {n: [] for n in args.niceness}
    ratios: dict[int, list[float]] = {n: [] for n in args.niceness}
    with tempfile.TemporaryDirectory(prefix="headwatch-contention-") as home:
        for round_ in range(args.rounds):
            for niceness in args.niceness:
                alone[niceness].append(steps_per_s(corpus, niceness, args.seconds, args.threads))
                other = competitor(f"{home}/run-{round_}-{niceness}", args.own_session)
                try:
                    time.sleep(5)  # its start-up (imports, corpus, model) is not contention
                    beside[niceness].append(
                        steps_per_s(corpus, niceness, args.seconds, args.threads)
                    )
                finally:
                    other.terminate()
                    other.wait()
                ratios[niceness].append(beside[niceness][-1] / alone[niceness][-1])
                print(f"round {round_ + 1}, niceness {niceness}: {alone[niceness][-1]:.1f} "
                      f"steps/s alone, {beside[niceness][-1]:.1f} beside")  # fmt: skip
    print("\n| training niceness | steps/s alone | beside `headwatch train` | kept |")
    print("|---|---|---|---|")
    for n in args.niceness:
        print(f"| {n} | {statistics.median(alone[n]):.1f} | {statistics.median(beside[n]):.1f} | "
              f"{statistics.median(ratios[n]):.1%} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
