"""Handing freed memory back to the operating system (glibc)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from core.memory import release_free_memory


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
