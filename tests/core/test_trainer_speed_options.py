"""The trainer's speed options: fused AdamW (always, where available) and bf16 precision
(the default where the CPU has bf16 in hardware)."""

from __future__ import annotations

import copy
import threading

import pytest
import torch

from headwatch.core import performance
from headwatch.core.model import GPT, CausalSelfAttention, ConfigError, GPTConfig
from headwatch.core.performance import has_bf16_flag
from headwatch.core.runs import RunWriter, load_run
from headwatch.core.trainer import TrainConfig, Trainer
from tests.helpers import small_corpus, small_model, small_training


def make_trainer(**train_overrides) -> Trainer:
    corpus = small_corpus()
    return Trainer(corpus, small_model(corpus.vocab_size), small_training(**train_overrides))


def step_losses(trainer: Trainer, steps: int) -> list[float]:
    return [trainer.train_step() for _ in range(steps)]


# --- the setting ------------------------------------------------------------------------------


def test_precision_defaults_to_auto_and_old_configs_load_as_fp32():
    assert TrainConfig().precision == "auto"
    old = TrainConfig().to_dict()
    del old["precision"]  # a config.json written before the setting existed trained in fp32
    assert TrainConfig.from_dict(old).precision == "fp32"
    bf16 = TrainConfig(precision="bf16")
    assert TrainConfig.from_dict(bf16.to_dict()) == bf16


@pytest.mark.parametrize("hardware_bf16", [True, False])
def test_auto_takes_bf16_only_where_the_cpu_has_it_and_it_pays(monkeypatch, hardware_bf16):
    monkeypatch.setattr(performance, "native_bf16_cpu", lambda: hardware_bf16)
    corpus = small_corpus()
    baby = GPTConfig(vocab_size=corpus.vocab_size, n_layer=4, n_head=4, n_embd=128, block_size=32)
    big = Trainer(corpus, baby, small_training(precision="auto", batch_size=12))
    # the trainer's config (saved with a run) says what really ran
    assert big.config.precision == ("bf16" if hardware_bf16 else "fp32")
    # a tiny model's steps are too small for bf16's casts to pay
    assert make_trainer(precision="auto").config.precision == "fp32"
    assert make_trainer(precision="fp32").config.precision == "fp32"
    assert make_trainer(precision="bf16").config.precision == "bf16"


def test_a_run_saves_the_precision_that_ran(tmp_path):
    trainer = make_trainer(precision="auto")  # never saved as "auto"
    RunWriter.create(tmp_path / "run", small_corpus(), trainer.model_config, trainer.config)
    saved = load_run(tmp_path / "run").train_config.precision
    assert saved == trainer.config.precision != "auto"


def test_bf16_hardware_is_read_from_the_cpu_flags():
    assert has_bf16_flag("flags\t: fpu avx512f avx512_bf16 avx512vl\n")
    assert has_bf16_flag("flags : sse amx_bf16 amx_tile")
    assert not has_bf16_flag("flags : fpu avx2 avx512f avx512bw")
    assert not has_bf16_flag("")


@pytest.mark.parametrize("value", ["fp8", "BF16", "", None, 16])
def test_unknown_precision_is_refused(value):
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16, fp16"):
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
    fp32, bf16 = make_trainer(precision="fp32"), make_trainer(precision="bf16")
    fp32_losses, bf16_losses = step_losses(fp32, 15), step_losses(bf16, 15)
    assert all(torch.isfinite(torch.tensor(bf16_losses)))
    assert abs(bf16_losses[-1] - fp32_losses[-1]) < 0.1
    assert bf16_losses != fp32_losses  # it really ran in bf16
    # autocast computes in bf16; the weights, what is saved and shown, stay fp32
    state = bf16.cpu_state()
    assert set(state) == set(fp32.cpu_state())
    assert all(t.dtype == torch.float32 for t in state.values())
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    estimate = bf16.estimate_loss()
    assert set(estimate) == {"train", "val"}
    assert all(torch.isfinite(torch.tensor(list(estimate.values()))))


