"""Texts that change while a run trains or a user types (progress, timeline step, prompt status)
never change the layout's geometry: a label widening its dock or column would resize, and so
relayout and repaint, the attention grid, the feed-forward view and the loss plot at every
report — long stalls of the event loop."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from headwatch.gui.app import stylesheet
from headwatch.gui.messages import Progress, RunState

UNKNOWN = "€¥£§©®°±µ¶×÷"  # twelve characters outside the built-in corpus's vocabulary


def geometry(window) -> tuple:
    """The sizes of the views and of the panes that hold them."""
    return (
        window.setup_dock.width(),
        tuple(window.main_splitter.sizes()),
        tuple(window.views.sizes()),
        window.attention_grid.size().toTuple(),
        window.ffn_view.size().toTuple(),
        window.loss_plot.size().toTuple(),
        window.analysis_tabs.size().toTuple(),
    )


@pytest.fixture(params=[(1366, 768), (1600, 1000)], ids=["laptop", "large"])
def styled(request, window):
    """The test window at a screen's size in the app's style, its layout settled."""
    app = QApplication.instance()
    app.setStyleSheet(stylesheet())
    window.resize(*request.param)
    QApplication.processEvents()
    yield window
    app.setStyleSheet("")


def test_progress_reports_never_resize_the_views(styled):
    before = geometry(styled)
    reports = [
        Progress(1, 100, 0.0, None, RunState.TRAINING),
        Progress(123_456, 10_000_000, 2_512_345.0, 912_345.0, RunState.TRAINING),
        Progress(9, 100, 850.0, 1.0, RunState.TRAINING),
        Progress(999_999_999, 999_999_999, 1e9, 3.6e7, RunState.STOPPING),
        Progress(5, 5_000, 12.0, None, RunState.PAUSED),
    ]
    for progress in reports:
        styled.setup.set_progress(progress)
        QApplication.processEvents()
        assert geometry(styled) == before, progress
    # the text is whole for whoever reads it, cut or not; at a laptop's width it is not cut
    styled.setup.set_progress(Progress(1_234, 5_000, 31_234.0, 3_723.0, RunState.TRAINING))
    assert styled.setup.progress_label.text() == "31.2k tok/s · ETA 1:02:03"
    assert not styled.setup.progress_label.is_elided()


def test_the_timeline_steps_never_resize_the_views(styled):
    before = geometry(styled)
    styled.timeline_bar.set_timeline(list(range(0, 10_000_000, 100_000)), None)
    for step in (0, 9_999_999, 123_456_789):
        styled.timeline_bar.show_step(step)
        QApplication.processEvents()
        assert geometry(styled) == before, step


def test_a_long_prompt_status_never_resizes_the_views(qtbot, styled):
    before = geometry(styled)
    styled.prompt_edit.setText(UNKNOWN + "ROMEO: " * 10)
    qtbot.waitUntil(
        lambda: (
            styled.controller.last_inspection is not None
            and bool(styled.controller.last_inspection.prompt.unknown)
        ),
        timeout=10_000,
    )
    QApplication.processEvents()
    assert "Not in the vocabulary" in styled.prompt_status.text()
    assert geometry(styled) == before
