"""The status bar's account of a run followed from another process (gui/follow_controller.py):
what it is doing, and the action that stops following.

While the run is trained elsewhere the action reads "Stop following". Once its writer has ended
or died nothing is being trained, so it reads "Close followed run": the views keep the run's last
weights, the line beside it says how the run ended, and closing only stops watching its folder
(which is watched until then because another process may resume the run).
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from headwatch.gui.messages import FollowStatus

STOP_TEXT = "Stop f&ollowing"
CLOSE_TEXT = "Close f&ollowed run"


class FollowBar(QWidget):
    """The followed run's status line and a button for `action`, the stop / close action that
    the File menu shows too (its text, tooltip and enabled state are set here; what triggering
    it does is the owner's to wire). Hidden while nothing is followed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("followBar")
        self.action = QAction(STOP_TEXT, self)
        self.label = QLabel()
        self.label.setObjectName("followStatus")
        self.button = QToolButton()
        self.button.setObjectName("stopFollowButton")
        self.button.setDefaultAction(self.action)  # the button says and does what the menu does
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.button)
        self.set_status(FollowStatus("", "off", ""))

    def set_status(self, status: FollowStatus) -> None:
        """Show where following stands; state "off" hides the bar and disables the action."""
        self.label.setText(status.text)
        self.label.setToolTip(status.folder)
        if status.ended:
            self.action.setText(CLOSE_TEXT)
            tip = f"Stop watching {status.folder}; the run stays on show"
        else:
            self.action.setText(STOP_TEXT)
            tip = f"Stop following {status.folder}; the run stays on show"
        self.action.setToolTip(tip if status.active else "")
        self.action.setEnabled(status.active)
        self.setVisible(status.active)
