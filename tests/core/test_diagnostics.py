"""What feed-forward units do, on a real model, and the windows the analyses average over."""

from __future__ import annotations

import pytest
import torch

from headwatch.core.diagnostics import dead_units, sample_windows, unit_top_contexts
from headwatch.core.model import GPT, GPTConfig
from tests.helpers import small_corpus
from tests.trained import trained_small

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
