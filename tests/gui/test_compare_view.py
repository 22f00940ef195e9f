"""CompareView: the session's runs in one sortable table, updated in place while they train."""

from __future__ import annotations

import csv

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QStyleOptionViewItem, QTableView

from headwatch.core.formatting import format_duration
from headwatch.gui.compare_view import (
    COLUMNS,
    CSV_HEADER,
    CompareView,
    format_params,
)

BEST_VAL = [title for title, _, _ in COLUMNS].index("Best val")


def run(label: str, best_val: float | None, step: int = 500, **extra) -> dict:
    row = dict(
        label=label,
        colour="#1f77b4",
        params=819_201,
        step=step,
        best_val=best_val,
        last_train=None if best_val is None else best_val - 0.05,
        tokens_per_s=None if best_val is None else 51_234.5,
        seconds=83.4,
        path=f"/home/learner/runs/{label}",
    )
    row.update(extra)
    return row


@pytest.fixture
def view(qtbot) -> CompareView:
    widget = CompareView()
    qtbot.addWidget(widget)
    widget.resize(900, 320)
    widget.upsert_run("a", run("heads=1", 1.80))
    widget.upsert_run("b", run("heads=4", None))  # not evaluated yet
    widget.upsert_run("c", run("heads=8", 1.75))
    return widget


def table_of(view: CompareView) -> QTableView:
    return view.findChild(QTableView, "compareTable")


def test_rows_in_arrival_order_until_sorted(view):
    assert view.objectName() == "compareView"
    assert [r["run_id"] for r in view.rows()] == ["a", "b", "c"]
    assert view.rows()[1]["best_val"] is None


def test_cells_are_formatted(view):
    model = table_of(view).model()
    texts = [model.index(0, column).data() for column in range(len(COLUMNS))]
    assert texts == ["heads=1", "", "819k", "500", "1.8000", "1.7500", "51,234", "1:23", texts[8]]
    assert model.index(0, 8).data(Qt.ItemDataRole.ToolTipRole) == "/home/learner/runs/heads=1"
    assert model.index(1, BEST_VAL).data() == "—"
    assert format_params(4_225) == "4.2k" and format_params(10_788_929) == "10.8M"
    assert format_duration(3_723) == "1:02:03"
    assert format_duration(59.6) == "1:00"  # rounded, the same in the table and the progress


def test_upsert_updates_one_row_in_place(view):
    view.upsert_run("b", run("heads=4", 1.70, step=1_000))
    rows = view.rows()
    assert len(rows) == 3
    assert [r["run_id"] for r in rows] == ["a", "b", "c"]
    assert rows[1]["step"] == 1_000 and rows[1]["best_val"] == 1.70


@pytest.mark.parametrize(
    "order, expected",
    [
        (Qt.SortOrder.AscendingOrder, ["c", "a", "b"]),
        (Qt.SortOrder.DescendingOrder, ["a", "c", "b"]),
    ],
)
def test_sort_by_best_val_puts_missing_values_last(view, order, expected):
    table_of(view).sortByColumn(BEST_VAL, order)
    assert [r["run_id"] for r in view.rows()] == expected


def test_updates_keep_the_sort_and_the_selection(qtbot, view):
    table = table_of(view)
    table.sortByColumn(BEST_VAL, Qt.SortOrder.AscendingOrder)
    with qtbot.assertNotEmitted(view.runSelected):
        view.select("a")
        for step in range(10):  # a training run reporting progress
            view.upsert_run("b", run("heads=4", 1.9 - step / 100, step=step))
    assert [r["run_id"] for r in view.rows()] == ["c", "a", "b"]
    view.upsert_run("b", run("heads=4", 1.60))  # now the best: it moves to the top
    assert [r["run_id"] for r in view.rows()] == ["b", "c", "a"]
    selected = table.selectionModel().selectedRows()
    assert [view.rows()[index.row()]["run_id"] for index in selected] == ["a"]
    assert view.selected() == "a"


def test_clicking_a_row_emits_its_run_id(qtbot, view):
    view.show()
    qtbot.waitExposed(view)
    table = table_of(view)
    table.sortByColumn(BEST_VAL, Qt.SortOrder.AscendingOrder)
    rect = table.visualRect(table.model().index(1, 0))
    with qtbot.waitSignal(view.runSelected) as blocker:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == ["a"]


def test_export_csv_round_trips(tmp_path, view):
    table_of(view).sortByColumn(BEST_VAL, Qt.SortOrder.AscendingOrder)
    path = tmp_path / "runs.csv"
    view.export_csv(path)
    with open(path, newline="", encoding="utf-8") as handle:
        read = list(csv.reader(handle))
    assert tuple(read[0]) == CSV_HEADER
    shown = view.rows()
    assert [row[0] for row in read[1:]] == [r["run_id"] for r in shown]
    for line, row in zip(read[1:], shown, strict=True):
        record = dict(zip(CSV_HEADER, line, strict=True))
        assert int(record["params"]) == row["params"]
        assert int(record["step"]) == row["step"]
        assert float(record["seconds"]) == row["seconds"]
        for key in ("best_val", "last_train", "tokens_per_s"):
            assert (float(record[key]) if record[key] else None) == row[key]
        assert record["path"] == row["path"] and record["label"] == row["label"]


def test_remove_and_clear(qtbot, view):
    view.select("b")
    with qtbot.assertNotEmitted(view.runSelected):
        view.remove_run("b")
    assert [r["run_id"] for r in view.rows()] == ["a", "c"]
    assert view.selected() is None
    assert table_of(view).selectionModel().selectedRows() == []
    view.remove_run("missing")  # nothing to do
    view.clear()
    assert view.rows() == []
    assert not view.grab().isNull()


def test_ladder_button_and_status(qtbot, view):
    button = view.findChild(QPushButton, "ladderButton")
    with qtbot.waitSignal(view.ladderRequested):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    view.set_ladder_status("stage 3 of 7: 4 heads of 8")
    assert view.findChild(QLabel, "ladderStatus").text() == "stage 3 of 7: 4 heads of 8"
    view.set_ladder_running(True)
    assert not button.isEnabled()
    view.set_ladder_running(False)
    assert button.isEnabled()


def test_a_narrow_folder_column_keeps_the_end_of_the_path_and_the_whole_path_in_its_tip(view):
    folder = "/home/learner/.local/share/headwatch/runs/2026-11-29/b-lecture"
    view.upsert_run("d", run("b-lecture", 1.62, path=folder, settings="layers=4 · heads=4"))
    view.resize(560, 320)  # a laptop's Runs tab
    table = table_of(view)
    column = [key for _, key, _ in COLUMNS].index("path")
    index = next(
        table.model().index(row, column)
        for row in range(table.model().rowCount())
        if table.model().index(row, 0).data() == "b-lecture"
    )
    option = QStyleOptionViewItem()
    table.itemDelegateForIndex(index).initStyleOption(option, index)
    width = table.horizontalHeader().sectionSize(column)
    shown = table.fontMetrics().elidedText(index.data(), option.textElideMode, width - 8)
    # cut at its start: its end, the run's folder, is what shows
    assert shown.startswith("…") and len(shown) > 5 and folder.endswith(shown[1:])
    assert index.data(Qt.ItemDataRole.ToolTipRole) == folder
    # the run's settings are in the Run column's tooltip, under its name
    name = index.siblingAtColumn(0)
    assert name.data(Qt.ItemDataRole.ToolTipRole) == "b-lecture\nlayers=4 · heads=4"
