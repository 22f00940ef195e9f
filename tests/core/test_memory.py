"""glibc's allocator: big blocks reused while training, freed memory handed back after."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from headwatch.core.performance import release_free_memory

ROOT = Path(__file__).resolve().parents[2]

# A thread that allocates and frees two 48 MB activations, as a training step does (above glibc's
# largest mmap threshold, as the lecture preset's attention weights are), 16 times; prints the
# page faults of the last 4 times. (The first 4-6 steps grow the heap: posix_memalign's slack keeps
# a freed block from taking the next one of the same size until freed neighbours merge with it.)
# Its own process: the setting is process-wide.
REUSE = r"""
import resource, sys, threading
from headwatch.core.performance import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()  # first thing, as gui.app.main does
import torch
faults = []
def step():
    for _ in range(16):
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        activations = [torch.ones(48 << 20, dtype=torch.uint8) for _ in range(2)]  # written
        del activations
        faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
thread = threading.Thread(target=step)
thread.start()
thread.join()
print(sum(faults[-4:]))
"""


def last_steps_faults(mode: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", REUSE, mode], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_memory_a_training_thread_reuses_its_big_blocks_instead_of_faulting_them_in_again():
    pages = 4 * 2 * (48 << 20) // 4096  # over the 4 steps
    assert last_steps_faults("default") > pages // 4  # mapped fresh and zero-filled every time
    assert last_steps_faults("keep") < pages // 50


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_memory_a_thread_freed_goes_back_to_the_system():
    figures: dict[str, float] = {}

    kept: list[bytearray] = []

    def churn() -> None:  # in a thread, as the window's inspection thread: its own arena
        blocks = [bytearray(100_000) for _ in range(2_000)]  # 200 MB under the mmap threshold
        kept.extend(blocks[::20])  # a few survivors pin the arena: no automatic trim at its top
        del blocks
        figures["freed"] = resident_mb()

    thread = threading.Thread(target=churn)
    thread.start()
    thread.join()
    assert release_free_memory()
    released = resident_mb()
    assert figures["freed"] > released + 100, (figures, released)  # kept until asked
    kept.clear()
