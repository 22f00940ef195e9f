"""PredictionView (top-k next characters) and SampleView (prompt + sampled continuation)."""

from __future__ import annotations

import random

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import QDoubleSpinBox, QPlainTextEdit, QPushButton, QSpinBox

from headwatch.gui.prediction_view import PredictionView, SampleView


@pytest.fixture
def predictions(qtbot) -> PredictionView:
    widget = PredictionView()
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def sample(qtbot) -> SampleView:
    widget = SampleView()
    qtbot.addWidget(widget)
    return widget


def test_shows_the_top_ten_sorted(predictions):
    items = [(ch, (i + 1) / 120) for i, ch in enumerate("abcdefghijklmn\n")]
    shuffled = items[:]
    random.Random(0).shuffle(shuffled)
    predictions.set_predictions(shuffled)
    expected = sorted(items, key=lambda it: -it[1])[:10]
    assert predictions.predictions() == expected
    assert predictions.objectName() == "predictionView"


def test_newline_and_space_are_drawn_visibly(predictions):
    predictions.set_predictions([("\n", 0.5), (" ", 0.3), ("e", 0.2)])
    assert predictions.labels() == ["↵", "␣", "e"]
    assert predictions.predictions()[0] == ("\n", 0.5)


def test_paints_full_empty_and_cleared(predictions):
    predictions.resize(300, 300)
    predictions.grab()  # empty state paints
    predictions.set_predictions([("e", 0.6), ("a", 0.0), ("t", 0.4)])
    assert not predictions.grab().isNull()
    predictions.clear()
    assert predictions.predictions() == []
    assert predictions.labels() == []
    predictions.grab()


def test_controls_have_their_defaults(sample):
    temperature = sample.findChild(QDoubleSpinBox, "temperatureSpin")
    length = sample.findChild(QSpinBox, "sampleLengthSpin")
    assert sample.objectName() == "sampleView"
    assert (temperature.minimum(), temperature.maximum(), temperature.value()) == (0.0, 2.0, 1.0)
    assert temperature.singleStep() == pytest.approx(0.1)
    assert (length.minimum(), length.maximum(), length.value()) == (10, 2000, 300)


def test_clicking_sample_requests_with_the_spin_values(qtbot, sample):
    sample.findChild(QDoubleSpinBox, "temperatureSpin").setValue(0.7)
    sample.findChild(QSpinBox, "sampleLengthSpin").setValue(120)
    button = sample.findChild(QPushButton, "sampleButton")
    with qtbot.waitSignal(sample.sampleRequested, timeout=1000) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    temperature, n_chars = blocker.args
    assert temperature == pytest.approx(0.7)
    assert n_chars == 120


def test_set_sample_shows_prompt_then_highlighted_continuation(sample):
    sample.set_sample("ROMEO:\n", "But soft!")
    assert sample.text() == "ROMEO:\nBut soft!"
    cursor = QTextCursor(sample.findChild(QPlainTextEdit).document())
    cursor.setPosition(3)  # inside the prompt
    assert cursor.charFormat().fontWeight() != QFont.Weight.Bold
    cursor.setPosition(len("ROMEO:\nBut"))  # inside the continuation
    assert cursor.charFormat().fontWeight() == QFont.Weight.Bold
    sample.set_sample("Q", "x")
    assert sample.text() == "Qx"  # replaces, does not append


def test_busy_disables_the_button(qtbot, sample):
    button = sample.findChild(QPushButton, "sampleButton")
    sample.set_busy(True)
    assert not button.isEnabled()
    with qtbot.assertNotEmitted(sample.sampleRequested):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    sample.set_busy(False)
    assert button.isEnabled()


def test_without_a_model_everything_is_off_with_a_hint(sample):
    button = sample.findChild(QPushButton, "sampleButton")
    sample.set_enabled(False)
    assert not button.isEnabled()
    assert not sample.findChild(QSpinBox, "sampleLengthSpin").isEnabled()
    assert not sample.findChild(QDoubleSpinBox, "temperatureSpin").isEnabled()
    assert sample.findChild(QPlainTextEdit).placeholderText() == "Train a model first"
    assert sample.findChild(QPlainTextEdit).isReadOnly()
    sample.set_busy(False)  # finishing a sample does not re-enable it without a model
    assert not button.isEnabled()
    sample.set_enabled(True)
    assert button.isEnabled()


def test_the_sample_says_which_weights_wrote_it_and_which_are_writing_the_next(sample):
    button = sample.findChild(QPushButton, "sampleButton")
    assert sample.source() == ""
    sample.set_sample("ROMEO:", " But soft", 2_000)
    assert sample.source() == "Written by the weights at step 2,000"
    sample.set_writing(200)  # the timeline rests on step 200: a new sample is on its way
    assert not button.isEnabled()
    assert sample.source() == (
        "Writing a sample with the weights at step 200… (below: the weights at step 2,000)"
    )
    sample.set_sample("ROMEO:", " Whe", 200, ((0, 1), (1, 3)), "mean")
    assert button.isEnabled()
    assert sample.source() == (
        "Written by the weights at step 200, L1·H2, L2·H4 knocked out (mean-ablation)"
    )
    sample.set_writing(None)
    sample.written_failed()  # nothing came: the line names the weights of the text still shown
    assert button.isEnabled()
    assert sample.source() == (
        "Written by the weights at step 200, L1·H2, L2·H4 knocked out (mean-ablation)"
    )
    sample.clear()
    assert sample.source() == "" and sample.text() == ""
    sample.set_writing(None)
    assert sample.source() == "Writing a sample with the newest weights…"
