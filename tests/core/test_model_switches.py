"""The lecture's ladder as GPTConfig switches: attention (bigram), ffn, residual, layernorm."""

from __future__ import annotations

import json

import pytest
import torch

from headwatch.core.model import GPT, ConfigError, GPTConfig
from headwatch.core.runs import RunWriter, load_run, trainer_for
from headwatch.core.trainer import Trainer
from tests.helpers import small_corpus, small_training

V, T, C, L, H = 11, 8, 16, 2, 4
BIGRAM = dict(attention=False, n_layer=0)


def config(**overrides) -> GPTConfig:
    values = dict(vocab_size=V, block_size=T, n_layer=L, n_head=H, n_embd=C)
    values.update(overrides)
    return GPTConfig(**values)


def model(**overrides) -> GPT:
    torch.manual_seed(0)
    return GPT(config(**overrides)).eval()


# --- configuration ---------------------------------------------------------------------------


def test_defaults_are_the_full_model():
    c = GPTConfig()
    assert (c.attention, c.ffn, c.residual, c.layernorm, c.init) == (True, True, True, True, "gpt2")
    assert c.ffn_size == 4 * c.n_embd


def test_a_config_saved_before_the_switches_loads_as_the_full_model():
    old = {
        "vocab_size": 65,
        "block_size": 64,
        "n_layer": 4,
        "n_head": 4,
        "n_embd": 128,
        "dropout": 0.0,
    }
    loaded = GPTConfig.from_dict(json.loads(json.dumps(old)))
    assert loaded == GPTConfig(**old)
    assert loaded.attention and loaded.ffn and loaded.residual and loaded.layernorm


@pytest.mark.parametrize(
    "overrides",
    [{}, BIGRAM, {"ffn": False}, {"residual": False}, {"layernorm": False}, {"init": "pytorch"}],
)
def test_to_dict_from_dict_round_trips(overrides):
    c = config(**overrides)
    assert GPTConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"attention": False},
            "with attention off the model is the bigram model.*set n_layer to 0",
        ),
        ({"n_layer": 0}, "n_layer must be at least 1.*turn attention off"),
        ({"attention": False, "n_layer": -1}, "set n_layer to 0"),
        ({"ffn": "yes"}, "ffn must be on or off"),
        ({"residual": 1}, "residual must be on or off"),
        ({"layernorm": None}, "layernorm must be on or off"),
        ({"attention": 0, "n_layer": 0}, "attention must be on or off"),
        ({"init": "xavier"}, "init must be 'gpt2'.*'pytorch'"),
        ({"init": 3}, "init must be"),
    ],
)
def test_contradictory_switches_are_refused_with_a_clear_message(overrides, message):
    with pytest.raises(ConfigError, match=message):
        config(**overrides)


def test_block_switches_mean_nothing_to_the_bigram_model():
    # no blocks: ffn / residual are accepted either way and change nothing
    on, off = config(**BIGRAM), config(**BIGRAM, ffn=False, residual=False)
    assert on.ffn_size == off.ffn_size == 0
    assert GPT(on).num_parameters() == GPT(off).num_parameters()


# --- parameters ------------------------------------------------------------------------------

ATTENTION = 3 * C * C + C * C + C  # fused qkv (no bias) + proj
FFN = C * 4 * C + 4 * C + 4 * C * C + C  # up + down
NORM = 2 * C  # one LayerNorm
EMBED_HEAD = V * C + C * V + V  # token embedding + lm_head
FULL = EMBED_HEAD + T * C + L * (ATTENTION + FFN + 2 * NORM) + NORM


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, FULL),
        (BIGRAM, EMBED_HEAD + NORM),  # no position embedding, no blocks; ln_f stays
        ({**BIGRAM, "layernorm": False}, EMBED_HEAD),  # "embedding straight to logits"
        ({"ffn": False}, FULL - L * (FFN + NORM)),  # ln2 goes with the FFN
        ({"residual": False}, FULL),  # wiring only
        ({"layernorm": False}, FULL - (2 * L + 1) * NORM),
        ({"n_head": 1}, FULL),  # one head of size C: same matrices, split differently
        ({"init": "pytorch"}, FULL),
    ],
)
def test_each_switch_changes_the_parameter_count_as_expected(overrides, expected):
    assert GPT(config(**overrides)).num_parameters() == expected


