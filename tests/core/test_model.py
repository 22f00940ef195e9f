"""The lecture's GPT: configuration, per-head maths, inspection and sampling."""

from __future__ import annotations

import pytest
import torch

from bench.reference import NaiveGPT
from headwatch.core.model import GPT, ConfigError, GPTConfig
from headwatch.core.performance import resolve_device


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_embd": 30, "n_head": 4}, "must divide evenly among 4 heads"),
        ({"n_head": 0}, "n_head must be at least 1"),
        ({"n_layer": -1}, "n_layer must be at least 1"),
        ({"n_embd": 0}, "n_embd must be at least 1"),
        ({"block_size": 0}, "block_size must be at least 1"),
        ({"vocab_size": 0}, "vocab_size must be at least 1"),
        ({"n_layer": 2.5}, "n_layer must be a whole number"),
        ({"n_head": True}, "n_head must be a whole number"),
        ({"dropout": 1.0}, "dropout must be at least 0 and below 1"),
        ({"dropout": -0.1}, "dropout must be at least 0 and below 1"),
        ({"dropout": float("nan")}, "dropout must be at least 0 and below 1"),
        ({"dropout": "0.1"}, "dropout must be a number"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(overrides, message):
    with pytest.raises(ConfigError, match=message):
        GPTConfig(**overrides)


def test_divisor_hint_lists_valid_head_counts():
    with pytest.raises(ConfigError, match="choose heads from 1, 2, 4, 8"):
        GPTConfig(n_embd=128, n_head=3)


def test_unknown_setting_in_dict_is_refused():
    with pytest.raises(ConfigError, match="unknown model setting"):
        GPTConfig.from_dict({**GPTConfig().to_dict(), "n_heads": 4})


@pytest.mark.parametrize(("n_head", "n_embd"), [(1, 32), (4, 32), (6, 48)])
def test_fused_heads_equal_the_lectures_list_of_heads(n_head, n_embd):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=20, block_size=12, n_layer=3, n_head=n_head, n_embd=n_embd)
    gpt = GPT(config).eval()
    naive = NaiveGPT(config).copy_from(gpt).eval()
    idx = torch.randint(0, 20, (3, 12))
    targets = torch.randint(0, 20, (3, 12))
    with torch.no_grad():
        fused_logits, fused_loss = gpt(idx, targets)
        naive_logits, naive_loss = naive(idx, targets)
        naive_weights = naive.attention_weights()  # (L, B, H, T, T)
        inspection = gpt.inspect(idx[1])
    torch.testing.assert_close(fused_logits, naive_logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(fused_loss, naive_loss, atol=1e-5, rtol=0)
    torch.testing.assert_close(inspection.attention, naive_weights[:, 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(inspection.probs, naive_logits[1].softmax(-1), atol=1e-5, rtol=0)


def test_inspection_is_causal_normalised_and_shaped():
    torch.manual_seed(1)
    config = GPTConfig(vocab_size=10, block_size=8, n_layer=2, n_head=4, n_embd=16)
    gpt = GPT(config)
    gpt.train()
    result = gpt.inspect(torch.tensor([1, 2, 3, 4, 5]))
    assert gpt.training, "inspect restores the training mode"
    assert result.attention.shape == (2, 4, 5, 5)
    assert result.ffn.shape == (2, 5, 64)
    assert result.probs.shape == (5, 10)
    torch.testing.assert_close(result.attention.sum(-1), torch.ones(2, 4, 5))
    assert torch.all(result.attention.triu(1) == 0)
    assert torch.all(result.ffn >= 0)
    torch.testing.assert_close(result.probs.sum(-1), torch.ones(5))
    assert not result.attention.requires_grad


def test_inspection_refuses_more_than_block_size():
    gpt = GPT(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=8))
    with pytest.raises(ValueError, match="longer than block_size"):
        gpt.inspect(torch.zeros(5, dtype=torch.long))


def test_generate_appends_tokens_and_respects_top_k():
    torch.manual_seed(2)
    gpt = GPT(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=2, n_embd=8))
    start = torch.zeros((1, 1), dtype=torch.long)
    out = gpt.generate(
        start, 12, temperature=0.8, top_k=1, generator=torch.Generator().manual_seed(0)
    )
    assert out.shape == (1, 13)
    # top_k=1 is greedy: the same every time
    again = gpt.generate(start, 12, temperature=0.8, top_k=1)
    assert torch.equal(out, again)
    with pytest.raises(ValueError, match="temperature"):
        gpt.generate(start, 1, temperature=0)


def test_init_follows_the_lecture():
    torch.manual_seed(3)
    gpt = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=64))
    assert abs(gpt.lm_head.weight.std().item() - 0.02) < 0.003
    assert torch.all(gpt.blocks[0].mlp.c_fc.bias == 0)


def test_unfilled_model_draws_no_random_numbers():
    torch.manual_seed(4)
    expected = torch.rand(1)
    torch.manual_seed(4)
    GPT.unfilled(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=8))
    assert torch.equal(torch.rand(1), expected)


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")
