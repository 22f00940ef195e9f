"""Head knockout and head profiles through the window, on a small model trained in it: the new
labels, the knockout losses, knocking heads out from the grid and the table, restoring them, and
the checkpoint left byte for byte as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton

from headwatch.core.head_knockout import analysis_windows
from headwatch.core.head_report import head_report
from headwatch.core.inspection import Inspector
from headwatch.gui.head_table import COLUMNS, badge_text
from headwatch.gui.main_window import DEFAULT_SIZE
from tests.gui.conftest import stop_training

STEPS = 30


@pytest.fixture
def trained(qtbot, window):
    """The window after STEPS steps of training, stopped, with the prompt inspected and its
    heads analysed with their knockout losses (the Heads tab's button). At the window's first
    size on a large screen: at its minimum size a head's label may not fit its tile, and the
    grid hides it."""
    window.resize(*DEFAULT_SIZE)
    window.prompt_edit.setText("ROMEO:")
    window.train()
    qtbot.waitUntil(lambda: window.controller.current.step >= STEPS, timeout=60_000)
    stop_training(qtbot, window)
    step = window.controller.snapshots.latest().step
    window.request_inspection()
    qtbot.waitUntil(lambda: window.controller.last_inspection is not None
                    and window.controller.last_inspection.step == step, timeout=30_000)  # fmt: skip
    window.head_table.findChild(QPushButton, "measureLossesButton").click()
    qtbot.waitUntil(lambda: window.head_table.rows()
                    and all(r["delta_loss"] is not None for r in window.head_table.rows()),
                    timeout=60_000)  # fmt: skip
    return window


def expected_report(window):
    """The report core computes for the weights on show, over the same windows."""
    snapshot = window.controller.snapshots.latest()
    inspector = Inspector()
    model = inspector.load(snapshot)
    x, y = analysis_windows(window.controller.corpus, snapshot.config.block_size)
    return head_report(model, snapshot.tokenizer, x, y, snapshot.step, "mean")


def test_the_window_shows_the_derived_labels_and_the_knockout_losses(qtbot, trained):
    window = trained
    rows = {(r["layer"], r["head"]): r for r in window.head_table.rows()}
    assert len(rows) == 2 * 4
    expected = expected_report(window)
    for row in expected.rows:
        shown = rows[row["layer"], row["head"]]
        assert shown["label"] == row["label"] and shown["kind"] == row["kind"]
        assert shown["delta_loss"] == pytest.approx(row["delta_loss"], abs=1e-5)
        assert shown["delta_loss_kept_only"] == pytest.approx(row["delta_loss_kept_only"], abs=1e-5)
        badge = window.attention_grid.head_label(row["layer"], row["head"])
        assert badge == badge_text(row["label"])
    order = [(r["layer"], r["head"]) for r in window.head_table.rows()]
    at = order.index((1, 2))
    text = window.head_table.cell_text(at, COLUMNS.index("Δ out"))
    assert text == f"{rows[1, 2]['delta_loss']:+.3f}"
    window.attention_grid.select_head(1, 2)
    lines_badge = window.lines_view.findChild(QLabel, "headLabelBadge")
    assert lines_badge.text() == rows[1, 2]["label"]


def test_the_profile_view_shows_the_selected_heads_numbers(qtbot, trained):
    window = trained
    report_rows = {(r["layer"], r["head"]): r for r in window.head_table.rows()}
    for layer, head in ((1, 3), (0, 1)):
        window.attention_grid.select_head(layer, head)  # a click on the grid selects it
        drawn = window.heads_panel.profile.plotted()
        row = report_rows[layer, head]
        assert drawn["head"] == (layer, head)
        assert drawn["offset"] == pytest.approx(row["offset"])  # block 16: no "further" bar
        assert drawn["classes"] == pytest.approx(row["classes"])
    base = window.heads_panel._report.base
    assert drawn["class_base"] == pytest.approx(base["classes"])
    window.head_table.headSelected.emit(1, 0)  # a click on the table selects it too
    assert window.heads_panel.profile.plotted()["head"] == (1, 0)


def test_knocking_heads_out_and_restoring_them(qtbot, trained):
    window = trained
    controller, grid, table = window.controller, window.attention_grid, window.head_table
    checkpoint = Path(controller.current.folder) / "checkpoint.pt"
    saved = checkpoint.read_bytes()
    plain = controller.last_inspection

    # a click on a head's badge knocks it out of every view of the prompt
    view = grid._view
    badge = grid.badge_at(1, 2)
    assert badge.isVisible()
    with qtbot.waitSignal(controller.inspected, timeout=30_000):
        qtbot.mouseClick(
            view.viewport(),
            Qt.MouseButton.LeftButton,
            pos=view.mapFromScene(badge.sceneBoundingRect().center()),
        )
    assert controller.knockout.heads == {(1, 2)}
    assert grid.struck_heads() == {(1, 2)} and table.knocked_out() == {(1, 2)}
    assert grid.badge_at(1, 2).textItem.font().strikeOut()
    grid.select_head(1, 2)  # the large view says the head is out (its pattern is still drawn)
    assert grid.detail_title() == "Layer 2 · Head 3 — knocked out"
    one_out = controller.last_inspection
    assert one_out.next_chars != plain.next_chars
    np.testing.assert_array_equal(one_out.attention[0], plain.attention[0])  # before layer 2

    # ... and so does a tick in the table
    with qtbot.waitSignal(controller.inspected, timeout=30_000):
        table.set_knockout_checked(0, 1, True)
    assert controller.knockout.heads == {(1, 2), (0, 1)}
    assert grid.struck_heads() == {(1, 2), (0, 1)}
    assert window.heads_panel.knockout.text() == "Knocked out: L1·H2, L2·H3"
    mean_out = controller.last_inspection
    assert not np.array_equal(mean_out.attention[1], plain.attention[1])

    # zero-ablation is an option
    with qtbot.waitSignal(controller.inspected, timeout=30_000):
        window.heads_panel.knockout.choose_ablation("zero")
    assert controller.knockout.ablation == "zero"
    assert controller.last_inspection.next_chars != mean_out.next_chars

    # one click restores every head: the predictions are the model's own again, bit for bit
    restore = window.heads_panel.knockout.findChild(QPushButton, "restoreHeadsButton")
    with qtbot.waitSignal(controller.inspected, timeout=30_000):
        qtbot.mouseClick(restore, Qt.MouseButton.LeftButton)
    restored = controller.last_inspection
    assert controller.knockout.heads == frozenset()
    assert grid.struck_heads() == frozenset() and table.knocked_out() == frozenset()
    assert restored.next_chars == plain.next_chars
    np.testing.assert_array_equal(restored.attention, plain.attention)
    np.testing.assert_array_equal(restored.ffn, plain.ffn)
    assert checkpoint.read_bytes() == saved  # knockout never touches the training weights