def test_the_full_model_has_nanogpts_module_names():
    keys = set(GPT(config()).state_dict())
    for layer in range(L):
        for part in ("ln1", "attn.c_attn", "attn.c_proj", "ln2", "mlp.c_fc", "mlp.c_proj"):
            assert f"blocks.{layer}.{part}.weight" in keys
    assert {"token_embedding.weight", "position_embedding.weight", "ln_f.weight"} <= keys


# the module names of checkpoints saved before the model took nanoGPT's
OLD_NAMES = {"attn.c_attn": "attn.qkv", "attn.c_proj": "attn.proj", "mlp.c_fc": "ffn.up"}
OLD_NAMES["mlp.c_proj"] = "ffn.down"


def test_a_checkpoint_with_the_old_module_names_loads_and_resumes(tmp_path):
    corpus = small_corpus()
    model_config = GPTConfig(vocab_size=corpus.vocab_size, block_size=8, n_layer=2, n_head=2)
    trainer = Trainer(corpus, model_config, small_training(max_iters=4, eval_interval=2))
    writer = RunWriter.create(tmp_path / "run", corpus, model_config, trainer.config)
    list(trainer.run())
    writer.save_checkpoint(trainer)
    path = tmp_path / "run" / "checkpoint.pt"
    payload = torch.load(path, weights_only=True)
    state = payload["model"]
    renamed = {}
    for key, value in state.items():
        for new, old in OLD_NAMES.items():
            key = key.replace(f".{new}.", f".{old}.")
        renamed[key] = value
    assert "blocks.0.attn.qkv.weight" in renamed and "blocks.1.ffn.down.bias" in renamed
    torch.save({**payload, "model": renamed}, path)

    record = load_run(tmp_path / "run")
    assert list(record.checkpoint["model"]) == list(state)  # today's names, in the same order
    idx = torch.randint(0, corpus.vocab_size, (1, 8))
    torch.testing.assert_close(record.build_model()(idx)[0], trainer.model.eval()(idx)[0])
    resumed = trainer_for(record, corpus)  # the optimizer state lines up with the parameters
    assert resumed.step == 4 and len(list(resumed.run(steps=2))) >= 2


# --- forward ---------------------------------------------------------------------------------


def test_the_bigram_model_maps_each_character_straight_to_logits():
    gpt = model(**BIGRAM, layernorm=False)
    idx = torch.randint(0, V, (3, T))
    logits, _ = gpt(idx)
    torch.testing.assert_close(logits, gpt.lm_head(gpt.token_embedding(idx)))
    # only the current character matters: change every earlier one, the last logits stay
    changed = idx.clone()
    changed[:, :-1] = (changed[:, :-1] + 1) % V
    torch.testing.assert_close(gpt(changed)[0][:, -1], logits[:, -1])


def test_attention_models_do_see_the_context():
    gpt = model(n_layer=1, ffn=False, residual=False, layernorm=False)
    idx = torch.randint(0, V, (3, T))
    changed = idx.clone()
    changed[:, 0] = (changed[:, 0] + 1) % V
    assert not torch.allclose(gpt(changed)[0][:, -1], gpt(idx)[0][:, -1])


def test_ffn_off_equals_the_full_block_with_a_silent_ffn():
    full = model()
    with torch.no_grad():
        for block in full.blocks:  # the FFN now adds exactly 0 to the residual stream
            block.mlp.c_proj.weight.zero_()
            block.mlp.c_proj.bias.zero_()
    no_ffn = GPT(config(ffn=False)).eval()
    missing, unexpected = no_ffn.load_state_dict(full.state_dict(), strict=False)
    assert not missing and all(".mlp." in k or ".ln2." in k for k in unexpected)
    idx = torch.randint(0, V, (2, T))
    torch.testing.assert_close(no_ffn(idx)[0], full(idx)[0])


def _manual_forward(gpt: GPT, idx: torch.Tensor, residual: bool, norm: bool) -> torch.Tensor:
    """The block maths written out: pre-norm sub-layers, added to x or replacing it."""
    x = gpt.token_embedding(idx) + gpt.position_embedding(torch.arange(idx.shape[1]))
    for b in gpt.blocks:
        out = b.attn(b.ln1(x) if norm else x)[0]  # (output, no attention weights)
        x = x + out if residual else out
        out = b.mlp(b.ln2(x) if norm else x)
        x = x + out if residual else out
    return gpt.lm_head(gpt.ln_f(x) if norm else x)


