"""Head knockout: nothing knocked out changes nothing, everything knocked out is the mean model,
the weights and the checkpoint are never touched, and the Δ losses are the knockouts' losses."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from headwatch.core.ablation import (
    ablation_values,
    evaluating,
    knocked_out,
    knockout_losses,
    parse_heads,
    val_windows,
)
from headwatch.core.analyses import analyse_heads
from headwatch.core.config import ConfigError
from headwatch.core.inspection import inspect_prompt
from headwatch.core.model import GPT, GPTConfig
from headwatch.core.runs import CHECKPOINT, RunWriter, load_run
from tests.helpers import small_model
from tests.trained import small_trainer, trained_small


@pytest.fixture(scope="module")
def trained():
    corpus, model = trained_small()
    x, y = val_windows(corpus, 12, model.config.block_size)
    return corpus, model, x, y


def test_parse_heads_reads_one_based_layer_dot_head():
    assert parse_heads("2.1, 1.2,2.1", n_layer=2, n_head=2) == [(0, 1), (1, 0)]
    # as the output names heads, so a name can be copied back: L1·H2, also typed L1H2 or l1.h2
    assert parse_heads("L2·H1,L1H2, l1.h2", n_layer=2, n_head=2) == [(0, 1), (1, 0)]
    for bad, message in [
        ("3.1", "does not exist"),
        ("1.0", "does not exist"),
        ("0.1", "does not exist"),
        ("1", "not LAYER.HEAD"),
        ("a.b", "not LAYER.HEAD"),
        ("1.2.3", "not LAYER.HEAD"),
        ("1.1,", "not LAYER.HEAD"),
        ("-1.1", "not LAYER.HEAD"),
        ("12", "not LAYER.HEAD"),  # layer 1 head 2, or layer 12? Not guessed
        ("L1", "not LAYER.HEAD"),
        ("L3·H1", "L3·H1 does not exist"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_heads(bad, n_layer=2, n_head=2)
    with pytest.raises(ConfigError, match="bigram"):
        parse_heads("1.1", n_layer=0, n_head=1)


def test_knocking_out_nothing_is_bit_identical(trained):
    _, model, x, _ = trained
    values = ablation_values(model, x)
    with evaluating(model):
        plain = model(x)[0]
        with knocked_out(model, [], values):
            same = model(x)[0]
        with knocked_out(model, [(0, 0)], values):
            changed = model(x)[0]
    assert torch.equal(plain, same)
    assert not torch.allclose(plain, changed)


def test_hooks_are_gone_after_leaving_even_after_an_error(trained):
    _, model, x, _ = trained
    values = ablation_values(model, x)
    with pytest.raises(RuntimeError, match="inside"), knocked_out(model, [(0, 1), (1, 0)], values):
        assert all(block.attn.c_proj._forward_pre_hooks for block in model.blocks)
        raise RuntimeError("inside")
    assert not any(module._forward_pre_hooks for module in model.modules())
    with pytest.raises(ValueError, match="does not exist"), knocked_out(model, [(2, 0)], values):
        pass


class ConstantAttention(nn.Module):
    """Attention whose output is one fixed vector at every position."""

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__()
        self.output = output  # (C,)

    def forward(self, x: torch.Tensor, need_weights: bool = False):
        return self.output.expand_as(x), None


@pytest.mark.parametrize("ablation", ["mean", "zero"])
def test_every_head_knocked_out_is_the_model_with_constant_attention(trained, ablation):
    _, model, x, _ = trained
    # built independently: each layer's attention output averaged over windows and positions
    # (mean), or the output projection's bias alone (zero)
    outputs = []
    hooks = [
        block.attn.register_forward_hook(lambda _m, _a, out: outputs.append(out[0]))
        for block in model.blocks
    ]
    with evaluating(model):
        model(x)
    for hook in hooks:
        hook.remove()
    constant = copy.deepcopy(model)
    for layer, block in enumerate(constant.blocks):
        output = outputs[layer].mean(dim=(0, 1)) if ablation == "mean" else block.attn.c_proj.bias
        block.attn = ConstantAttention(output.detach())
    everything = [(layer, head) for layer in range(2) for head in range(2)]
    with evaluating(model), knocked_out(model, everything, ablation_values(model, x, ablation)):
        knocked = model(x)[0].softmax(-1)
    with evaluating(constant):
        expected = constant(x)[0].softmax(-1)
    torch.testing.assert_close(knocked, expected, atol=1e-5, rtol=0)


def test_knockout_losses_are_the_knocked_out_models_losses(trained):
    _, model, x, y = trained
    values = ablation_values(model, x)
    losses = knockout_losses(model, x, y, values)
    one_by_one = knockout_losses(model, x, y, values, rows_per_forward=5)  # 1 variant a pass
    torch.testing.assert_close(losses.knocked, one_by_one.knocked)
    with evaluating(model):
        assert losses.base == pytest.approx(model(x, y)[1].item(), abs=1e-5)
        for layer in range(2):
            for head in range(2):
                with knocked_out(model, [(layer, head)], values):
                    alone = model(x, y)[1].item()
                with knocked_out(model, [(layer, 1 - head)], values):
                    kept = model(x, y)[1].item()
                assert losses.knocked[layer, head].item() == pytest.approx(alone, abs=1e-5)
                assert losses.kept_only[layer, head].item() == pytest.approx(kept, abs=1e-5)
    torch.testing.assert_close(losses.delta, losses.knocked - losses.base)


def test_the_bigram_model_has_nothing_to_knock_out():
    config = GPTConfig(vocab_size=10, block_size=8, n_layer=0, attention=False, n_head=1)
    model = GPT(config)
    x = torch.randint(0, 10, (4, 8))
    values = ablation_values(model, x)
    losses = knockout_losses(model, x, x, values)
    assert values.shape == (0, 1, config.head_size) and losses.delta.shape == (0, 1)
    with pytest.raises(ValueError, match="validation windows"):
        ablation_values(GPT(small_model(10)), None)


def test_knockout_never_touches_the_weights_or_the_checkpoint(tmp_path):
    corpus, trainer = small_trainer(iters=10)
    writer = RunWriter.create(tmp_path / "run", corpus, trainer.model_config, trainer.config)
    writer.save_checkpoint(trainer)
    writer.close()
    checkpoint = tmp_path / "run" / CHECKPOINT
    saved = checkpoint.read_bytes()
    record = load_run(tmp_path / "run")
    model = record.build_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = val_windows(corpus, 8, model.config.block_size)
    values = ablation_values(model, x)
    with knocked_out(model, [(0, 0), (1, 1)], values):
        inspect_prompt(model, record.tokenizer, "ROMEO:", record.step)
    analyse_heads(model, record.tokenizer, x, y)  # every head knocked out once, and restored
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert checkpoint.read_bytes() == saved
    trainer.model.load_state_dict(after)  # the restored weights saved again: the same file
    writer.save_checkpoint(trainer)
    assert checkpoint.read_bytes() == saved
