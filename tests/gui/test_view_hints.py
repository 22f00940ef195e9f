"""The prompt's views say why they show nothing: the model still loading (a prompt is typed),
no prompt, or settings that make no model for the corpus. A trial saw "Type a prompt to see
attention" over a typed prompt while the first weights loaded."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from headwatch.gui.main_window import LOADING_HINT, SETTINGS_HINT, MainWindow
from headwatch.gui.setup_panel import CORPUS_LOADING
from tests.gui.conftest import small_settings


def test_the_views_say_why_they_are_empty(qtbot, tmp_path):
    window = MainWindow(settings_path=tmp_path / "settings.ini")
    qtbot.addWidget(window)
    controller = window.controller
    hints = [
        view.findChild(QLabel, "emptyHint")
        for view in (window.attention_grid, window.ffn_view, window.lens_panel)
    ]
    try:
        window.show()
        assert window.prompt_edit.text()  # the default prompt is typed
        assert [hint.text() for hint in hints] == [LOADING_HINT] * 3
        assert hints[0].isVisible() and window.prompt_status.text() == LOADING_HINT
        # the corpus is on its way, not missing: Train waits for it, without telling the user
        # to open one
        assert window.setup.why_not(window.setup.train_button) == CORPUS_LOADING
        assert window.setup.errors() == []

        qtbot.waitUntil(lambda: not hints[0].isVisible(), timeout=60_000)  # the first weights
        assert "characters · weights at step 0" in window.prompt_status.text()
        window.prompt_edit.clear()
        qtbot.waitUntil(hints[0].isVisible, timeout=30_000)
        assert hints[0].text() == "Type a prompt to see attention"
        assert hints[1].text() == "Type a prompt to see feed-forward activations"

        small_settings(window)
        window.prompt_edit.setText("ROMEO:")
        qtbot.waitUntil(lambda: not hints[0].isVisible(), timeout=30_000)
        shown = controller.last_inspection
        short = tmp_path / "short.txt"
        short.write_text("To be, or not to be: that is the question.", encoding="utf-8")
        window.setup.block_spin.setValue(64)  # longer than the short text's validation part
        assert window.set_corpus(str(short))
        qtbot.waitUntil(hints[0].isVisible, timeout=30_000)
        assert [hint.text() for hint in hints] == [SETTINGS_HINT] * 3
        assert window.prompt_status.text() == SETTINGS_HINT
        # an inspection begun on the old weights that answers after they were cleared (a trial
        # saw the Shakespeare preview's predictions over this corpus) is not shown
        controller._on_inspected(shown)
        assert hints[0].isVisible() and window.prompt_status.text() == SETTINGS_HINT
        assert controller.last_inspection is None
    finally:
        controller.shutdown()
        qtbot.waitUntil(controller.threads_ended, timeout=60_000)
