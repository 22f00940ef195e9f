"""What heads and feed-forward units do: statistics on hand-made patterns and on a real model."""

from __future__ import annotations

import math

import pytest
import torch
from headwatch.core.diagnostics import (
    FIRST_QUERY,
    attention_statistics,
    dead_units,
    head_statistics,
    label_head,
    label_heads,
    sample_windows,
    uniform_entropy,
    unit_top_contexts,
)
from headwatch.core.model import GPT, GPTConfig

from tests.helpers import small_corpus
from tests.trained import trained_small

T = 8


def pattern(kind: str) -> torch.Tensor:
    """One head's causal attention (T, T), rows summing to 1."""
    w = torch.zeros(T, T)
    for i in range(T):
        if kind == "previous":
            w[i, max(i - 1, 0)] = 1
        elif kind == "self":
            w[i, i] = 1
        elif kind == "first":
            w[i, 0] = 1
        elif kind == "uniform":
            w[i, : i + 1] = 1 / (i + 1)
        elif kind == "mixed":  # 0.4 previous, 0.4 self, 0.2 first (row 0 and 1 as they can)
            w[i, i] += 0.4
            w[i, max(i - 1, 0)] += 0.4
            w[i, 0] += 0.2
    return w


KINDS = ["previous", "self", "first", "uniform", "mixed"]
EXPECTED = ["previous-token", "self", "first-position", "broad", "mixed"]


def synthetic(n: int = 3) -> torch.Tensor:
    """[N, L=2, H=5, T, T]: layer 0 holds the five patterns, layer 1 the same in reverse."""
    heads = torch.stack([pattern(k) for k in KINDS])  # (5, T, T)
    layers = torch.stack([heads, heads.flip(0)])  # (2, 5, T, T)
    return layers.expand(n, -1, -1, -1, -1).clone()


def test_constructed_patterns_get_their_labels():
    stats = attention_statistics(synthetic())
    assert stats.shape == (2, 5) and stats.windows == 3
    assert label_heads(stats) == [EXPECTED, EXPECTED[::-1]]


def test_constructed_patterns_give_exact_statistics():
    stats = attention_statistics(synthetic())
    prev, own, first, uniform, mixed = range(5)
    row = 0
    assert stats.previous[row, prev] == 1 and stats.itself[row, prev] == 0
    assert stats.first[row, prev] == 0  # rows 0 and 1 are left out: position 0 is i-1 there
    assert stats.itself[row, own] == 1 and stats.first[row, first] == 1
    for head in (prev, own, first):
        assert stats.entropy[row, head] == 0 and stats.evenness[row, head] == 0
    assert stats.evenness[row, uniform] == pytest.approx(1.0)
    assert stats.entropy[row, uniform] == pytest.approx(uniform_entropy(T))
    # 1/(i+1) on each of the three special keys, averaged over i >= 2
    share = sum(1 / (i + 1) for i in range(FIRST_QUERY, T)) / (T - FIRST_QUERY)
    assert stats.previous[row, uniform] == pytest.approx(share)
    assert stats.previous[row, mixed] == pytest.approx(0.4)
    assert stats.first[row, mixed] == pytest.approx(0.2)
    entropy = -(2 * 0.4 * math.log(0.4) + 0.2 * math.log(0.2))
    assert stats.entropy[row, mixed] == pytest.approx(entropy, rel=1e-5)


def test_windows_are_averaged():
    att = synthetic(2)
    att[1] = torch.stack([pattern("self")] * 5)  # the second window: every head on itself
    stats = attention_statistics(att)
    assert stats.previous[0, 0] == pytest.approx(0.5)
    assert stats.itself[0, 0] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("shares", "label"),
    [
        ((0.5, 0.2, 0.3, 0.1), "previous-token"),
        ((0.49, 0.2, 0.3, 0.1), "mixed"),
        ((0.1, 0.7, 0.1, 0.9), "self"),
        ((0.0, 0.0, 0.8, 0.9), "first-position"),
        ((0.3, 0.2, 0.2, 0.8), "broad"),
        ((0.3, 0.2, 0.2, 0.79), "mixed"),
        ((0.5, 0.5, 0.0, 0.5), "previous-token"),  # ties: previous, then self, then first
    ],
)
def test_label_thresholds(shares, label):
    assert label_head(*shares) == label


def test_statistics_refuse_bad_shapes():
    with pytest.raises(ValueError, match=r"\[N, L, H, T, T\]"):
        attention_statistics(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="at least 3 positions"):
        attention_statistics(torch.ones(1, 1, 1, 2, 2))


# --- on models -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    return trained_small(150)