def test_a_bf16_run_resumes_where_it_stopped():
    uninterrupted = make_trainer(precision="bf16")
    step_losses(uninterrupted, 3)
    # a copy, as from a checkpoint file: a live state_dict shares the optimizer's tensors
    state = uninterrupted.cpu_state()
    optimizer_state = copy.deepcopy(uninterrupted.optimizer.state_dict())
    uninterrupted._batch_rng.manual_seed(uninterrupted.config.seed + 3)  # as a resume reseeds
    resumed = make_trainer(precision="bf16")
    resumed.load_state(state, optimizer_state, step=3, elapsed=1.0)
    assert resumed.cpu_state().keys() == state.keys()
    assert all(torch.equal(resumed.cpu_state()[k], v) for k, v in state.items())
    assert step_losses(resumed, 3) == step_losses(uninterrupted, 3)


def test_bf16_is_deterministic_for_a_seed():
    assert step_losses(make_trainer(precision="bf16"), 5) == step_losses(
        make_trainer(precision="bf16"), 5
    )


def test_the_manual_and_flash_attention_branches_agree():
    torch.manual_seed(0)
    attn = CausalSelfAttention(GPTConfig(n_embd=24, n_head=3, block_size=16)).eval()
    x = torch.randn(2, 16, 24)
    flash, no_weights = attn(x)
    manual, weights = attn(x, need_weights=True)
    assert no_weights is None and weights.shape == (2, 3, 16, 16)
    torch.testing.assert_close(manual, flash, atol=1e-5, rtol=0)
    # bf16 on a CPU takes the manual branch: close to fp32, and causal
    low = copy.deepcopy(attn).to(torch.bfloat16)
    got = low(x.bfloat16())[0]
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), flash, atol=3e-2, rtol=3e-2)
    changed = x.clone()
    changed[:, -1] = 5.0  # the last position moves no earlier position's output
    assert torch.equal(low(changed.bfloat16())[0][:, :-1], got[:, :-1])


def test_the_model_under_autocast_stays_close_to_fp32():
    trainer = make_trainer(precision="bf16")
    x, y = trainer.get_batch("val")
    fp32 = GPT(trainer.model_config)
    fp32.load_state_dict(trainer.cpu_state())
    fp32.eval()
    trainer.model.eval()
    with torch.no_grad():
        logits, loss = fp32(x, y)
        with trainer.precision_context():
            bf16_logits, bf16_loss = trainer.model(x, y)
    assert bf16_logits.dtype == torch.bfloat16
    assert abs(bf16_loss.item() - loss.item()) < 0.02
    torch.testing.assert_close(bf16_logits.float(), logits, atol=5e-2, rtol=5e-2)


def test_bf16_trainers_in_two_threads_train_as_they_would_alone():
    alone = step_losses(make_trainer(precision="bf16"), 6)
    results: list[list[float]] = []
    errors: list[BaseException] = []

    def train() -> None:
        try:
            results.append(step_losses(make_trainer(precision="bf16"), 6))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=train) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [alone, alone]


# --- the CUDA path, run where it can: on the CPU ----------------------------------------------


def test_fp16_with_a_gradient_scaler_learns_as_fp32_does():
    results = {}
    for precision in ("fp32", "fp16"):
        trainer = make_trainer(precision=precision, max_iters=60, eval_interval=60)
        for _ in trainer.run():
            pass
        results[precision] = trainer.estimate_loss()["val"]
        assert trainer.scaler.is_enabled() == (precision == "fp16")
    untrained = make_trainer().estimate_loss()["val"]
    assert results["fp16"] < untrained - 0.3
    assert results["fp16"] == pytest.approx(results["fp32"], abs=0.05)


def test_auto_precision_on_a_gpu_without_bf16_is_fp16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert performance.resolve_precision("auto", torch.device("cuda")) == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert performance.resolve_precision("auto", torch.device("cuda")) == "bf16"


def test_batches_on_the_cpu_are_not_pinned():
    x = torch.arange(6).view(2, 3)
    moved = performance.pinned_copy(x, torch.device("cpu"))
    assert torch.equal(moved, x) and not moved.is_pinned()
