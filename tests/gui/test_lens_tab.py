"""The Lens tab in the window: typing updates the lens, the loss by depth follows training."""

from __future__ import annotations

import numpy as np
import pytest

from headwatch.core.ablation import val_windows
from headwatch.core.head_knockout import HEAD_ANALYSIS_TOKENS
from headwatch.core.logit_lens import logit_lens, stage_losses
from headwatch.core.model import GPT
from headwatch.gui.text_display import visible_char
from tests.gui.conftest import stop_training


def type_prompt(qtbot, window, text: str) -> None:
    window.prompt_edit.clear()
    qtbot.keyClicks(window.prompt_edit, text)


def model_of(snapshot) -> GPT:
    model = GPT.unfilled(snapshot.config)
    model.load_state_dict(snapshot.state)
    return model.eval()


def inspected(window, text: str) -> bool:
    result = window.controller.last_inspection
    return result is not None and result.tokens == list(text)


def test_typing_a_prompt_updates_the_lens_view(qtbot, window):
    controller, grid = window.controller, window.lens_panel.grid
    type_prompt(qtbot, window, "ROMEO")
    # on the small settings' weights (the preset's may be inspected first)
    qtbot.waitUntil(
        lambda: inspected(window, "ROMEO") and controller.last_inspection.attention.shape[0] == 2,
        timeout=30_000,
    )
    assert controller.last_inspection.lens is None  # the Lens tab is not on show: no lens

    with qtbot.waitSignal(controller.lensAnalysed, timeout=60_000) as measured:
        window.analysis_tabs.setCurrentWidget(window.lens_panel)
    qtbot.waitUntil(lambda: grid.tokens == list("ROMEO"), timeout=30_000)
    snapshot = controller.snapshots.latest()
    model = model_of(snapshot)

    # the loss by depth: stage_losses on these weights over the head analyses' windows
    report = measured.args[0]
    assert report.step == snapshot.step and len(report.stages) == 5
    block_size = snapshot.config.block_size
    x, y = val_windows(controller.corpus, HEAD_ANALYSIS_TOKENS // block_size, block_size)
    expected = stage_losses(model, x, y)
    xs, ys = window.lens_panel.depth.points()
    np.testing.assert_allclose(ys, expected, rtol=0, atol=1e-5)
    assert list(ys) == report.losses and window.lens_panel.depth.stage_labels == report.stages

    type_prompt(qtbot, window, "JULIET:\\n")  # typed "\n" stands for a newline
    qtbot.waitUntil(lambda: grid.tokens == [*"JULIET:", "↵"], timeout=30_000)
    tokenizer = snapshot.tokenizer
    lens = logit_lens(model, tokenizer, tokenizer.encode_prompt("JULIET:\n", max_len=block_size))
    assert grid.stages == lens.stages == ["embed", "L1 attn", "L1 ffn", "L2 attn", "L2 ffn"]
    for s in range(len(lens.stages)):
        for t in range(len(lens.tokens)):
            if lens.p_next[s][t] is None:
                assert grid.cell_value(s, t) is None
            else:
                assert grid.cell_value(s, t) == pytest.approx(lens.p_next[s][t], abs=1e-5)
            assert grid.cell_text(s, t) == visible_char(lens.top[s][t])

    window.analysis_tabs.setCurrentIndex(0)  # Predictions
    type_prompt(qtbot, window, "ROMEO:")
    qtbot.waitUntil(lambda: inspected(window, "ROMEO:"), timeout=30_000)
    assert controller.last_inspection.lens is None  # hidden again: no lens per keystroke


def test_the_loss_by_depth_follows_training_beside_the_val_loss(qtbot, window):
    controller, panel = window.controller, window.lens_panel
    window.analysis_tabs.setCurrentWidget(panel)
    type_prompt(qtbot, window, "ROMEO:")
    reports, evaluations = [], []
    controller.lensAnalysed.connect(reports.append)
    controller.evaluated.connect(evaluations.append)
    window.train()
    # the first evaluation brings the head analyses, and with them the loss by depth
    qtbot.waitUntil(lambda: any(r.step > 0 for r in reports), timeout=60_000)
    stop_training(qtbot, window)
    # the run's end brings one more analysis: compare with the last one shown
    qtbot.waitUntil(lambda: not panel.description.text().startswith("Measuring"), timeout=60_000)
    assert panel.depth.reference() == evaluations[-1].val
    report = reports[-1]
    assert list(panel.depth.points()[1]) == report.losses
    assert panel.description.text().startswith(f"step {report.step:,} · last stage")
    assert "validation windows of 16 characters" in panel.description.toolTip()
