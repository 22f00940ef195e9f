"""The logit lens as the window gets it: with the prompt's inspection, and the loss by depth."""

from __future__ import annotations

import pytest
import torch

from headwatch.core.ablation import ablation_values, knocked_out, val_windows
from headwatch.core.control import SnapshotBox
from headwatch.core.diagnostics import unit_top_contexts
from headwatch.core.head_knockout import HEAD_ANALYSIS_TOKENS, Knockout, analysis_windows
from headwatch.core.inspection import UNIT_ANALYSIS_TOKENS, Analyst, Inspector, inspect_prompt
from headwatch.core.ladder import STAGES
from headwatch.core.logit_lens import TOP_K, logit_lens, stage_losses, stage_names, stage_note
from headwatch.core.model import GPT
from tests.helpers import small_corpus
from tests.trained import trained_small

PROMPT = "ROMEO:\nBut soft"


@pytest.fixture(scope="module")
def trained():
    return trained_small()


def test_an_inspection_carries_the_lens_only_when_asked(trained):
    corpus, model = trained
    tokenizer = corpus.tokenizer
    plain = inspect_prompt(model, tokenizer, PROMPT, step=5)
    assert plain.lens is None
    with_lens = inspect_prompt(model, tokenizer, PROMPT, step=5, lens=True)
    expected = logit_lens(model, tokenizer, tokenizer.encode_prompt(PROMPT, max_len=16))
    assert with_lens.lens.tokens == expected.tokens == with_lens.tokens
    # read from the inspection's own forward pass (attention weights computed explicitly): the
    # same distributions as the lens's own pass, to float rounding
    torch.testing.assert_close(with_lens.lens.probs, expected.probs, atol=1e-6, rtol=0)
    assert with_lens.lens.top == expected.top and with_lens.lens.stages == expected.stages
    for got, want in zip(with_lens.lens.p_next, expected.p_next, strict=True):
        assert got[-1] is None and got[:-1] == pytest.approx(want[:-1], abs=1e-6)
    # the last stage is the model's own next-character distribution, as the inspection has it
    top = dict(with_lens.next_chars)
    for ch, p in with_lens.lens.top5[-1][-1]:
        assert top[ch] == pytest.approx(p, abs=1e-6)
    assert inspect_prompt(model, tokenizer, "", lens=True).lens is None  # nothing to read


def test_depth_losses_are_stage_losses_over_the_head_analysis_windows(trained):
    corpus, model = trained
    box = SnapshotBox()
    config = model.config
    box.publish(60, config, corpus.tokenizer, {k: v.clone() for k, v in model.state_dict().items()})
    report = Analyst(Inspector()).depth_losses(box.latest(), corpus)
    n = HEAD_ANALYSIS_TOKENS // config.block_size
    x, y = val_windows(corpus, n, config.block_size)
    assert report.stages == stage_names(config) and report.step == 60 and report.note is None
    assert report.losses == pytest.approx(stage_losses(model, x, y), abs=1e-6)
    with torch.no_grad():
        _, own = model.eval()(x, y)
    assert report.losses[-1] == pytest.approx(own.item(), abs=1e-5)  # the model's own loss
    assert report.description == f"{n} validation windows of 16 characters, weights at step 60"


@pytest.mark.parametrize("stage", STAGES, ids=[stage.name for stage in STAGES])
def test_every_ladder_variant_inspects_with_its_own_lens(stage):
    corpus = small_corpus()
    torch.manual_seed(0)
    model = GPT(stage.model_config(corpus.vocab_size)).eval()
    result = inspect_prompt(model, corpus.tokenizer, PROMPT, lens=True)
    lens = result.lens
    assert lens.stages == stage_names(model.config) and lens.note == stage_note(model.config)
    assert lens.probs.shape[:2] == (len(lens.stages), len(result.tokens))
    for ch, p in result.next_chars[:TOP_K]:  # the last stage is the model's own prediction
        assert float(lens.probs[-1, -1, corpus.tokenizer.stoi[ch]]) == pytest.approx(p, abs=1e-5)


@pytest.mark.parametrize("ablation", ["mean", "zero"])
def test_the_unit_and_the_loss_by_depth_measure_the_model_with_its_heads_knocked_out(
    trained, ablation
):
    """The window's knockout is part of the model on show: the Unit tab and the loss by depth
    measure the model without those heads, as the prompt views show it."""
    corpus, model = trained
    box = SnapshotBox()
    config = model.config
    box.publish(60, config, corpus.tokenizer, {k: v.clone() for k, v in model.state_dict().items()})
    snapshot, analyst = box.latest(), Analyst(Inspector())
    knockout = Knockout(frozenset({(0, 0), (0, 1), (7, 0)}), ablation, corpus)  # 7.0: none such
    heads = [(0, 0), (0, 1)]
    x, y = analysis_windows(corpus, config.block_size)
    with knocked_out(model, heads, ablation_values(model, x, ablation)):
        expected = stage_losses(model, x, y)
        windows = analyst.windows(corpus, config.block_size, UNIT_ANALYSIS_TOKENS)
        contexts = unit_top_contexts(model, corpus.tokenizer, windows, 1, 5, 20)

    report = analyst.depth_losses(snapshot, corpus, knockout)
    assert report.losses == pytest.approx(expected, abs=1e-6)
    assert report.knocked_out == ((0, 0), (0, 1)) and report.ablation == ablation
    assert report.description.endswith(f", L1·H1, L1·H2 knocked out ({ablation}-ablation)")
    full = analyst.depth_losses(snapshot, corpus)
    assert report.losses[0] == full.losses[0]  # the embeddings see no head
    assert report.losses[-1] > full.losses[-1]  # layer 1's heads matter
    assert full.knocked_out == () and "knocked out" not in full.description

    unit = analyst.unit(snapshot, corpus, 1, 5, knockout=knockout)
    assert [(c[0], c[1]) for c in unit.contexts] == [(c.text, c.index) for c in contexts]
    assert [c[2] for c in unit.contexts] == pytest.approx([c.activation for c in contexts])
    assert unit.step == 60 and unit.knocked_out == ((0, 0), (0, 1))
    assert "weights at step 60, L1·H1, L1·H2 knocked out" in unit.description
    assert analyst.unit(snapshot, corpus, 1, 5).contexts != unit.contexts
