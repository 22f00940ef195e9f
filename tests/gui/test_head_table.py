"""HeadTable: one sortable row per head, numeric sorting, row clicks select a head, profile bars,
knockout losses and the Out ticks that knock a head out."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QPushButton, QTableView

from headwatch.gui.head_table import (
    CLASS_COLUMN,
    COLUMNS,
    LABEL_COLOURS,
    OFFSET_COLUMN,
    OUT_COLUMN,
    HeadTable,
)
from headwatch.gui.profile_bars import PROFILE_ROLE

LABELS = (("1 back", "offset"), ("spaces", "char class"), ("same char", "same char"),
          ("first position", "first position"), ("broad", "broad"), ("mixed", "mixed"))  # fmt: skip
CLASSES = ("vowel", "consonant", "space")
BASE = {"offset": [0.3, 0.25, 0.2], "further": None, "classes": [0.3, 0.5, 0.2],
        "same_char": 0.05, "first": 0.1}  # fmt: skip


def stats(n_layer: int = 4, n_head: int = 4, losses: bool = True) -> list[dict]:
    """Deterministic rows whose numbers sort differently as text ("10.50" < "9.20")."""
    rows = []
    for layer in range(n_layer):
        for head in range(n_head):
            k = layer * n_head + head
            label, kind = LABELS[k % len(LABELS)]
            peak = k % 3
            rows.append(
                dict(
                    layer=layer,
                    head=head,
                    label=label,
                    kind=kind,
                    entropy=(k * 7 % 16) * 0.75,
                    evenness=(k * 11 % 16) / 16,
                    offset=[0.8 if d == peak else 0.1 for d in range(3)],
                    further=None,
                    classes=[0.1, 0.1, 0.8] if k % 2 else [0.6, 0.3, 0.1],
                    same_char=(k * 3 % 16) / 20,
                    first=(k % 4) / 10,
                    delta_loss=((k * 5 % 16) - 3) * 0.75 if losses else None,  # -2.25 .. 9
                    delta_loss_kept_only=(k % 5) * 0.1 if losses else None,
                )
            )
    return rows


@pytest.fixture
def table(qtbot) -> HeadTable:
    widget = HeadTable()
    qtbot.addWidget(widget)
    widget.resize(620, 420)
    widget.set_stats(stats(), "200 validation windows", BASE, CLASSES, "Δ: mean-ablation")
    return widget


def view_of(table: HeadTable) -> QTableView:
    return table.findChild(QTableView)


def test_rows_in_layer_then_head_order(table):
    assert table.objectName() == "headTable"
    assert [(r["layer"], r["head"]) for r in table.rows()] == [
        (layer, head) for layer in range(4) for head in range(4)
    ]
    assert table.rows()[0] == stats()[0]


def test_display_is_one_based_with_losses_and_profiles(table):
    model = view_of(table).model()
    n = len(COLUMNS)
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(n)] == list(COLUMNS)
    tips = [model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
            for c in range(n)]  # fmt: skip
    assert "Δ val loss when knocked out" in tips[COLUMNS.index("Δ out")]
    assert "keeping only this head in its layer" in tips[COLUMNS.index("Δ alone")]
    row = stats()[6]  # layer 1, head 2 (0-based)
    texts = [table.cell_text(6, c) for c in range(n)]
    assert texts[1:4] == ["2", "3", row["label"]]
    assert texts[COLUMNS.index("Same")] == f"{row['same_char'] * 100:.0f}%"
    assert texts[COLUMNS.index("Δ out")] == f"{row['delta_loss']:+.3f}"
    assert texts[COLUMNS.index("Δ alone")] == f"{row['delta_loss_kept_only']:+.3f}"
    assert model.index(6, OFFSET_COLUMN).data(PROFILE_ROLE) == (row["offset"], BASE["offset"])
    assert model.index(6, CLASS_COLUMN).data(PROFILE_ROLE) == (row["classes"], BASE["classes"])
    assert "vowel: 60.0% (base 30.0%)" in model.index(6, CLASS_COLUMN).data(
        Qt.ItemDataRole.ToolTipRole
    )
    assert not table.grab().isNull()  # the bars paint


def test_losses_not_measured_show_a_dash_and_the_caption_says_how(table):
    table.set_stats(stats(losses=False), "200 validation windows", BASE, CLASSES)
    assert {table.cell_text(r, COLUMNS.index("Δ out")) for r in range(16)} == {"—"}
    caption = table.findChild(QLabel, "headTableCaption")
    assert "Measure knockout losses" in caption.toolTip()


@pytest.mark.parametrize(
    "column, key",
    [(COLUMNS.index("Δ out"), "delta_loss"), (COLUMNS.index("Same"), "same_char"),
     (COLUMNS.index("Δ alone"), "delta_loss_kept_only")],
)  # fmt: skip
def test_sorts_numerically(table, column, key):
    view = view_of(table)
    view.sortByColumn(column, Qt.SortOrder.AscendingOrder)
    values = [row[key] for row in table.rows()]
    assert values == sorted(values)
    view.sortByColumn(column, Qt.SortOrder.DescendingOrder)
    values = [row[key] for row in table.rows()]
    assert values == sorted(values, reverse=True)


def test_profiles_sort_by_their_peak(table):
    view_of(table).sortByColumn(OFFSET_COLUMN, Qt.SortOrder.AscendingOrder)
    peaks = [row["offset"].index(max(row["offset"])) for row in table.rows()]
    assert peaks == sorted(peaks)


def test_clicking_a_row_emits_its_head_zero_based(qtbot, table):
    table.show()
    qtbot.waitExposed(table)
    view = view_of(table)
    view.sortByColumn(COLUMNS.index("Δ out"), Qt.SortOrder.DescendingOrder)  # found after a sort
    target = table.rows()[2]
    rect = view.visualRect(view.model().index(2, 2))
    with qtbot.waitSignal(table.headSelected) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [target["layer"], target["head"]]
    assert table.selected() == (target["layer"], target["head"])


def test_select_is_quiet_and_survives_new_stats_and_sorting(qtbot, table):
    with qtbot.assertNotEmitted(table.headSelected):
        table.select(2, 1)
        table.set_stats(stats(), "300 validation windows", BASE, CLASSES)
        view_of(table).sortByColumn(5, Qt.SortOrder.AscendingOrder)
    selected = view_of(table).selectionModel().selectedRows()
    assert len(selected) == 1
    row = table.rows()[selected[0].row()]
    assert (row["layer"], row["head"]) == (2, 1)


def test_label_cells_use_their_kinds_colours(table):
    assert set(LABEL_COLOURS) == {kind for _, kind in LABELS}
    model = view_of(table).model()
    for row in table.rows()[:6]:
        at = table.rows().index(row)
        colour = model.index(at, 3).data(Qt.ItemDataRole.BackgroundRole).color()
        assert colour == QColor(LABEL_COLOURS[row["kind"]])


def test_out_ticks_ask_for_a_knockout_and_follow_the_state(qtbot, table):
    view_of(table).sortByColumn(COLUMNS.index("Δ out"), Qt.SortOrder.AscendingOrder)
    with qtbot.waitSignal(table.knockoutToggled) as blocker:
        table.set_knockout_checked(2, 3, True)
    assert blocker.args == [2, 3]
    with qtbot.assertNotEmitted(table.knockoutToggled):
        table.set_knocked_out(frozenset({(2, 3), (0, 1)}))
        table.set_stats(stats(), "200 validation windows", BASE, CLASSES)  # ticks survive
    assert table.knocked_out() == {(2, 3), (0, 1)}
    with qtbot.waitSignal(table.knockoutToggled) as blocker:
        table.set_knockout_checked(0, 1, False)
    assert blocker.args == [0, 1]
    view = view_of(table)
    view.sortByColumn(OUT_COLUMN, Qt.SortOrder.DescendingOrder)  # the knocked-out heads first
    assert {(r["layer"], r["head"]) for r in table.rows()[:2]} == {(2, 3), (0, 1)}


def test_buttons_and_busy_state(qtbot, table):
    button = table.findChild(QPushButton, "analyseHeadsButton")
    measure = table.findChild(QPushButton, "measureLossesButton")
    caption = table.findChild(QLabel, "headTableCaption")
    assert caption.text() == "What each head does — over 200 validation windows"
    assert caption.toolTip() == "Δ: mean-ablation"
    with qtbot.waitSignal(table.analyseRequested):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(table.measureRequested):
        qtbot.mouseClick(measure, Qt.MouseButton.LeftButton)
    table.set_busy(True)
    assert not button.isEnabled() and not measure.isEnabled()
    assert "analysing" in caption.text()
    table.set_busy(False)
    assert button.isEnabled() and measure.isEnabled()


def test_clear_empties_the_table(table):
    table.clear()
    assert table.rows() == []
    assert not table.grab().isNull()
    table.select(0, 0)  # nothing to select yet: remembered, no error
    table.set_stats(stats(2, 2), "", BASE, CLASSES)
    assert view_of(table).selectionModel().selectedRows()[0].row() == 0
