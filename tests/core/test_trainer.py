"""The trainer: deterministic, steerable from another thread, watchable, and loud about NaNs."""

from __future__ import annotations

import math
import threading

import pytest
import torch

from headwatch.core.control import SnapshotBox, TrainControl
from headwatch.core.inspection import Inspector
from headwatch.core.model import ConfigError
from headwatch.core.trainer import DIVERGED_FACTOR, TrainConfig, Trainer, TrainingDiverged
from tests.helpers import small_corpus, small_model, small_training


def make_trainer(**train_overrides) -> Trainer:
    corpus = small_corpus()
    return Trainer(
        corpus,
        small_model(corpus.vocab_size),
        small_training(**train_overrides),
        snapshots=SnapshotBox(),
        snapshot_every_s=0.0,
    )


def losses(trainer: Trainer, control: TrainControl | None = None) -> list[float]:
    return [p.loss for p in trainer.run(control) if not p.is_eval]


def test_same_seed_same_losses():
    first, second = losses(make_trainer()), losses(make_trainer())
    assert len(first) == 20
    assert first == second
    assert losses(make_trainer(seed=8)) != first


def test_loss_falls_and_evals_are_reported():
    trainer = make_trainer(max_iters=60, eval_interval=20)
    reports = list(trainer.run())
    evals = [p for p in reports if p.is_eval]
    assert [p.step for p in evals] == [20, 40, 60]
    assert evals[-1].val_estimate < evals[0].val_estimate
    steps = [p for p in reports if not p.is_eval]
    assert [p.step for p in steps] == list(range(1, 61))
    assert all(p.tokens_per_s > 0 and p.total == 60 for p in steps)


def test_batches_are_lecture_windows():
    trainer = make_trainer()
    x, y = trainer.get_batch("train")
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"learning_rate": 0}, "learning rate must be above 0"),
        ({"learning_rate": float("nan")}, "learning rate must be a number"),
        ({"learning_rate": 100.0}, "at most 10"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"max_iters": -5}, "max_iters"),
        ({"eval_interval": 0}, "eval_interval"),
        ({"eval_iters": 1.5}, "eval_iters"),
        ({"seed": -1}, "seed must be"),
        ({"device": None}, "device must be a name"),
    ],
)
def test_bad_training_settings_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**overrides)


def test_pause_resume_and_stop_from_another_thread():
    trainer = make_trainer(max_iters=100_000)
    control = TrainControl()
    seen: list[int] = []
    paused_at = threading.Event()
    resumed = threading.Event()

    def consume() -> None:
        for p in trainer.run(control):
            seen.append(p.step)
            if p.step == 5 and not control.paused and not resumed.is_set():
                control.pause()
                paused_at.set()
            if p.step == 10 and not p.is_eval:
                stop_at.append(trainer.step)
                control.stop()

    stop_at: list[int] = []
    worker = threading.Thread(target=consume)
    worker.start()
    assert paused_at.wait(10)
    step_when_paused = trainer.step
    # while paused the worker is blocked inside the generator: no further step happens
    worker.join(timeout=0.3)
    assert worker.is_alive() and trainer.step == step_when_paused == 5
    resumed.set()
    control.resume()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert stop_at == [10]
    assert trainer.step == 10  # the stop took effect before another step
    assert seen[-1] == 10


def test_stop_while_paused_ends_the_run():
    trainer = make_trainer(max_iters=100_000)
    control = TrainControl()
    control.pause()
    done = threading.Event()

    def consume() -> None:
        list(trainer.run(control))
        done.set()

    worker = threading.Thread(target=consume)
    worker.start()
    control.stop()
    worker.join(timeout=10)
    assert done.is_set() and trainer.step == 0


def test_snapshots_can_be_inspected_while_training_runs():
    trainer = make_trainer(max_iters=100_000)
    control = TrainControl()
    worker = threading.Thread(target=lambda: list(trainer.run(control)))
    worker.start()
    inspector = Inspector()
    steps = []
    try:
        while len(set(steps)) < 3:
            snapshot = trainer.snapshots.latest()
            if snapshot is None:
                continue
            result = inspector.inspect(snapshot, "ROMEO:")
            assert result.attention.shape == (2, 2, 6, 6)
            assert abs(float(result.attention.sum()) - 2 * 2 * 6) < 1e-3
            steps.append(result.step)
            # the snapshot is a private copy: its weights equal a model loaded from it
            assert all(not t.requires_grad for t in snapshot.state.values())
    finally:
        control.stop()
        worker.join(timeout=30)
    assert steps == sorted(steps)


def test_snapshot_never_holds_a_half_applied_step():
    trainer = make_trainer(max_iters=3)
    list(trainer.run())
    snapshot = trainer.snapshots.latest()
    assert snapshot.step == 3
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(snapshot.state[name], tensor)
    # further training does not change a published snapshot
    trainer.train_step()
    changed = [
        n for n, t in trainer.model.state_dict().items() if not torch.equal(snapshot.state[n], t)
    ]
    assert changed


def test_nan_loss_ends_the_run_with_a_reason():
    trainer = make_trainer(max_iters=50)
    control = TrainControl()
    with pytest.raises(
        TrainingDiverged, match=r"loss diverged at step 4 — lower the learning rate"
    ):
        for p in trainer.run(control):
            if p.step == 3:
                with torch.no_grad():
                    trainer.model.lm_head.weight.fill_(math.inf)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_far_too_high_learning_rate_ends_the_run_even_while_the_loss_stays_finite(precision):
    # under bf16 autocast such a run can stay finite for good, with losses in the thousands
    trainer = make_trainer(max_iters=200, learning_rate=10.0, precision=precision)
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        for _ in trainer.run(TrainControl()):
            pass
    assert trainer.step < 20


def test_an_untrained_model_is_far_from_diverged():
    trainer = make_trainer()
    first = trainer.train_step()
    assert not trainer._diverged(first)
    assert trainer._diverged(DIVERGED_FACTOR * math.log(trainer.model_config.vocab_size) + 1)
    assert trainer._diverged(math.nan) and trainer._diverged(math.inf)


def test_evaluation_seconds_are_counted_apart_from_the_seconds_in_steps():
    """`headwatch train`'s summary left the periodic estimate_loss unnamed: the trainer counts
    those seconds where they are spent, and keeps them out of `elapsed` (what tokens/s is over)."""
    trainer = make_trainer(max_iters=4, eval_interval=2, eval_iters=20)
    reports = list(trainer.run())
    evals = [p for p in reports if p.is_eval]
    steps = [p for p in reports if not p.is_eval]
    assert [p.step for p in evals] == [2, 4]
    assert trainer.eval_seconds > 0
    assert [p.elapsed for p in evals] == [steps[1].elapsed, steps[3].elapsed]
    assert trainer.elapsed == steps[-1].elapsed
    before = trainer.eval_seconds
    trainer.estimate_loss()
    assert trainer.eval_seconds > before and trainer.elapsed == steps[-1].elapsed
