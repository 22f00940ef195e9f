"""The window on a 1366×768 laptop screen with the default docks: the analysis tabs' tables
fit their room (rows visible, no horizontal scrolling, long text elided with a tooltip)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QLabel,
    QTableView,
    QWidget,
)

from headwatch.core.head_report import HeadReport
from headwatch.gui.app import stylesheet
from headwatch.gui.messages import KnockoutState
from headwatch.gui.widgets import ElidedLabel
from tests.gui.test_head_table import BASE, CLASSES, stats

LAPTOP = (1366, 768)


@pytest.fixture
def laptop(window):
    """The test window at a laptop's size in the app's style (its paddings set the rows'
    heights), its event queue drained so the layout has settled."""
    app = QApplication.instance()
    app.setStyleSheet(stylesheet())
    window.resize(*LAPTOP)
    QApplication.processEvents()
    yield window
    app.setStyleSheet("")


def rows_shown(table: QTableView) -> int:
    """How many rows the table shows whole, without scrolling."""
    room = table.viewport().height()
    return sum(
        table.rowViewportPosition(r) >= 0
        and table.rowViewportPosition(r) + table.rowHeight(r) <= room
        for r in range(table.model().rowCount())
    )


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


def report_4x4() -> HeadReport:
    """A 4×4 model's head analysis at step 2,000, as the window's is described."""
    rows = stats(n_layer=4, n_head=4)
    return HeadReport(
        rows=rows,
        labels=[[r["label"] for r in rows[k : k + 4]] for k in range(0, 16, 4)],
        kinds=[[r["kind"] for r in rows[k : k + 4]] for k in range(0, 16, 4)],
        base=BASE,
        classes=CLASSES,
        description="64 validation windows of 64 characters, weights at step 2,000",
        base_loss=None,
        ablation=None,
        step=2_000,
    )


def test_the_heads_tab_shows_half_the_heads_of_a_4x4_model_and_their_profile(laptop):
    panel = laptop.heads_panel
    show_tab(laptop, panel)
    panel.set_report(report_4x4())
    panel.select(0, 0)
    QApplication.processEvents()
    table = laptop.head_table.findChild(QTableView, "headTableView")
    assert table.model().rowCount() == 16
    assert rows_shown(table) >= 9
    assert not table.horizontalScrollBar().isVisible()
    # the selected head's lines and profile keep a usable share of the height
    assert panel.profile.height() >= 130 and panel.lines.height() >= 130
    # the bars keep most of the profile's height: the titles, tick names and notes take little
    assert panel.profile.bars_height() >= 0.5 * panel.profile.height()
    # the captions are one line each, cut short rather than wrapped, and whole in text()
    caption = laptop.head_table.findChild(QLabel, "headTableCaption")
    assert caption.text().endswith("weights at step 2,000")
    assert caption.height() < 2 * caption.fontMetrics().height()


@pytest.mark.parametrize("size", [LAPTOP, (1920, 1080)], ids=["laptop", "desktop"])
def test_every_text_of_the_heads_tab_reads_whole(window, size):
    """No label, button or choice of the filled Heads tab is cut: each label shows its text or
    its short form whole (the tooltip has the whole), each button and combo its whole text."""
    app = QApplication.instance()
    app.setStyleSheet(stylesheet())
    window.resize(*size)
    panel = window.heads_panel
    show_tab(window, panel)
    panel.set_report(report_4x4())
    panel.set_knockout(KnockoutState(frozenset({(0, 1), (1, 2), (2, 3), (3, 0), (3, 3)}), "zero"))
    panel.select(3, 3)
    QApplication.processEvents()
    try:
        shown = [w for w in panel.findChildren(QWidget) if w.isVisible()]
        elided = {w.objectName(): w.shown_text() for w in shown if isinstance(w, ElidedLabel)}
        assert {"headTableCaption", "profileNotes", "knockoutText"} <= elided.keys()
        assert [text for text in elided.values() if "…" in text] == []
        # the short forms keep what matters: the step measured, the head's shares
        assert elided["headTableCaption"].endswith("at step 2,000")
        assert "same char" in elided["profileNotes"]
        assert elided["knockoutText"] in ("5 heads knocked out", panel.knockout.text())
        whole = [w for w in shown if isinstance(w, QLabel | QAbstractButton | QComboBox)]
        cut = [
            w.objectName() or w.text()
            for w in whole
            if not isinstance(w, ElidedLabel)
            and not (isinstance(w, QLabel) and w.wordWrap())
            and w.width() < w.sizeHint().width()
        ]
        assert cut == []
    finally:
        app.setStyleSheet("")


def test_an_elided_label_cuts_what_it_draws_not_its_text(qtbot):
    text = "What each head does — over 64 validation windows of 64 characters"
    label = ElidedLabel(text)
    qtbot.addWidget(label)
    label.resize(120, 24)
    label.show()
    assert label.text() == text and label.is_elided()
    assert label.shown_text().endswith("…") and len(label.shown_text()) < len(text)
    label.resize(label.fontMetrics().horizontalAdvance(text) + 20, 24)
    assert not label.is_elided() and label.shown_text() == text


def test_an_elided_label_draws_the_longest_short_form_that_fits(qtbot):
    forms = (
        "What each head does — over 64 validation windows",
        "What each head does at step 2,000",
        "Step 2,000",
    )
    label = ElidedLabel(forms[0])
    label.set_short_text(*forms[1:])
    qtbot.addWidget(label)
    label.show()
    for form in forms:
        label.resize(label.fontMetrics().horizontalAdvance(form) + 1, 24)
        assert label.shown_text() == form and label.text() == forms[0]
    label.resize(label.fontMetrics().horizontalAdvance(forms[-1]) // 2, 24)
    assert label.shown_text().endswith("…") and label.is_elided()
