"""The Heads tab at a laptop's and a desktop's size: the lines view's header and the knockout
hint whole, the head table's rows kept, the profile's bars whole beside the lines."""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from PySide6.QtWidgets import QApplication, QLabel, QTableView

from headwatch.gui.app import stylesheet
from headwatch.gui.heads_panel import WIDEST_LABEL, WIDEST_SHORT_TITLE, WIDEST_TITLE
from headwatch.gui.widgets import ElidedLabel
from tests.gui.test_laptop_layout import rows_shown

# rows of a 4×4 model's 16 heads the table shows whole: one more than with the style's least
# row height on a laptop, every head on a desktop
ROWS_SHOWN = {(1366, 768): 9, (1920, 1080): 16}


@pytest.fixture
def styled(window):
    """The test window in the app's style (its paddings set the rows' heights)."""
    app = QApplication.instance()
    app.setStyleSheet(stylesheet())
    yield window
    app.setStyleSheet("")


@pytest.mark.parametrize("size", list(ROWS_SHOWN))
def test_the_heads_tab_shows_the_lines_header_and_the_knockout_hint_whole(qtbot, styled, size):
    window, controller, panel = styled, styled.controller, styled.heads_panel
    window.setup.layers_spin.setValue(4)  # the preview weights: a 4×4 model's 16 heads
    window.resize(*size)
    window.analysis_tabs.setCurrentWidget(panel)
    qtbot.waitUntil(
        lambda: (
            controller.last_inspection is not None
            and controller.last_inspection.attention.shape[:2] == (4, 4)
        ),
        timeout=30_000,
    )
    reports = []
    controller.headsAnalysed.connect(reports.append)
    controller.analyse_heads()

    def analysed_4x4() -> bool:
        # an analysis of the two-layer weights shown first may still arrive: ask again
        if reports and len(reports[-1].rows) != 16:
            reports.clear()
            controller.analyse_heads()
        return bool(reports)

    qtbot.waitUntil(analysed_4x4, timeout=120_000)
    controller.headsAnalysed.disconnect(reports.append)
    panel.select(3, 3)
    QApplication.processEvents()

    title = panel.lines.findChild(ElidedLabel, "linesTitle")
    # whole where there is room, else its short form: never cut with "…"
    assert title.text() == "Layer 4 · Head 4"
    assert title.shown_text() == ("L4 · H4" if size == (1366, 768) else "Layer 4 · Head 4")
    badge = panel.lines.findChild(QLabel, "headLabelBadge")
    assert badge.isVisible() and badge.text()
    # room for the longest label's badge beside the title, not only this head's
    laptop = size == (1366, 768)
    assert panel.lines.width() >= panel.lines_header_width(
        WIDEST_SHORT_TITLE if laptop else WIDEST_TITLE
    )
    badge.setText(WIDEST_LABEL)
    QApplication.processEvents()
    assert title.shown_text() in ("Layer 4 · Head 4", "L4 · H4")
    hint = panel.knockout.findChild(ElidedLabel, "knockoutText")
    assert hint.text().startswith("All heads in") and not hint.is_elided()

    table = window.head_table.findChild(QTableView, "headTableView")
    assert table.model().rowCount() == 16
    assert rows_shown(table) >= ROWS_SHOWN[size]
    assert not table.horizontalScrollBar().isVisible()
    # the profile's two charts side by side keep their axes and names inside the view
    view = panel.profile.findChild(pg.GraphicsLayoutWidget)
    assert len(view.ci.items) == 2
    assert all(item.sceneBoundingRect().right() <= view.width() for item in view.ci.items)
