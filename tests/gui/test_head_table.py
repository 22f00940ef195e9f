"""HeadTable: one sortable row per head, numeric sorting, row clicks select a head."""

from __future__ import annotations

import pytest
from headwatch.gui.head_table import COLUMNS, LABEL_COLOURS, HeadTable
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QPushButton, QTableView

LABELS = ("previous-token", "self", "first-position", "broad", "mixed")


def stats(n_layer: int = 4, n_head: int = 4) -> list[dict]:
    """Deterministic rows whose numbers sort differently as text ("10.50" < "9.20")."""
    rows = []
    for layer in range(n_layer):
        for head in range(n_head):
            k = layer * n_head + head
            rows.append(
                dict(
                    layer=layer,
                    head=head,
                    label=LABELS[k % len(LABELS)],
                    entropy=(k * 7 % 16) * 0.75,  # 0.0 .. 11.25
                    previous=(k * 5 % 16) / 16,  # 5 % and 50 % both occur
                    self=(k * 3 % 16) / 20,
                    first=(k % 4) / 10,
                    even=(k * 11 % 16) / 16,
                )
            )
    return rows


@pytest.fixture
def table(qtbot) -> HeadTable:
    widget = HeadTable()
    qtbot.addWidget(widget)
    widget.resize(620, 420)
    widget.set_stats(stats(), "200 validation windows")
    return widget


def view_of(table: HeadTable) -> QTableView:
    return table.findChild(QTableView)


def test_rows_in_layer_then_head_order(table):
    assert table.objectName() == "headTable"
    assert [(r["layer"], r["head"]) for r in table.rows()] == [
        (layer, head) for layer in range(4) for head in range(4)
    ]
    assert table.rows()[0] == stats()[0]


def test_display_is_one_based_with_percentages(table):
    model = view_of(table).model()
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(8)] == list(COLUMNS)
    row = stats()[6]  # layer 1, head 2 (0-based)
    texts = [model.index(6, c).data() for c in range(8)]
    assert texts[:3] == ["2", "3", row["label"]]
    assert texts[3] == f"{row['entropy']:.2f}"
    assert texts[4] == f"{row['previous'] * 100:.0f}%"


@pytest.mark.parametrize("column, key", [(3, "entropy"), (4, "previous"), (7, "even")])
def test_sorts_numerically(table, column, key):
    view = view_of(table)
    view.sortByColumn(column, Qt.SortOrder.AscendingOrder)
    values = [row[key] for row in table.rows()]
    assert values == sorted(values)
    view.sortByColumn(column, Qt.SortOrder.DescendingOrder)
    values = [row[key] for row in table.rows()]
    assert values == sorted(values, reverse=True)


def test_clicking_a_row_emits_its_head_zero_based(qtbot, table):
    table.show()
    qtbot.waitExposed(table)
    view = view_of(table)
    view.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # the clicked row is found after a sort
    target = table.rows()[2]
    rect = view.visualRect(view.model().index(2, 2))
    with qtbot.waitSignal(table.headSelected) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [target["layer"], target["head"]]
    assert table.selected() == (target["layer"], target["head"])


def test_select_is_quiet_and_survives_new_stats_and_sorting(qtbot, table):
    with qtbot.assertNotEmitted(table.headSelected):
        table.select(2, 1)
        table.set_stats(stats(), "300 validation windows")
        view_of(table).sortByColumn(5, Qt.SortOrder.AscendingOrder)
    selected = view_of(table).selectionModel().selectedRows()
    assert len(selected) == 1
    row = table.rows()[selected[0].row()]
    assert (row["layer"], row["head"]) == (2, 1)


def test_label_cells_use_the_shared_colours(table):
    assert set(LABEL_COLOURS) == set(LABELS)
    model = view_of(table).model()
    for row in range(5):
        label = model.index(row, 2).data()
        colour = model.index(row, 2).data(Qt.ItemDataRole.BackgroundRole).color()
        assert colour == QColor(LABEL_COLOURS[label])


def test_analyse_button_and_busy_state(qtbot, table):
    button = table.findChild(QPushButton, "analyseHeadsButton")
    caption = table.findChild(QLabel, "headTableCaption")
    assert caption.text() == "What each head does — over 200 validation windows"
    with qtbot.waitSignal(table.analyseRequested):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    table.set_busy(True)
    assert not button.isEnabled()
    assert "analysing" in caption.text()
    table.set_busy(False)
    assert button.isEnabled()


def test_clear_empties_the_table(table):
    table.clear()
    assert table.rows() == []
    assert not table.grab().isNull()
    table.select(0, 0)  # nothing to select yet: remembered, no error
    table.set_stats(stats(2, 2))
    assert view_of(table).selectionModel().selectedRows()[0].row() == 0
