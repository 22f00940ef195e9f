"""The trainer's speed options: fused AdamW (always, where available) and opt-in bf16 precision."""

from __future__ import annotations

import copy
import threading

import pytest
import torch

from core.model import ConfigError
from core.trainer import TrainConfig, Trainer
from tests.helpers import small_corpus, small_model, small_training


def make_trainer(**train_overrides) -> Trainer:
    corpus = small_corpus()
    return Trainer(corpus, small_model(corpus.vocab_size), small_training(**train_overrides))


def step_losses(trainer: Trainer, steps: int) -> list[float]:
    return [trainer.train_step() for _ in range(steps)]


def sdp_flags() -> tuple[bool, bool, bool]:
    cuda = torch.backends.cuda
    return cuda.flash_sdp_enabled(), cuda.mem_efficient_sdp_enabled(), cuda.math_sdp_enabled()


# --- the setting ------------------------------------------------------------------------------


def test_precision_defaults_to_fp32_and_old_configs_load():
    assert TrainConfig().precision == "fp32"
    old = TrainConfig().to_dict()
    del old["precision"]  # a config.json written before the setting existed
    assert TrainConfig.from_dict(old).precision == "fp32"
    bf16 = TrainConfig(precision="bf16")
    assert TrainConfig.from_dict(bf16.to_dict()) == bf16


@pytest.mark.parametrize("value", ["fp16", "BF16", "", None, 16])
def test_unknown_precision_is_refused(value):
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16"):
        TrainConfig(precision=value)


# --- fused AdamW ------------------------------------------------------------------------------


def test_default_path_uses_fused_adamw_and_stays_deterministic():
    first, second = make_trainer(), make_trainer()
    assert first.optimizer.param_groups[0]["fused"] is True
    assert step_losses(first, 8) == step_losses(second, 8)


def test_fused_adamw_is_the_same_update_as_torchs_default():
    trainer = make_trainer()
    model = copy.deepcopy(trainer.model)
    reference = torch.optim.AdamW(model.parameters(), lr=trainer.config.learning_rate)
    batches = torch.Generator().manual_seed(3)
    for _ in range(5):
        x, y = trainer.get_batch("train", batches)
        for m, opt in ((trainer.model, trainer.optimizer), (model, reference)):
            opt.zero_grad(set_to_none=True)
            m(x, y)[1].backward()
            opt.step()
    for ours, theirs in zip(trainer.model.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_an_older_unfused_optimizer_state_resumes_on_the_fused_kernel():
    old = make_trainer()
    old.optimizer = torch.optim.AdamW(old.model.parameters(), lr=old.config.learning_rate)
    step_losses(old, 3)
    state = old.optimizer.state_dict()
    assert state["param_groups"][0]["fused"] is None

    resumed = make_trainer()
    resumed.load_state(old.model.state_dict(), state, step=3, elapsed=1.0)
    group = resumed.optimizer.param_groups[0]
    assert group["fused"] is True
    step_losses(resumed, 2)
    some_param = group["params"][0]
    assert resumed.optimizer.state[some_param]["step"].item() == 5


# --- bf16 -------------------------------------------------------------------------------------


def test_bf16_trains_close_to_fp32_and_keeps_fp32_weights():
    fp32, bf16 = make_trainer(), make_trainer(precision="bf16")
    fp32_losses, bf16_losses = step_losses(fp32, 15), step_losses(bf16, 15)
    assert all(torch.isfinite(torch.tensor(bf16_losses)))
    assert abs(bf16_losses[-1] - fp32_losses[-1]) < 0.1
    assert bf16_losses != fp32_losses  # it really ran in bf16
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    estimate = bf16.estimate_loss()
    assert set(estimate) == {"train", "val"}
    assert all(torch.isfinite(torch.tensor(list(estimate.values()))))


def test_bf16_is_deterministic_for_a_seed():
    assert step_losses(make_trainer(precision="bf16"), 5) == step_losses(
        make_trainer(precision="bf16"), 5
    )


def test_bf16_restores_the_attention_backend_flags():
    before = sdp_flags()
    trainer = make_trainer(precision="bf16")
    with trainer.precision_context():
        assert sdp_flags() == (False, False, True)  # math only, on CPU
        with trainer.precision_context():  # nested or in another thread: counted
            pass
        assert sdp_flags() == (False, False, True)
    assert sdp_flags() == before
    step_losses(trainer, 2)
    assert sdp_flags() == before


def test_bf16_trainers_in_two_threads_leave_the_flags_as_found():
    before = sdp_flags()
    errors: list[BaseException] = []

    def train() -> None:
        try:
            step_losses(make_trainer(precision="bf16"), 6)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=train) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sdp_flags() == before
