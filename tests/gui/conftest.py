"""A main window on the built-in corpus with small, fast settings; always shut down."""

from __future__ import annotations

import pytest

from headwatch.gui.main_window import MainWindow


def small_settings(window: MainWindow, heads: int = 4) -> None:
    setup = window.setup
    setup.layers_spin.setValue(2)
    setup.embd_spin.setValue(32)
    setup.heads_combo.setCurrentIndex(setup.heads_combo.findText(str(heads)))
    setup.block_spin.setValue(16)
    setup.batch_spin.setValue(8)
    setup.iters_spin.setValue(100_000)
    setup.eval_every_spin.setValue(10)
    setup.eval_iters_spin.setValue(2)
    setup.seed_spin.setValue(3)


def open_window(qtbot, settings_path, **kwargs) -> MainWindow:
    """A shown main window with the built-in corpus loaded and small settings."""
    win = MainWindow(settings_path=settings_path, **kwargs)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.controller.corpus is not None, timeout=60_000)
    small_settings(win)
    return win


def stop_training(qtbot, window: MainWindow) -> None:
    """Stop the run and wait (in the event loop) until its thread has ended."""
    window.controller.stop()
    qtbot.waitUntil(lambda: not window.controller.is_training(), timeout=60_000)


def open_run(qtbot, window: MainWindow, path) -> bool:
    """Open run, waiting (in the event loop) until the run is shown (True) or refused with a
    message (False)."""
    controller, outcome = window.controller, []

    def opened(_run) -> None:
        outcome.append(True)

    def refused(_problem) -> None:
        outcome.append(False)

    controller.runOpened.connect(opened)
    controller.problem.connect(refused)
    try:
        assert controller.open_run(path)
        qtbot.waitUntil(lambda: bool(outcome), timeout=60_000)
    finally:
        controller.runOpened.disconnect(opened)
        controller.problem.disconnect(refused)
    return outcome[0]


def close_window(qtbot, window: MainWindow) -> None:
    """Close the window and wait (in the event loop) until every thread has ended."""
    window.close()
    qtbot.waitUntil(window.controller.threads_ended, timeout=60_000)


@pytest.fixture
def window(qtbot, tmp_path):
    win = open_window(qtbot, tmp_path / "settings.ini")
    controller = win.controller  # pytest-qt deletes the window before this teardown
    yield win
    controller.shutdown()
    qtbot.waitUntil(controller.threads_ended, timeout=60_000)


@pytest.fixture
def window_with(qtbot, tmp_path):
    """window_with(trainer_factory): a window whose runs are built by that factory; shut down
    at teardown."""
    from headwatch.gui.controller import AppController

    controllers = []

    def make(trainer_factory) -> MainWindow:
        controller = AppController(trainer_factory=trainer_factory)
        controllers.append(controller)
        return open_window(qtbot, tmp_path / f"w{len(controllers)}.ini", controller=controller)

    yield make
    for controller in controllers:
        controller.shutdown()
        qtbot.waitUntil(controller.threads_ended, timeout=60_000)
