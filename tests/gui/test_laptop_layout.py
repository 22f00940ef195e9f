"""The window on a 1366×768 laptop screen with the default docks: the analysis tabs' tables
fit their room (rows visible, no horizontal scrolling, long text elided with a tooltip)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QTableView

LAPTOP = (1366, 768)


@pytest.fixture
def laptop(window):
    """The test window at a laptop's size, its event queue drained so the layout has settled."""
    window.resize(*LAPTOP)
    QApplication.processEvents()
    return window


def show_tab(window, widget) -> None:
    window.analysis_tabs.setCurrentWidget(widget)
    QApplication.processEvents()


def test_the_runs_table_fits_a_laptop_without_horizontal_scrolling(laptop):
    view = laptop.compare_view
    for run_id, label, params in (("a", "heads=1 · lr=3e-3 · n_embd=384", 10_788_929),
                                  ("b", "heads=8 · lr=1e-3 · n_embd=384", 10_788_929)):  # fmt: skip
        view.upsert_run(
            run_id,
            dict(label=label, colour="#1f77b4", params=params, step=20_000, best_val=1.4821,
                 last_train=1.3012, tokens_per_s=123_456.0, seconds=36_000.0,
                 path=f"/home/learner/headwatch/runs/2026-11-29/{run_id}-lecture-preset"),
        )  # fmt: skip
    show_tab(laptop, view)
    table = view.findChild(QTableView, "compareTable")
    assert table.isVisible() and table.model().rowCount() == 2
    assert not table.horizontalScrollBar().isVisible()
    header = table.horizontalHeader()
    right = header.sectionViewportPosition(header.logicalIndex(header.count() - 1))
    assert right + header.sectionSize(header.logicalIndex(header.count() - 1)) <= (
        table.viewport().width()
    )
    # an elided label or folder keeps its whole text in the tooltip
    for column in (0, table.model().columnCount() - 1):
        index = table.model().index(0, column)
        assert index.data(Qt.ItemDataRole.ToolTipRole) == index.data()
