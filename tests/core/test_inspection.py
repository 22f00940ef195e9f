"""The Inspector the window uses: big models inspect under bf16 where the CPU has it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from headwatch.core import performance
from headwatch.core.control import SnapshotBox
from headwatch.core.corpus import Corpus, Tokenizer
from headwatch.core.inspection import Analyst, Inspector
from headwatch.core.model import GPT, GPTConfig
from headwatch.core.performance import FAST_INSPECTION_MIN_PARAMS

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?"


def snapshot_of(n_embd: int, n_layer: int):
    tokenizer = Tokenizer.from_text(TEXT)
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size, block_size=64, n_layer=n_layer, n_head=4, n_embd=n_embd
    )
    model = GPT(config)
    box = SnapshotBox()
    box.publish(10, config, tokenizer, {k: v.clone() for k, v in model.state_dict().items()})
    return box.latest(), model.num_parameters()


@pytest.mark.parametrize("hardware_bf16", [True, False])
def test_a_big_model_inspects_in_bf16_only_where_the_cpu_has_it(monkeypatch, hardware_bf16):
    snapshot, params = snapshot_of(n_embd=192, n_layer=5)
    assert params >= FAST_INSPECTION_MIN_PARAMS
    monkeypatch.setattr(performance, "native_bf16_cpu", lambda: False)
    exact = Inspector().inspect(snapshot, TEXT)  # fp32, the reference
    monkeypatch.setattr(performance, "native_bf16_cpu", lambda: hardware_bf16)
    fast = Inspector().inspect(snapshot, TEXT)
    assert fast.attention.dtype == fast.ffn.dtype == np.float32
    assert fast.attention.shape == exact.attention.shape
    np.testing.assert_allclose(fast.attention.sum(-1), 1.0, atol=1e-2)
    assert np.all(np.triu(fast.attention, 1) == 0)  # still causal
    np.testing.assert_allclose(fast.attention, exact.attention, atol=2e-2)
    if hardware_bf16:
        assert not np.array_equal(fast.attention, exact.attention)  # it really ran in bf16
    else:
        np.testing.assert_array_equal(fast.attention, exact.attention)
    assert [c for c, _ in fast.next_chars[:3]] == [c for c, _ in exact.next_chars[:3]]


def test_a_small_model_always_inspects_in_fp32(monkeypatch):
    snapshot, params = snapshot_of(n_embd=32, n_layer=2)
    assert params < FAST_INSPECTION_MIN_PARAMS
    exact = Inspector().inspect(snapshot, TEXT)
    monkeypatch.setattr(performance, "native_bf16_cpu", lambda: True)
    np.testing.assert_array_equal(Inspector().inspect(snapshot, TEXT).attention, exact.attention)


def test_a_big_model_viewed_in_bf16_serves_samples_and_analyses_too(monkeypatch):
    snapshot, _ = snapshot_of(n_embd=192, n_layer=5)
    monkeypatch.setattr(performance, "native_bf16_cpu", lambda: True)
    inspector = Inspector()
    model = inspector.load(snapshot)
    # Linear layers hold the weights autocast would cast to at every use; norms stay fp32
    assert model.blocks[0].attn.c_attn.weight.dtype == torch.bfloat16
    assert model.lm_head.bias.dtype == torch.bfloat16
    assert model.blocks[0].ln1.weight.dtype == torch.float32
    assert model.token_embedding.weight.dtype == torch.float32
    exact = snapshot.state["blocks.0.mlp.c_fc.weight"]
    torch.testing.assert_close(model.blocks[0].mlp.c_fc.weight.float(), exact, rtol=1e-2, atol=0)

    prompt, continuation = inspector.sample(snapshot, "ROMEO", 12, 1.0)
    assert prompt == "ROMEO" and len(continuation) == 12
    corpus = Corpus("t", TEXT * 40)
    report = Analyst(inspector).heads(snapshot, corpus)
    assert len(report.rows) == 5 * 4
    assert all(0.0 <= row["offset"][1] <= 1.0 for row in report.rows)
    assert all(row["delta_loss"] is None for row in report.rows)  # measured on request only
    unit = Analyst(inspector).unit(snapshot, corpus, layer=1, unit=3, k=5)
    assert len(unit.contexts) == 5 and len(unit.dead) == 5


@pytest.mark.parametrize("version", [-1, 0, 1])
def test_an_inspector_loads_the_weights_of_its_first_snapshot_whatever_its_version(version):
    # a run's snapshots read from disk count down from -1 (core.timeline): the first one read in
    # a process was taken for "already loaded" and inspected with uninitialised weights
    snapshot, _ = snapshot_of(n_embd=32, n_layer=1)
    snapshot = dataclasses.replace(snapshot, version=version)
    model = Inspector().load(snapshot)
    for name, weight in model.state_dict().items():
        torch.testing.assert_close(weight, snapshot.state[name], rtol=0, atol=0)
