"""How the window shares the CPU with training: the GUI thread runs torch serially, and the
training thread (with the OpenMP helpers it starts) runs at a lower priority than the window."""

from __future__ import annotations

import gc
import os
import sys
import threading
from pathlib import Path

import pytest
import torch

from headwatch.core.performance import (
    TRAIN_NICENESS,
    TRAIN_THREADS,
    give_way_to_the_window,
    use_torch_threads,
)

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's"
)


def nice_of(tid: int) -> int:
    # /proc/<pid>/task/<tid>/stat: the command may hold spaces, so count fields after its ")"
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])  # field 19 of the whole line: nice


def threads_named(prefix: str) -> list[int]:
    return [
        int(tid)
        for tid in os.listdir("/proc/self/task")
        if Path(f"/proc/self/task/{tid}/comm").read_text().startswith(prefix)
    ]


@linux_only
def test_giving_way_lowers_only_the_calling_thread():
    main_nice = nice_of(threading.get_native_id())
    seen: dict[str, int] = {}

    def worker() -> None:
        give_way_to_the_window()
        seen["worker"] = nice_of(threading.get_native_id())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["worker"] == min(19, main_nice + TRAIN_NICENESS)
    assert nice_of(threading.get_native_id()) == main_nice


@linux_only
def test_the_window_trains_below_its_own_priority_with_all_threads(qtbot, window):
    assert torch.get_num_threads() == 1  # the GUI thread: serial (core.performance explains why)
    window.prompt_edit.setText("ROMEO:")
    window.setup.train_button.click()
    qtbot.waitUntil(lambda: window.controller.current is not None, timeout=10_000)
    run_id = window.controller.current.run_id
    qtbot.waitUntil(lambda: window.loss_plot.train_count(run_id) >= 2, timeout=30_000)
    training = threads_named("train-")
    assert training, "the training thread is named after its run"
    main_nice = nice_of(threading.get_native_id())
    assert {nice_of(tid) for tid in training} == {min(19, main_nice + TRAIN_NICENESS)}
    assert all(nice_of(tid) == main_nice for tid in threads_named("inspect"))
    assert TRAIN_THREADS >= 1


def test_a_threads_torch_count_survives_another_thread_setting_its_own():
    # torch sets a thread's count lazily from the last count any thread set: a viewing thread
    # that set 1 before training set 2 would otherwise come up with 2 at its first op
    seen: dict[str, int] = {}
    ready, go = threading.Event(), threading.Event()

    def viewer() -> None:
        use_torch_threads(1)
        ready.set()
        go.wait()
        torch.ones(1000).sum()  # its first op comes after the trainer set its count
        seen["threads"] = torch.get_num_threads()

    thread = threading.Thread(target=viewer)
    thread.start()
    ready.wait()
    trainer = threading.Thread(target=use_torch_threads, args=(2,))
    trainer.start()
    trainer.join()
    go.set()
    thread.join()
    assert seen["threads"] == 1


def test_what_the_window_built_at_start_is_exempt_from_full_garbage_collections(window):
    # torch, Qt and the widgets frozen: a full collection no longer walks them (they made each
    # one hold the GIL for 120-240 ms, every thread stopped, a keystroke waiting)
    assert window.controller.is_ready()
    assert gc.get_freeze_count() > 50_000  # torch alone brings ~200k objects
