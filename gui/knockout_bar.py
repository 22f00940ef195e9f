"""One line over the heads table: which heads are knocked out, how they are replaced (mean- or
zero-ablation), and one button that restores every head."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QWidget

from headwatch.core.formatting import head_names
from headwatch.gui.messages import KnockoutState
from headwatch.gui.widgets import ElidedLabel

ABLATIONS = {
    "mean": "mean-ablation",  # the head's output becomes its mean over validation windows
    "zero": "zero-ablation",
}
# short enough to show whole beside the buttons in a laptop's Heads tab; the badges in the tooltip
_NONE_OUT = "All heads in — tick Out to knock one out"


class KnockoutBar(QWidget):
    """Shows a KnockoutState; asks for a restore or another ablation through signals."""

    restoreRequested = Signal()  # noqa: N815
    ablationChosen = Signal(str)  # noqa: N815 - "mean" or "zero"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("knockoutBar")
        # one line, cut short where narrow (the tooltip has it whole): the table needs the rows
        self._text = ElidedLabel(_NONE_OUT, objectName="knockoutText")
        self._text.setToolTip(
            "Tick Out in the table, or click a head's badge on the attention grid, to knock it "
            "out. Knocked-out heads are replaced in every view of the prompt and in samples; "
            "training and the saved run are never touched"
        )
        self._combo = QComboBox(objectName="ablationCombo")
        for key, text in ABLATIONS.items():
            self._combo.addItem(text, key)
        self._combo.setToolTip(
            "What a knocked-out head's output becomes: its mean over validation windows (what "
            "the head adds whatever the text), or zeros (which removes that too)"
        )
        self._combo.currentIndexChanged.connect(
            lambda i: self.ablationChosen.emit(self._combo.itemData(i))
        )
        self._restore = QPushButton("Restore all heads", objectName="restoreHeadsButton")
        self._restore.setEnabled(False)
        self._restore.clicked.connect(self.restoreRequested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 0)
        layout.addWidget(self._text, 1)
        layout.addWidget(self._combo)
        layout.addWidget(self._restore)

    def set_state(self, state: KnockoutState) -> None:
        """Show the knocked-out heads and the ablation, without emitting ablationChosen."""
        heads = sorted(state.heads)
        if heads:
            self._text.setText(f"Knocked out: {head_names(heads)}")
        else:
            self._text.setText(_NONE_OUT)
        # many heads do not fit beside the buttons: their count reads whole, the tooltip names them
        self._text.set_short_text(f"{len(heads)} heads knocked out" if len(heads) > 1 else "")
        self._restore.setEnabled(bool(heads))
        self._combo.blockSignals(True)
        self._combo.setCurrentIndex(self._combo.findData(state.ablation))
        self._combo.blockSignals(False)

    def text(self) -> str:
        return self._text.text()

    def choose_ablation(self, ablation: str) -> None:
        """Pick an ablation as the user would (emits ablationChosen on a change)."""
        self._combo.setCurrentIndex(self._combo.findData(ablation))
