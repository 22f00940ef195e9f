"""NeuronView: a feed-forward unit's top contexts, one line each, and the dead-unit counts."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel

from headwatch.gui.neuron_view import NeuronView

CONTEXTS = [
    ("and kill the envious moon", 21, 1.25),
    ("ROMEO:\nBut soft, what light", 7, 3.5),  # the trigger is the 'B' after the newline
    ("It is the east, and Juli", 6, 2.0),
]


@pytest.fixture
def view(qtbot) -> NeuronView:
    widget = NeuronView()
    qtbot.addWidget(widget)
    widget.resize(560, 420)
    return widget


def test_header_names_the_unit_and_the_sample(view):
    view.set_unit(0, 117, CONTEXTS, "200 validation windows")
    header = view.findChild(QLabel, "neuronHeader").text()
    assert view.objectName() == "neuronView"
    assert header == "Layer 1 · unit 117 — top 3 contexts over 200 validation windows"


def test_contexts_are_shown_strongest_first(view):
    view.set_unit(1, 5, CONTEXTS, "200 validation windows")
    assert [activation for _, _, activation in view.contexts()] == [3.5, 2.0, 1.25]
    assert view.contexts()[0] == CONTEXTS[1]


def test_newlines_show_as_arrows_one_line_per_context(view):
    view.set_unit(0, 3, CONTEXTS, "200 validation windows")
    lines = view.lines()
    assert len(lines) == len(CONTEXTS)
    assert lines[0] == "ROMEO:↵But soft, what light"
    assert all("\n" not in line for line in lines)
    assert lines[1] == "It is the east, and Juli"  # spaces stay blank for reading


def test_a_space_trigger_is_drawn_visibly(view):
    view.set_unit(0, 3, [("fair sun", 4, 1.0)], "10 windows")
    assert view.lines() == ["fair␣sun"]


def test_dead_units_per_layer(view):
    view.set_dead_units([12, 40], 512)
    text = view.findChild(QLabel, "deadUnitsLabel").text()
    assert text == "dead units (never active over the sample): L1 12 / 512 · L2 40 / 512"


def test_busy_hint(qtbot, view):
    view.show()
    qtbot.waitExposed(view)
    hint = view.findChild(QLabel, "neuronBusyHint")
    assert not hint.isVisible()
    view.set_busy(True)
    assert hint.isVisible() and hint.text() == "computing…"
    view.set_busy(False)
    assert not hint.isVisible()


def test_rejects_a_trigger_outside_its_text(view):
    with pytest.raises(IndexError):
        view.set_unit(0, 0, [("abc", 3, 1.0)], "x")


def test_clear_and_paint_in_every_state(view):
    view.show()
    assert not view.grab().isNull()  # empty
    long_contexts = [("x" * 200 + "\n" + "y" * 60, 150 + k, 2.0 - k / 10) for k in range(20)]
    view.set_unit(0, 1, long_contexts, "200 validation windows")
    view.resize(300, 200)  # narrower than the text: it is cut, never scrolled sideways
    assert not view.grab().isNull()
    view.set_unit(0, 1, [], "200 validation windows")  # a dead unit has no contexts
    assert view.contexts() == [] and view.lines() == []
    header = view.findChild(QLabel, "neuronHeader").text()
    assert header == "Layer 1 · unit 1 — never active over 200 validation windows"
    assert not view.grab().isNull()
    view.set_dead_units([1], 64)
    view.clear()
    assert view.contexts() == []
    assert view.findChild(QLabel, "deadUnitsLabel").text() == ""
