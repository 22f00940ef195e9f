"""The window's TensorBoard box: its runs write RUN/tb/ like `headwatch train --tensorboard`."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from headwatch.gui import setup_panel
from headwatch.gui.setup_panel import TENSORBOARD_MISSING_TIP, SetupPanel


def test_a_window_run_with_the_box_checked_writes_tensorboard_events(qtbot, window):
    controller = window.controller
    assert window.setup.tensorboard_check.isEnabled()
    window.setup.tensorboard_check.setChecked(True)
    assert controller.tensorboard and window.setup.settings()["tensorboard"] is True
    window.setup.iters_spin.setValue(20)  # evaluations at steps 10 and 20
    window.train()
    qtbot.waitUntil(controller.is_training, timeout=10_000)
    qtbot.waitUntil(lambda: not controller.is_training(), timeout=60_000)
    assert controller.current.step == 20
    events = EventAccumulator(
        str(Path(controller.current.folder) / "tb"), size_guidance={"images": 0, "histograms": 0}
    )
    events.Reload()
    assert set(events.Tags()["scalars"]) == {
        "loss/train_step", "loss/train", "loss/val", "lr", "tokens_per_s"
    }  # fmt: skip
    assert [e.step for e in events.Scalars("loss/train_step")] == list(range(1, 21))
    assert [e.step for e in events.Scalars("loss/val")] == [10, 20]
    assert events.Scalars("lr")[0].value == pytest.approx(window.setup.lr_spin.value())
    assert [image.step for image in events.Images("attention")] == [10, 20]
    assert set(events.Tags()["histograms"]) == {"ffn/layer1", "ffn/layer2"}


def test_an_unchecked_box_writes_no_events(qtbot, window):
    controller = window.controller
    window.setup.iters_spin.setValue(10)
    window.train()
    qtbot.waitUntil(controller.is_training, timeout=10_000)
    qtbot.waitUntil(lambda: not controller.is_training(), timeout=60_000)
    assert controller.current.step == 10
    assert not (Path(controller.current.folder) / "tb").exists()


def test_without_tensorboard_the_box_is_off_and_says_how_to_install_it(qtbot, monkeypatch):
    monkeypatch.setattr(setup_panel, "tensorboard_installed", lambda: False)
    panel = SetupPanel()
    qtbot.addWidget(panel)
    box = panel.tensorboard_check
    assert not box.isEnabled() and box.toolTip() == TENSORBOARD_MISSING_TIP
    assert "pip install headwatch[tensorboard]" in TENSORBOARD_MISSING_TIP
    panel.restore({"tensorboard": True})  # saved where it was installed
    assert not box.isChecked() and panel.tensorboard() is False