@pytest.mark.parametrize(("residual", "layernorm"), [(True, True), (False, True), (True, False)])
def test_residual_and_layernorm_switches_follow_the_block_maths(residual, layernorm):
    gpt = model(residual=residual, layernorm=layernorm)
    idx = torch.randint(0, V, (2, T))
    with torch.no_grad():
        torch.testing.assert_close(gpt(idx)[0], _manual_forward(gpt, idx, residual, layernorm))


def test_residual_off_changes_the_output_of_the_same_weights():
    with_res = model()
    without = GPT(config(residual=False)).eval()
    without.load_state_dict(with_res.state_dict())  # same parameters, other wiring
    idx = torch.randint(0, V, (2, T))
    assert not torch.allclose(with_res(idx)[0], without(idx)[0])


def test_init_pytorch_keeps_the_module_defaults():
    torch.manual_seed(0)
    gpt = GPT(config(init="pytorch"))
    assert gpt.token_embedding.weight.std() > 0.5  # nn.Embedding: N(0, 1)
    assert gpt.blocks[0].mlp.c_fc.bias.abs().sum() > 0  # nn.Linear: uniform bias, not zeros
    torch.manual_seed(0)
    assert abs(GPT(config()).token_embedding.weight.std().item() - 0.02) < 0.005


# --- inspection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "attention_shape", "ffn_shape"),
    [
        ({}, (L, H, 5, 5), (L, 5, 4 * C)),
        (BIGRAM, (0, H, 5, 5), (0, 5, 0)),
        ({"ffn": False}, (L, H, 5, 5), (L, 5, 0)),
        ({"residual": False, "layernorm": False}, (L, H, 5, 5), (L, 5, 4 * C)),
        ({"n_head": 1}, (L, 1, 5, 5), (L, 5, 4 * C)),
    ],
)
def test_inspect_shapes_for_every_variant(overrides, attention_shape, ffn_shape):
    gpt = model(**overrides)
    result = gpt.inspect(torch.tensor([1, 2, 3, 4, 5]))
    assert tuple(result.attention.shape) == attention_shape
    assert tuple(result.ffn.shape) == ffn_shape
    assert tuple(result.probs.shape) == (5, V)
    torch.testing.assert_close(result.probs.sum(-1), torch.ones(5))
    if attention_shape[0]:
        torch.testing.assert_close(result.attention.sum(-1), torch.ones(attention_shape[:-1]))
    # the probabilities are the forward pass's
    logits, _ = gpt(torch.tensor([[1, 2, 3, 4, 5]]))
    torch.testing.assert_close(result.probs, logits[0].softmax(-1))


@pytest.mark.parametrize("overrides", [{}, BIGRAM, {"ffn": False}])
def test_inspect_batch_is_inspect_of_each_row(overrides):
    gpt = model(**overrides)
    idx = torch.randint(0, V, (3, 6))
    batch = gpt.inspect_batch(idx)
    for row in range(3):
        one = gpt.inspect(idx[row])
        torch.testing.assert_close(batch.attention[row], one.attention)
        torch.testing.assert_close(batch.ffn[row], one.ffn)
        torch.testing.assert_close(batch.probs[row], one.probs)


# --- runs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"attention": False, "n_layer": 0, "layernorm": False},
        {"ffn": False, "residual": False, "layernorm": False, "init": "pytorch"},
    ],
)
def test_switched_models_train_save_and_load(tmp_path, overrides):
    corpus = small_corpus()
    settings = dict(vocab_size=corpus.vocab_size, block_size=8, n_layer=2, n_head=2, n_embd=16)
    model_config = GPTConfig(**{**settings, **overrides})
    trainer = Trainer(corpus, model_config, small_training(max_iters=4, eval_interval=2))
    writer = RunWriter.create(tmp_path / "run", corpus, model_config, trainer.config)
    list(trainer.run())
    writer.save_checkpoint(trainer)
    record = load_run(tmp_path / "run")
    assert record.model_config == model_config
    loaded = record.build_model()
    idx = torch.randint(0, corpus.vocab_size, (1, 8))
    torch.testing.assert_close(loaded(idx)[0], trainer.model.eval()(idx)[0])
