"""The window as a user drives it: type, train, change heads, retrain, close mid-training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from headwatch.core.formatting import typed_prompt
from headwatch.gui.main_window import MainWindow
from tests.gui.conftest import close_window, open_run, open_window, stop_training

NAMES = [
    "promptEdit", "headsCombo", "layersSpin", "embdSpin", "trainButton", "pauseButton",
    "stopButton", "retrainButton", "progressBar", "lossPlot", "attentionGrid", "ffnView",
    "predictionView", "sampleView",
]  # fmt: skip


def type_prompt(qtbot, window, text: str) -> None:
    window.prompt_edit.clear()
    qtbot.keyClicks(window.prompt_edit, text)


def test_stable_object_names(window):
    from PySide6.QtWidgets import QWidget

    for name in NAMES:
        assert window.findChild(QWidget, name) is not None, name


def test_typing_a_prompt_fills_the_attention_grid(qtbot, window):
    type_prompt(qtbot, window, "ROMEO:")
    qtbot.waitUntil(
        lambda: (
            window.attention_grid.n_layers == 2
            and window.controller.last_inspection is not None
            and window.controller.last_inspection.tokens == list("ROMEO:")
        ),
        timeout=10_000,
    )
    grid = window.attention_grid
    assert (grid.n_layers, grid.n_heads) == (2, 4)
    for layer in range(2):
        for head in range(4):
            image = grid.head_image(layer, head)
            assert image.shape == (6, 6)
    assert window.ffn_view.n_layers == 2
    assert window.ffn_view.layer_image(0).shape == (6, 128)
    assert len(window.prediction_view.predictions()) == 10


def test_unknown_characters_are_marked_and_left_out(qtbot, window):
    type_prompt(qtbot, window, "RO")
    window.prompt_edit.insert("€")  # QTest can only type ASCII keys
    qtbot.keyClicks(window.prompt_edit, "ME")
    qtbot.waitUntil(
        lambda: (
            window.controller.last_inspection is not None
            and window.controller.last_inspection.tokens == list("ROME")
        ),
        timeout=10_000,
    )
    assert window.prompt_status.text().endswith("left out: '€'")
    assert window.prompt_edit.property("problem") is True
    assert "'€' at 2" in window.prompt_edit.toolTip()
    window.prompt_edit.setText("R€O€M€E~")  # each character said once, with how often
    qtbot.waitUntil(lambda: "'~'" in window.prompt_status.text(), timeout=10_000)
    assert window.prompt_status.text().endswith("left out: '€' ×3, '~'")
    window.prompt_edit.setText("ROME")
    qtbot.waitUntil(lambda: window.prompt_status.property("problem") is False, timeout=10_000)
    assert window.prompt_edit.property("problem") is False
    assert window.prompt_edit.toolTip() == ""


def test_long_prompt_uses_the_last_block(qtbot, window):
    window.prompt_edit.setText("abcdefghij" * 3)  # block size 16
    qtbot.waitUntil(
        lambda: (
            window.controller.last_inspection is not None
            and len(window.controller.last_inspection.tokens) == 16
        ),
        timeout=10_000,
    )
    assert "last 16 characters" in window.prompt_status.text()
    assert "".join(window.controller.last_inspection.tokens) == ("abcdefghij" * 3)[-16:]


def test_backslash_n_in_the_prompt_is_a_newline():
    assert typed_prompt("ROMEO:\\nBut") == "ROMEO:\nBut"


def test_train_grows_curves_then_heads_change_and_retrain(qtbot, window):
    window.prompt_edit.setText("ROMEO:")
    window.setup.train_button.click()
    qtbot.waitUntil(lambda: window.controller.current is not None, timeout=10_000)
    first = window.controller.current.run_id
    qtbot.waitUntil(lambda: window.loss_plot.train_count(first) >= 5, timeout=30_000)
    qtbot.waitUntil(lambda: window.loss_plot.val_count(first) >= 1, timeout=30_000)
    count = window.loss_plot.train_count(first)
    qtbot.waitUntil(lambda: window.loss_plot.train_count(first) > count, timeout=30_000)
    assert window.setup.progress_bar.value() > 0
    # the views follow training: an inspection from trained weights arrives
    qtbot.waitUntil(
        lambda: (
            window.controller.last_inspection is not None
            and window.controller.last_inspection.step > 0
        ),
        timeout=30_000,
    )

    window.setup.heads_combo.setCurrentIndex(window.setup.heads_combo.findText("2"))
    window.setup.retrain_button.click()
    qtbot.waitUntil(lambda: len(window.loss_plot.run_ids()) == 2, timeout=10_000)
    second = window.controller.current.run_id
    assert second != first
    qtbot.waitUntil(lambda: window.attention_grid.n_heads == 2, timeout=30_000)
    assert window.attention_grid.head_image(0, 1).shape == (6, 6)
    qtbot.waitUntil(lambda: window.loss_plot.train_count(second) > 0, timeout=30_000)
    assert (
        window.loss_plot.label(first) == "heads=4" and window.loss_plot.label(second) == "heads=2"
    )
    assert window.controller.is_training()
    stop_training(qtbot, window)


def test_pause_resume_stop(qtbot, window):
    window.train()
    qtbot.waitUntil(lambda: window.controller.state == "training", timeout=10_000)
    window.setup.pause_button.click()
    assert window.controller.state == "paused"
    assert window.setup.pause_button.text().endswith("Resume")
    window.setup.pause_button.click()
    assert window.controller.state == "training"
    window.setup.stop_button.click()
    assert window.controller.state == "stopping"  # until the step in flight is done
    assert window.setup.progress_label.text().endswith("stopping…")
    qtbot.waitUntil(lambda: window.controller.state == "idle", timeout=30_000)
    assert not window.controller.is_training()


def test_close_during_training_hides_at_once_ends_the_threads_and_saves(qtbot, tmp_path):
    window = open_window(qtbot, tmp_path / "s.ini")
    window.train()
    qtbot.waitUntil(lambda: window.controller.current.step >= 3, timeout=30_000)
    window.close()
    assert not window.isVisible()
    with qtbot.waitSignal(window.controller.allThreadsEnded, timeout=30_000):
        pass
    assert window.controller.threads_ended()
    from headwatch.core.runs import load_run

    assert load_run(window.controller.current.folder).step >= 3


def test_bad_corpus_keeps_the_previous_one(qtbot, window, tmp_path):
    before = window.controller.corpus
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00\x01binary")
    assert window.set_corpus(str(bad)) is False
    assert window.controller.corpus is before
    assert "looks binary" in window.last_error
    assert window.setup.corpus() is before


def test_open_run_shows_its_curve_weights_and_progress(qtbot, window, tmp_path):
    window.train()
    qtbot.waitUntil(lambda: window.controller.current.step >= 12, timeout=30_000)
    stop_training(qtbot, window)
    path = window.controller.current.folder
    assert open_run(qtbot, window, path)
    run = window.controller.current
    assert run.folder == path
    assert window.loss_plot.train_count(run.run_id) >= 12
    assert window.loss_plot.val_count(run.run_id) >= 1
    assert window.controller.can_continue()
    # named by its folder, not by settings it shares with the run trained before: its legend
    # entry and its row tell the two apart, the settings are in the row's tooltip
    trained = next(r for r in window.controller.runs if r.run_id != run.run_id)
    assert run.label == Path(path).name != trained.label
    assert window.loss_plot.legend_text(run.run_id) == Path(path).name
    row = next(r for r in window.compare_view.rows() if r["run_id"] == run.run_id)
    assert row["label"] == Path(path).name and "layers=2 · heads=4" in row["settings"]
    # its speed: the run's tokens over its seconds in steps (not "—")
    tokens = run.step * run.settings["batch_size"] * run.settings["block_size"]
    assert run.elapsed > 0 and row["tokens_per_s"] == pytest.approx(tokens / run.elapsed)
    # the progress shows the run's own step and total, not "Not started"
    assert window.setup.progress_bar.text() == f"{run.step:,} / 100,000"
    assert window.setup.progress_bar.value() == run.step
    assert open_run(qtbot, window, tmp_path / "nope") is False
    assert "no such folder" in window.last_error


def test_settings_persist(qtbot, tmp_path):
    win = MainWindow(settings_path=tmp_path / "s.ini")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.controller.corpus is not None, timeout=60_000)
    win.setup.layers_spin.setValue(3)
    win.prompt_edit.setText("JULIET:")
    close_window(qtbot, win)
    again = MainWindow(settings_path=tmp_path / "s.ini")
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.controller.corpus is not None, timeout=60_000)
    assert again.setup.layers_spin.value() == 3
    assert again.prompt_edit.text() == "JULIET:"
    close_window(qtbot, again)


def test_export_and_save_run_as(qtbot, window, tmp_path):
    window.train()
    qtbot.waitUntil(lambda: window.controller.current.step >= 2, timeout=30_000)
    stop_training(qtbot, window)
    assert window.export_view("heatmaps", tmp_path / "view.png")
    assert (tmp_path / "view.png").stat().st_size > 1000
    assert window.controller.save_run_as(tmp_path / "copy")
    assert (tmp_path / "copy" / "checkpoint.pt").exists()


def test_sampling_writes_text(qtbot, window):
    # the untrained preview's weights are built in the inspection thread: sample once they exist
    qtbot.waitUntil(lambda: window.controller.last_inspection is not None, timeout=30_000)
    window.prompt_edit.setText("ROMEO:")
    window.sample_view.findChild(object, "sampleLengthSpin").setValue(20)
    with qtbot.waitSignal(window.controller.sampled, timeout=30_000):
        window.sample_view.findChild(object, "sampleButton").click()
    qtbot.waitUntil(lambda: window.sample_view.text().startswith("ROMEO:"), timeout=5_000)
    assert len(window.sample_view.text()) >= 26
    # a new run's weights did not write it: it goes
    with qtbot.waitSignal(window.controller.runAdded, timeout=30_000):
        window.train()
    assert window.sample_view.text() == ""
    stop_training(qtbot, window)


def test_divergence_is_reported_and_the_app_can_train_again(qtbot, window):
    window.setup.lr_spin.setValue(10.0)
    window.train()
    qtbot.waitUntil(lambda: "diverged" in window.last_error, timeout=60_000)
    qtbot.waitUntil(lambda: window.controller.state == "idle", timeout=10_000)
    window.setup.lr_spin.setValue(1e-3)
    window.train()
    qtbot.waitUntil(lambda: window.controller.state == "training", timeout=10_000)
    stop_training(qtbot, window)


def test_grid_data_matches_inspection(qtbot, window):
    window.prompt_edit.setText("ROMEO:")
    qtbot.waitUntil(
        lambda: (
            window.controller.last_inspection is not None
            and window.controller.last_inspection.tokens == list("ROMEO:")
        ),
        timeout=10_000,
    )
    expected = window.controller.last_inspection.attention[1, 3]
    shown = window.attention_grid.head_image(1, 3)
    lower = np.tril(np.ones((6, 6), dtype=bool))
    np.testing.assert_allclose(np.nan_to_num(shown)[lower], expected[lower], atol=1e-6)
    assert Qt  # keep the import for keyboard-driven tests below


def test_the_window_fits_the_screen_first_and_when_restored(qtbot, tmp_path):
    from PySide6.QtCore import QByteArray, QRect, QSettings

    from headwatch.gui.main_window import fit_rect

    assert fit_rect(QRect(-50, 900, 1500, 950), QRect(0, 0, 1366, 738)) == QRect(0, 0, 1366, 738)
    assert fit_rect(QRect(10, 20, 300, 200), QRect(0, 0, 1366, 738)) == QRect(10, 20, 300, 200)
    first = MainWindow(settings_path=tmp_path / "s.ini")
    qtbot.addWidget(first)
    available = first.screen().availableGeometry()
    assert available.contains(first.frameGeometry())  # the default 1500×950 did not fit here
    # a layout saved on a larger screen: restored inside this one
    big = MainWindow(settings_path=tmp_path / "s.ini")
    qtbot.addWidget(big)
    big.setGeometry(0, 0, available.width() + 900, available.height() + 700)
    settings = QSettings(str(tmp_path / "big.ini"), QSettings.Format.IniFormat)
    settings.setValue("window/geometry", big.saveGeometry())
    settings.sync()
    assert isinstance(settings.value("window/geometry"), QByteArray)
    restored = MainWindow(settings_path=tmp_path / "big.ini")
    qtbot.addWidget(restored)
    assert available.contains(restored.frameGeometry())
    for window in (first, big, restored):
        close_window(qtbot, window)


def test_devices_on_offer_are_those_torch_has_and_the_choice_is_used(qtbot, window):
    import torch

    devices = [
        window.setup.device_combo.itemText(i) for i in range(window.setup.device_combo.count())
    ]
    assert devices[:2] == ["auto", "cpu"]
    assert ("cuda" in devices) == torch.cuda.is_available()
    window.setup.device_combo.setCurrentText("cpu")
    window.train()
    qtbot.waitUntil(lambda: bool(window.controller.current and window.controller.current.folder),
                    timeout=30_000)  # fmt: skip
    stop_training(qtbot, window)
    from headwatch.core.runs import load_run

    assert load_run(window.controller.current.folder).train_config.device == "cpu"


def test_progress_says_estimating_until_it_has_a_pace(qtbot, window):
    with qtbot.waitSignal(
        window.controller.progressChanged,
        check_params_cb=lambda progress: progress.state == "training",
        timeout=30_000,
    ) as first:
        window.train()
    assert first.args[0].eta_s is None
    assert window.setup.progress_label.text().endswith("ETA estimating…")
    stop_training(qtbot, window)
