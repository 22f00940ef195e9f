"""The window's knockout in the Inspector (core.head_knockout) and the Heads tab's report
(core.head_report), on a small trained model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from headwatch.core.ablation import ablation_values, knockout_losses
from headwatch.core.char_classes import class_ids
from headwatch.core.control import SnapshotBox
from headwatch.core.corpus import Corpus
from headwatch.core.head_knockout import Knockout, analysis_windows
from headwatch.core.head_profiles import head_profiles, label_heads
from headwatch.core.head_report import head_report
from headwatch.core.inspection import Analyst, Inspector
from tests.trained import trained_small

PROMPT = "First Citizen:\nBefore"


@pytest.fixture(scope="module")
def trained():
    corpus, model = trained_small(80)
    box = SnapshotBox()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    return corpus, model, box.publish(80, model.config, corpus.tokenizer, state), box


def test_knocking_out_nothing_changes_nothing_and_restoring_is_bit_identical(trained):
    corpus, _, snapshot, _ = trained
    inspector = Inspector()
    plain = inspector.inspect(snapshot, PROMPT)
    inspector.set_knockout(Knockout(frozenset(), "mean", corpus))
    np.testing.assert_array_equal(inspector.inspect(snapshot, PROMPT).attention, plain.attention)
    inspector.set_knockout(Knockout(frozenset({(0, 1), (1, 0)}), "mean", corpus))
    knocked = inspector.inspect(snapshot, PROMPT)
    assert knocked.next_chars != plain.next_chars
    np.testing.assert_array_equal(knocked.attention[0], plain.attention[0])  # layer 1 is before
    inspector.set_knockout(Knockout(frozenset(), "mean", corpus))
    restored = inspector.inspect(snapshot, PROMPT)
    assert restored.next_chars == plain.next_chars
    np.testing.assert_array_equal(restored.attention, plain.attention)
    np.testing.assert_array_equal(restored.ffn, plain.ffn)


def test_the_inspectors_knockout_is_mean_ablation_over_the_analysis_windows(trained):
    corpus, model, snapshot, _ = trained
    heads = {(1, 1)}
    x, _ = analysis_windows(corpus, model.config.block_size)
    values = ablation_values(model, x, "mean")
    from headwatch.core.ablation import knocked_out
    from headwatch.core.inspection import inspect_prompt

    with knocked_out(model, heads, values):
        expected = inspect_prompt(model, corpus.tokenizer, PROMPT, 80)
    inspector = Inspector()
    inspector.set_knockout(Knockout(frozenset(heads), "mean", corpus))
    got = inspector.inspect(snapshot, PROMPT)
    assert [c for c, _ in got.next_chars] == [c for c, _ in expected.next_chars]
    np.testing.assert_allclose([p for _, p in got.next_chars],
                               [p for _, p in expected.next_chars], atol=1e-6)  # fmt: skip
    inspector.set_knockout(Knockout(frozenset(heads), "zero", corpus))
    zero = inspector.inspect(snapshot, PROMPT)
    assert [p for _, p in zero.next_chars] != [p for _, p in got.next_chars]


def test_samples_are_knocked_out_too(trained):
    corpus, _, snapshot, _ = trained
    inspector = Inspector()

    def sample() -> tuple[str, str]:
        torch.manual_seed(0)  # the same random draws: only the model differs
        return inspector.sample(snapshot, "ROMEO:", 60, 1.0)

    plain = sample()
    assert sample() == plain
    inspector.set_knockout(Knockout(frozenset({(0, 0), (0, 1), (1, 0), (1, 1)}), "zero"))
    assert sample() != plain
    inspector.set_knockout(Knockout())
    assert sample() == plain


def test_mean_ablation_without_the_models_corpus_says_what_to_do(trained):
    _, _, snapshot, _ = trained
    inspector = Inspector()
    inspector.set_knockout(Knockout(frozenset({(0, 0)}), "mean", None))
    with pytest.raises(ValueError, match="zero-ablation"):
        inspector.inspect(snapshot, PROMPT)
    other = Corpus("other", "xyz " * 400)  # another vocabulary
    inspector.set_knockout(Knockout(frozenset({(0, 0)}), "mean", other))
    with pytest.raises(ValueError, match="zero-ablation"):
        inspector.inspect(snapshot, PROMPT)
    inspector.set_knockout(Knockout(frozenset({(0, 0), (7, 7)}), "zero", None))  # (7, 7) absent
    plain = Inspector().inspect(snapshot, PROMPT)
    zero = inspector.inspect(snapshot, PROMPT)  # needs no corpus; absent heads are left alone
    assert zero.tokens == plain.tokens and zero.next_chars != plain.next_chars


def test_head_report_has_the_profiles_labels_and_knockout_losses(trained):
    corpus, model, snapshot, _ = trained
    report = Analyst(Inspector()).heads(snapshot, corpus, "mean")
    x, y = analysis_windows(corpus, model.config.block_size)
    profiles = head_profiles(model, x, class_ids(corpus.tokenizer.chars))
    labels = label_heads(profiles)
    losses = knockout_losses(model, x, y, ablation_values(model, x, "mean"))
    assert report.labels == [[label.text for label in row] for row in labels]
    assert report.kinds == [[label.kind.value for label in row] for row in labels]
    assert report.base_loss == pytest.approx(losses.base, abs=1e-6)
    assert report.ablation == "mean" and report.step == 80
    for row in report.rows:
        at = (row["layer"], row["head"])
        assert row["delta_loss"] == pytest.approx(float(losses.delta[at]), abs=1e-6)
        assert row["delta_loss_kept_only"] == pytest.approx(
            float(losses.delta_kept_only[at]), abs=1e-6
        )
        assert row["offset"] == pytest.approx(profiles.offset[at].tolist())
        assert row["classes"] == pytest.approx(profiles.classes[at].tolist())
    assert report.base["classes"] == pytest.approx(profiles.class_base.tolist())
    unmeasured = head_report(model, corpus.tokenizer, x, y, 80)
    assert unmeasured.base_loss is None
    assert all(row["delta_loss"] is None for row in unmeasured.rows)


def test_the_labels_are_handed_over_before_the_knockout_losses_are_measured(trained):
    """The grid's badges take the labels at once; the losses (1 + 2·L·H forwards) follow."""
    corpus, model, snapshot, _ = trained
    x, y = analysis_windows(corpus, model.config.block_size)
    labelled = []
    measured = head_report(model, corpus.tokenizer, x, y, 80, "mean", labelled.append)
    assert len(labelled) == 1
    first = labelled[0]
    assert first.labels == measured.labels and first.kinds == measured.kinds
    assert first.step == 80 and first.base_loss is None
    assert all(row["delta_loss"] is None for row in first.rows)
    assert all(row["delta_loss"] is not None for row in measured.rows)
    head_report(model, corpus.tokenizer, x, y, 80, None, labelled.append)
    assert len(labelled) == 1  # nothing to wait for without losses: one report, returned
