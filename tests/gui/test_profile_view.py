"""ProfileView (one head against chance) and KnockoutBar (which heads are out, how, restore)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton

from headwatch.gui.knockout_bar import KnockoutBar
from headwatch.gui.messages import KnockoutState
from headwatch.gui.profile_view import ProfileView

CLASSES = ("vowel", "consonant", "space", "upper case")
ROW = {"layer": 1, "head": 0, "label": "spaces", "kind": "char class", "evenness": 0.4,
       "offset": [0.1, 0.2, 0.05], "further": 0.3, "classes": [0.1, 0.2, 0.6, 0.1],
       "same_char": 0.12, "first": 0.03}  # fmt: skip
BASE = {"offset": [0.2, 0.2, 0.2], "further": 0.25, "classes": [0.3, 0.5, 0.15, 0.05],
        "same_char": 0.06, "first": 0.1}  # fmt: skip


def test_profile_view_draws_the_heads_numbers_beside_the_base_rates(qtbot):
    view = ProfileView()
    qtbot.addWidget(view)
    view.resize(420, 360)
    assert view.plotted() == {}
    view.set_profile(1, 0, ROW, BASE, CLASSES)
    drawn = view.plotted()
    assert drawn["head"] == (1, 0)
    assert drawn["offset"] == pytest.approx(ROW["offset"] + [ROW["further"]])
    assert drawn["offset_base"] == pytest.approx(BASE["offset"] + [BASE["further"]])
    assert drawn["offset_names"] == ["0", "1", "2", "further"]
    assert drawn["classes"] == pytest.approx(ROW["classes"])
    assert drawn["class_base"] == pytest.approx(BASE["classes"])
    assert drawn["class_names"] == ["V", "C", "␣", "A"]  # short names
    notes = view.findChild(QLabel, "profileNotes").text()
    assert notes.startswith("Layer 2 · Head 1 — spaces") and "same char 12% (6%)" in notes
    no_further = dict(ROW, further=None)
    view.set_profile(0, 2, no_further, dict(BASE, further=None), CLASSES)  # a short block
    assert view.plotted()["offset_names"] == ["0", "1", "2"]
    assert not view.grab().isNull()
    view.clear()
    assert view.plotted() == {}


def test_knockout_bar_shows_the_state_and_asks_for_changes(qtbot):
    bar = KnockoutBar()
    qtbot.addWidget(bar)
    restore = bar.findChild(QPushButton, "restoreHeadsButton")
    assert not restore.isEnabled() and "All heads in" in bar.text()
    with qtbot.assertNotEmitted(bar.ablationChosen):
        bar.set_state(KnockoutState(frozenset({(1, 2), (0, 3)}), "zero"))
    assert bar.text() == "Knocked out: L1·H4, L2·H3" and restore.isEnabled()
    with qtbot.waitSignal(bar.restoreRequested):
        qtbot.mouseClick(restore, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(bar.ablationChosen) as blocker:
        bar.choose_ablation("mean")
    assert blocker.args == ["mean"]