def test_sample_windows_come_from_the_val_split():
    corpus = small_corpus()
    windows = sample_windows(corpus, 10, 16, seed=1)
    assert windows.shape == (10, 16) and windows.dtype == torch.long
    assert torch.equal(windows, sample_windows(corpus, 10, 16, seed=1))
    val = corpus.split()[1].long()
    text = corpus.tokenizer.decode(val.tolist())
    for row in windows:
        assert corpus.tokenizer.decode(row.tolist()) in text
    with pytest.raises(ValueError, match="split"):
        sample_windows(corpus, 1, 4, split="test")


def test_head_statistics_on_a_trained_model(trained):
    corpus, model = trained
    windows = sample_windows(corpus, 40, 16, seed=0)
    stats = head_statistics(model, windows, batch_size=16)  # 3 batches, averaged as one
    assert stats.shape == (2, 2) and stats.windows == 40
    for share in (stats.previous, stats.itself, stats.first, stats.evenness):
        assert torch.all((share >= 0) & (share <= 1 + 1e-6))
    assert torch.all(stats.previous + stats.itself + stats.first <= 1 + 1e-5)
    assert torch.all((stats.entropy >= 0) & (stats.entropy <= math.log(16)))
    one_go = attention_statistics(model.inspect_batch(windows).attention)
    torch.testing.assert_close(stats.entropy, one_go.entropy)
    labels = label_heads(stats)
    assert len(labels) == 2 and all(len(row) == 2 for row in labels)


def test_head_statistics_of_the_bigram_model_are_empty():
    model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=0, attention=False, n_head=2))
    stats = head_statistics(model, torch.randint(0, 10, (4, 8)))
    assert stats.shape == (0, 2) and label_heads(stats) == []


def test_unit_top_contexts_are_the_largest_activations(trained):
    corpus, model = trained
    windows = sample_windows(corpus, 30, 16, seed=2)
    ffn = model.inspect_batch(windows).ffn  # (N, L, T, F)
    layer = 1
    unit = int(ffn[:, layer].amax(dim=(0, 1)).argmax())  # the unit with the strongest firing
    top = unit_top_contexts(model, corpus.tokenizer, windows, layer, unit, k=5)
    assert 1 <= len(top) <= 5
    values = [c.activation for c in top]
    assert values == sorted(values, reverse=True) and values[-1] > 0
    assert values[0] == pytest.approx(float(ffn[:, layer, :, unit].max()))
    for c in top:
        assert len(c.text) == 16 and 0 <= c.index < 16
        assert c.text == corpus.tokenizer.decode(windows[c.window].tolist())
        assert float(ffn[c.window, layer, c.index, unit]) == pytest.approx(c.activation)


def test_unit_top_contexts_check_their_arguments(trained):
    corpus, model = trained
    windows = sample_windows(corpus, 2, 16)
    with pytest.raises(ValueError, match="layer must be in 0..1"):
        unit_top_contexts(model, corpus.tokenizer, windows, 2, 0)
    with pytest.raises(ValueError, match="unit must be in 0..63"):
        unit_top_contexts(model, corpus.tokenizer, windows, 0, 64)
    no_ffn = GPT(GPTConfig(vocab_size=corpus.vocab_size, block_size=16, n_layer=1, ffn=False))
    with pytest.raises(ValueError, match="no feed-forward"):
        unit_top_contexts(no_ffn, corpus.tokenizer, windows, 0, 0)


def test_dead_units_counts_units_that_never_fire(trained):
    corpus, model = trained
    windows = sample_windows(corpus, 20, 16)
    counts = dead_units(model, windows, batch_size=8)
    ffn = model.inspect_batch(windows).ffn
    expected = [int((~(ffn[:, layer] > 0).any(dim=0).any(dim=0)).sum()) for layer in range(2)]
    assert counts == expected and all(0 <= c <= 64 for c in counts)
    # kill one live unit: its up-projection never lets anything through the ReLU
    unit = int((ffn[:, 0] > 0).any(dim=0).any(dim=0).nonzero()[0])
    up = model.blocks[0].mlp.c_fc
    saved = up.weight[unit].clone(), up.bias[unit].clone()
    with torch.no_grad():
        up.weight[unit], up.bias[unit] = 0, -1
    try:
        assert dead_units(model, windows)[0] == expected[0] + 1
    finally:
        with torch.no_grad():
            up.weight[unit], up.bias[unit] = saved
    bigram = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=0, attention=False))
    assert dead_units(bigram, torch.randint(0, 10, (2, 8))) == []
    no_ffn = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=2, n_head=2, ffn=False))
    assert dead_units(no_ffn, torch.randint(0, 10, (2, 8))) == [0, 0]
