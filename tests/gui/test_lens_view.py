"""The Lens tab's views: the logit lens grid on a real model, and the loss-by-depth line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPoint
from PySide6.QtGui import QColor, QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from headwatch.core.ablation import val_windows
from headwatch.core.inspection import DepthLosses
from headwatch.core.logit_lens import logit_lens, stage_losses, stage_names, stage_note
from headwatch.core.model import GPT
from headwatch.gui.attention_grid import index_lut
from headwatch.gui.lens_view import NO_NEXT, LensGrid, LensPanel
from headwatch.gui.text_display import quoted_char, visible_char
from headwatch.gui.viewed_evaluation import evaluation_near
from tests.helpers import small_corpus, small_model
from tests.trained import trained_small

PROMPT = "ROMEO:\nBut soft"


@pytest.fixture(scope="module")
def trained():
    return trained_small()


@pytest.fixture(scope="module")
def lens(trained):
    corpus, model = trained
    prompt = corpus.tokenizer.encode_prompt(PROMPT, max_len=model.config.block_size)
    return logit_lens(model, corpus.tokenizer, prompt)


@pytest.fixture
def panel(qtbot) -> LensPanel:
    widget = LensPanel()
    qtbot.addWidget(widget)
    widget.resize(900, 500)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_every_cell_shows_the_lens_of_a_real_model(panel, lens, trained):
    grid = panel.grid
    panel.set_lens(lens)
    S, T = len(lens.stages), len(lens.tokens)
    assert grid.stages == lens.stages == ["embed", "L1 attn", "L1 ffn", "L2 attn", "L2 ffn"]
    assert grid.tokens == [visible_char(ch) for ch in PROMPT]  # the newline drawn as ↵
    assert "↵" in grid.tokens and "␣" in grid.tokens
    lut = index_lut()
    for s in range(S):
        for t in range(T):
            assert grid.cell_value(s, t) == lens.p_next[s][t]
            assert grid.cell_text(s, t) == visible_char(lens.top[s][t])
            if t == T - 1:  # the prompt ends: nothing to score
                assert grid.cell_value(s, t) is None and grid.cell_colour(s, t) == NO_NEXT
            else:
                expected = QColor(*lut[round(lens.p_next[s][t] * 254), :3].tolist())
                assert grid.cell_colour(s, t) == expected
    # each cell's probability is its stage's distribution at the prompt's actual next character
    ids = trained[0].tokenizer.encode_prompt(PROMPT).ids
    for s in range(S):
        for t in range(T - 1):
            assert grid.cell_value(s, t) == pytest.approx(float(lens.probs[s, t, ids[t + 1]]))
    assert not panel.note.isVisible()  # a model with residuals needs no note
    assert not panel.grab().isNull()


def test_a_cell_names_its_top_guess_and_hover_shows_the_top_5(qtbot, panel, lens):
    grid = panel.grid
    panel.set_lens(lens)
    stage, position = 3, 2  # "L2 attn" after the 'M' of ROMEO, whose next is 'E'
    text = grid.describe_cell(stage, position)
    lines = text.split("\n")
    assert lines[0] == "L2 attn · after 'M' (position 3 of 15)"
    p_next = lens.p_next[stage][position]
    assert lines[1] == f"next in the prompt: 'E', p = {p_next:.3f}"
    assert lines[2] == "top 5 at this stage:"
    top5 = lens.top5[stage][position]
    assert len(top5) == 5 and len(lines) == 8
    for rank, ((ch, p), line) in enumerate(zip(top5, lines[3:], strict=True), start=1):
        mark = "  ← the actual next" if ch == "E" else ""
        assert line == f"{rank}. {quoted_char(ch)}  {p:.3f}{mark}"
    # the last position has nothing to score; invisible characters are named
    last = grid.describe_cell(0, len(PROMPT) - 1)
    assert "the prompt ends here: no next character to score" in last
    assert grid.describe_cell(0, 6).startswith(f"embed · after {quoted_char(chr(10))}")

    centre = grid.cell_rect(stage, position).center().toPoint()
    event = QHelpEvent(QEvent.Type.ToolTip, centre, grid.mapToGlobal(centre))
    QApplication.sendEvent(grid, event)
    qtbot.waitUntil(lambda: QToolTip.text() == text)
    assert grid.cell_at(grid.cell_rect(0, 0).center()) == (0, 0)
    assert grid.cell_at(grid.rect().bottomRight().toPointF()) is None


def test_text_and_labels_thin_out_as_cells_narrow(qtbot, lens):
    grid = LensGrid()
    qtbot.addWidget(grid)
    grid.resize(700, 300)
    grid.set_lens(lens)
    grid.show()
    qtbot.waitExposed(grid)
    T = len(lens.tokens)
    assert grid.labelled_positions() == list(range(T))
    assert all(grid.text_fits(s, t) for s in range(5) for t in range(T))
    assert grid.labelled_stages() == list(range(5))

    grid.resize(130, 300)  # a few px per cell: colours only, every 2nd, 4th … character named
    qtbot.waitUntil(lambda: grid.width() == 130)
    labelled = grid.labelled_positions()
    assert 1 < len(labelled) < T and labelled[0] == 0
    stride = labelled[1] - labelled[0]
    assert stride in (2, 4, 8) and labelled == list(range(0, T, stride))
    assert not any(grid.text_fits(s, t) for s in range(5) for t in range(T))
    assert not grid.grab().isNull()

    grid.resize(700, 100)  # rows too short for every name: every 2nd stage named
    qtbot.waitUntil(lambda: grid.height() == 100)
    named = grid.labelled_stages()
    assert named == [0, 2, 4] and [grid.stages[i] for i in named] == ["embed", "L1 ffn", "L2 ffn"]
    assert not grid.grab().isNull()


@pytest.mark.parametrize(
    ("switches", "names"),
    [
        ({"ffn": False}, ["embed", "L1 attn", "L2 attn"]),
        ({"residual": False}, ["embed", "L1 attn", "L1 ffn", "L2 attn", "L2 ffn"]),
        ({"residual": False, "ffn": False, "layernorm": False}, ["embed", "L1 attn", "L2 attn"]),
    ],
)
def test_a_ladder_variants_absent_stages_are_absent_and_its_note_shown(panel, switches, names):
    corpus = small_corpus()
    torch.manual_seed(0)
    model = GPT(small_model(corpus.vocab_size, **switches)).eval()
    prompt = corpus.tokenizer.encode_prompt(PROMPT, max_len=16)
    lens = logit_lens(model, corpus.tokenizer, prompt)
    panel.set_lens(lens)
    assert panel.grid.stages == names == stage_names(model.config)
    note = stage_note(model.config)
    assert panel.note.isVisible() == (note is not None)
    if note is not None:
        assert panel.note.text() == f"Note: {note}."
        assert "no residual connections" in note
    x, y = val_windows(corpus, 8, 16)
    losses = stage_losses(model, x, y)
    panel.set_depth_losses(DepthLosses(names, losses, note, 0, "8 validation windows"))
    assert panel.depth.stage_labels == names


def test_the_loss_by_depth_line_is_stage_losses(panel, trained):
    corpus, model = trained
    x, y = val_windows(corpus, 12, model.config.block_size)
    losses = stage_losses(model, x, y)
    names = stage_names(model.config)
    report = DepthLosses(names, losses, None, 60, "12 validation windows of 16 characters")
    panel.set_depth_losses(report)
    xs, ys = panel.depth.points()
    np.testing.assert_array_equal(xs, np.arange(len(names)))
    np.testing.assert_array_equal(ys, np.array(losses))
    assert panel.depth.stage_labels == names
    assert panel.description.text() == f"step 60 · last stage {losses[-1]:.3f}: the model's loss"
    assert panel.depth.reference() is None
    panel.add_evaluation(40, 2.25)
    assert panel.depth.reference() == 2.25
    change = losses[2] - losses[1]
    assert panel.depth.describe_point(2) == (
        f"L1 ffn: {losses[2]:.3f} nats/char ({change:+.3f} from L1 attn)"
    )
    assert panel.depth.describe_point(len(names) - 1).endswith(
        "the model's own loss on these windows"
    )
    panel.forget_evaluations()
    assert panel.depth.reference() is None


def test_the_val_line_is_the_evaluation_of_the_step_on_show(panel):
    for step, val in ((0, 4.2), (100, 2.6), (200, 2.3), (300, 2.1)):
        panel.add_evaluation(step, val)
    assert panel.depth.reference() == 2.1  # Live: the newest
    assert panel.depth.reference_label() == "val loss 2.100 (step 300)"
    panel.view_step(100)
    assert panel.depth.reference_label() == "val loss 2.600 (step 100)"
    panel.view_step(230)  # a snapshot between evaluations: the nearest, named
    assert panel.depth.reference_label() == "val loss 2.300 (step 200)"
    panel.set_knocked_out(True)  # the losses drawn are without heads; the line is not
    assert panel.depth.reference_label() == (
        "full model's val loss 2.300 (step 200, every head in)"
    )
    panel.set_knocked_out(False)
    panel.view_step(460)  # far past the last evaluation: no line rather than another step's
    assert panel.depth.reference() is None and panel.depth.reference_label() == ""
    panel.view_step(None)
    assert panel.depth.reference() == 2.1


def test_evaluation_near_a_step():
    evaluations = {0: 4.0, 10: 3.0, 20: 2.5, 30: 2.2}
    assert evaluation_near(evaluations, None) == (30, 2.2)
    assert evaluation_near(evaluations, 20) == (20, 2.5)
    assert evaluation_near(evaluations, 14) == (10, 3.0)
    assert evaluation_near(evaluations, 36) is None  # more than half an interval past the last
    assert evaluation_near({}, None) is None and evaluation_near({}, 5) is None
    assert evaluation_near({40: 2.0}, 40) == (40, 2.0) and evaluation_near({40: 2.0}, 41) is None


def test_clear_shows_the_hint_again(panel, lens):
    panel.set_lens(lens)
    assert panel.grid.isVisible()
    panel.clear()
    assert not panel.grid.isVisible()
    assert panel.grid.cell_at(QPoint(60, 40).toPointF()) is None


def test_a_one_character_prompt_has_nothing_to_score(panel, trained):
    corpus, model = trained
    lens = logit_lens(model, corpus.tokenizer, corpus.tokenizer.encode_prompt(" ", max_len=16))
    panel.set_lens(lens)
    grid = panel.grid
    assert grid.tokens == ["␣"]
    assert all(grid.cell_value(s, 0) is None for s in range(len(lens.stages)))
    assert all(grid.cell_colour(s, 0) == NO_NEXT for s in range(len(lens.stages)))
    assert grid.describe_cell(0, 0).split("\n")[:2] == [
        f"embed · after {quoted_char(' ')} (position 1 of 1)",
        "the prompt ends here: no next character to score",
    ]
    assert not panel.grab().isNull()
