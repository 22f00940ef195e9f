"""The Train menu and its keys (F5, F6, Shift+F5, Ctrl+F5) work when the setup panel's run
buttons do, and say why not; a change of the run's state sets the buttons once."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QAction, QHelpEvent
from PySide6.QtWidgets import QApplication, QMenu, QToolTip

from headwatch.gui.messages import RunState
from headwatch.gui.setup_panel import CANNOT_START, NO_RUN, RUN_IN_PROGRESS
from tests.gui.conftest import stop_training


def train_menu(window) -> QMenu:
    (menu,) = [m for m in window.findChildren(QMenu) if m.title() == "&Train"]
    return menu


def menu_action(window, text: str) -> QAction:
    """The Train menu's action with this text (e.g. "&Stop")."""
    (action,) = [a for a in train_menu(window).actions() if a.text() == text]
    return action


def press(qtbot, window, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key pressed in the active window, in a field of the setup form."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window.setup.layers_spin, key, modifier)


def test_f5_and_the_train_menu_work_when_the_buttons_do_and_say_why_not(qtbot, window):
    setup, controller = window.setup, window.controller
    train, retrain = window.train_action, window.retrain_action
    pause, stop = menu_action(window, "&Pause / Resume"), menu_action(window, "&Stop")
    assert train.isEnabled() and retrain.isEnabled()
    assert not stop.isEnabled() and stop.toolTip() == NO_RUN == stop.statusTip()

    setup.lr_spin.setValue(0.0)  # let into the box so that the form can say why it will not do
    why = setup.why_not(setup.train_button)
    assert why.startswith(CANNOT_START) and "learning rate" in why
    for action in (train, retrain):
        assert not action.isEnabled()
        assert action.toolTip() == why and action.statusTip() == why
    press(qtbot, window, Qt.Key.Key_F5)
    press(qtbot, window, Qt.Key.Key_F5, Qt.KeyboardModifier.ControlModifier)
    assert window.last_error == "" and not controller.is_training()  # no dialog, no run

    setup.lr_spin.setValue(1e-3)
    assert train.isEnabled() and train.statusTip() == "" and why not in train.toolTip()
    press(qtbot, window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: controller.state is RunState.TRAINING, timeout=10_000)
    assert not train.isEnabled() and train.toolTip() == RUN_IN_PROGRESS
    assert pause.isEnabled() and stop.isEnabled() and retrain.isEnabled()
    press(qtbot, window, Qt.Key.Key_F6)
    assert controller.state is RunState.PAUSED
    # F5 resumes a pause, which needs nothing of the form; Retrain does
    setup.lr_spin.setValue(0.0)
    assert train.isEnabled() and not retrain.isEnabled()
    press(qtbot, window, Qt.Key.Key_F5)
    assert controller.state is RunState.TRAINING
    stop_training(qtbot, window)
    assert not train.isEnabled() and not stop.isEnabled() and window.last_error == ""


def test_the_train_menu_shows_why_a_disabled_action_is_disabled(qtbot, window):
    window.setup.lr_spin.setValue(0.0)
    menu = train_menu(window)
    menu.popup(window.mapToGlobal(window.rect().center()))
    qtbot.waitExposed(menu)
    centre = menu.actionGeometry(window.train_action).center()
    QApplication.sendEvent(menu, QHelpEvent(QEvent.Type.ToolTip, centre, menu.mapToGlobal(centre)))
    assert QToolTip.text() == window.setup.why_not(window.setup.train_button)
    menu.close()


def test_a_change_of_the_runs_state_sets_the_run_buttons_once(qtbot, window):
    setup, controller = window.setup, window.controller
    states = []  # the state each time the run buttons were set
    setup.runButtonsChanged.connect(lambda: states.append(setup.state()))
    window.train()
    qtbot.waitUntil(lambda: controller.state is RunState.TRAINING, timeout=10_000)
    assert states == [RunState.TRAINING]
    states.clear()
    controller.pause()
    assert states == [RunState.PAUSED]
    setup.seed_spin.setValue(setup.seed_spin.value() + 1)  # Retrain would start another run
    states.clear()
    controller.resume()
    # the run's settings came with its state: the hint is still right after the one refresh
    assert states == [RunState.TRAINING] and setup.retrain_hint.isVisibleTo(setup)
    states.clear()
    stop_training(qtbot, window)
    assert states == [RunState.STOPPING, RunState.IDLE]
    assert not setup.retrain_hint.isVisibleTo(setup)
