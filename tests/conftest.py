"""Shared fixtures: headless Qt, private data folders, and a guard against leaked threads."""

from __future__ import annotations

import os
import threading
import weakref

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own data/cache/config folders, never the user's."""
    home = tmp_path_factory.mktemp("headwatch-home")
    monkeypatch.setenv("HEADWATCH_HOME", str(home))
    # The built-in corpus is expensive to build; share one cache across the session.
    monkeypatch.setenv("HEADWATCH_CACHE", str(_shared_cache(tmp_path_factory)))


_CACHE: list = []


def _shared_cache(factory):
    if not _CACHE:
        _CACHE.append(factory.mktemp("headwatch-cache"))
    return _CACHE[0]


# --- QThread guard (after napari's _dangling_qthreads) -------------------------------------
_started_qthreads: weakref.WeakSet = weakref.WeakSet()


def _install_qthread_tracker() -> bool:
    try:
        from PySide6.QtCore import QThread
    except ImportError:  # pragma: no cover - Qt is a hard dependency of the app
        return False
    if getattr(QThread, "_headwatch_tracked", False):
        return True
    original_start = QThread.start

    def tracked_start(self, *args, **kwargs):
        _started_qthreads.add(self)
        return original_start(self, *args, **kwargs)

    QThread.start = tracked_start
    QThread._headwatch_tracked = True
    return True


@pytest.fixture(autouse=True)
def _dangling_threads(request):
    """Fail any test that leaves a QThread or a Python thread running."""
    tracking = _install_qthread_tracker()
    before = set(threading.enumerate())
    yield
    if tracking:
        running = []
        for thread in list(_started_qthreads):
            try:
                if thread.isRunning():
                    running.append(thread)
            except RuntimeError:  # C++ object already deleted: it is not running
                continue
        if running:
            # wait them out, however long a loaded machine takes: a thread still working in
            # the next test crashes it (a model built while that test's objects are collected)
            for thread in running:
                thread.quit()
                thread.wait(120_000)
            pytest.fail(f"test left {len(running)} QThread(s) running: {running}")
    # Foreign threads (QThreads running Python) show up as _DummyThread, forever "alive": skip.
    leaked = [
        t
        for t in threading.enumerate()
        if t not in before and not isinstance(t, threading._DummyThread) and t.is_alive()
    ]
    for thread in leaked:
        thread.join(timeout=120)
    leaked = [t for t in leaked if t.is_alive()]
    if leaked:
        pytest.fail(f"test left Python thread(s) running: {[t.name for t in leaked]}")
