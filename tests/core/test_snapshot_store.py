"""Weights snapshots: the schedule, the budget honoured by thinning, a killed run's snapshots,
`inspect --step`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from headwatch.core.cli import main
from headwatch.core.inspection import inspect_prompt
from headwatch.core.runs import RunWriter, load_run
from headwatch.core.session import train_into_run
from headwatch.core.snapshot_store import (
    SnapshotStore,
    encode_snapshot,
    list_snapshots,
    load_snapshot,
    log_spaced,
    nearest,
)
from headwatch.core.storage import RunError
from headwatch.core.trainer import Trainer
from tests.core.test_cli import SMALL
from tests.helpers import small_corpus, small_model, small_training, write_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_log_spaced_steps_are_one_two_five_per_decade():
    kept = [s for s in range(0, 20001) if log_spaced(s)]
    assert kept == [0, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]


def _trained(tmp_path, store: SnapshotStore, **training) -> tuple[Trainer, RunWriter]:
    corpus = small_corpus()
    trainer = Trainer(corpus, small_model(corpus.vocab_size), small_training(**training))
    writer = RunWriter.create(tmp_path / "run", corpus, trainer.model_config, trainer.config)
    writer.snapshots = store
    for _ in train_into_run(trainer, writer):
        pass
    return trainer, writer


def test_a_run_keeps_log_spaced_steps_and_every_evaluation(tmp_path):
    store = SnapshotStore(tmp_path / "run", every_s=0)
    trainer, _ = _trained(tmp_path, store, max_iters=60, eval_interval=15)
    kept = {(s.step, s.kind) for s in list_snapshots(tmp_path / "run")}
    assert kept == {(0, "log"), (10, "log"), (20, "log"), (50, "log")} | {
        (15, "eval"),
        (30, "eval"),
        (45, "eval"),
        (60, "eval"),
    }
    final = load_snapshot(nearest(list_snapshots(tmp_path / "run"), 60))
    assert final["step"] == 60
    for name, weight in trainer.model.state_dict().items():
        # bf16 keeps ~3 significant digits
        torch.testing.assert_close(final["model"][name], weight, rtol=1e-2, atol=1e-3)


def test_a_timed_snapshot_replaces_the_previous_one(tmp_path):
    corpus = small_corpus()
    trainer = Trainer(corpus, small_model(corpus.vocab_size), small_training(max_iters=13))
    writer = RunWriter.create(tmp_path / "run", corpus, trainer.model_config, trainer.config)
    writer.snapshots = SnapshotStore(tmp_path / "run", every_s=1e-9)  # due at every step
    newest = []
    for progress in train_into_run(trainer, writer):
        timed = [s.step for s in list_snapshots(tmp_path / "run") if s.kind == "timed"]
        if not log_spaced(progress.step) and not progress.is_eval:
            assert timed == [progress.step]
        else:  # a lasting snapshot of the same or a later step replaced it
            assert timed == []
        newest.append(list_snapshots(tmp_path / "run")[-1].step)
    assert newest == [p for p in range(1, 14) for _ in range(1 + (p in (10, 13)))]
    kinds = [s.kind for s in list_snapshots(tmp_path / "run")]
    assert kinds == ["log", "log", "eval"]  # 0, 10 (log-spaced and evaluated), 13 (the last)


def test_the_budget_thins_older_snapshots_and_is_never_exceeded(tmp_path):
    corpus = small_corpus()
    state = Trainer(corpus, small_model(corpus.vocab_size), small_training()).cpu_state()
    size = len(encode_snapshot(0, 0.0, state))
    store = SnapshotStore(tmp_path / "run", every_s=0)
    store.budget_bytes = 5 * size  # room for five (the 1 MB floor is for the command line)
    steps = [0, 10, 20, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500]
    for step in steps:
        store.write(step, 0.0, state, "log" if log_spaced(step) else "eval")
        on_disk = sum(f.stat().st_size for f in (tmp_path / "run" / "snapshots").iterdir())
        assert on_disk <= store.budget_bytes
    kept = list_snapshots(tmp_path / "run")
    assert len(kept) == 5
    # evaluations go before log-spaced steps; the newest is kept, and the ends of the timeline
    assert {0, 500} <= {s.step for s in kept}
    assert all(s.kind == "log" for s in kept)
    assert kept[-1].step == 500


def test_a_budget_too_small_for_one_snapshot_is_refused_before_training(tmp_path, capsys):
    corpus = write_corpus(tmp_path)
    argv = ["train", "--corpus", str(corpus), *SMALL, "--embd", "512", "--heads", "2"]
    code = main([*argv, "--snapshot-budget-mb", "1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "more than --snapshot-budget-mb 1; raise the budget" in err
    assert not (tmp_path / "run").exists()


def test_a_budget_of_0_keeps_no_snapshots(tmp_path):
    """As the window's settings file takes it: 0 MB, no snapshots (and no timeline)."""
    corpus = write_corpus(tmp_path)
    argv = ["train", "--corpus", str(corpus), *SMALL, "--snapshot-budget-mb", "0"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    assert load_run(tmp_path / "run").step > 0
    assert list_snapshots(tmp_path / "run") == []


@pytest.mark.parametrize(
    "option",
    ["--snapshot-every=-1", "--snapshot-every=nan", "--snapshot-budget-mb=0.5"]
    + ["--snapshot-budget-mb=nan", "--snapshot-budget-mb=inf"],
)
def test_bad_snapshot_options_are_one_line(tmp_path, capsys, option):
    argv = ["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, option]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.startswith("headwatch: error: --snapshot-")


def test_a_killed_runs_snapshots_all_load(tmp_path):
    corpus = write_corpus(tmp_path)
    out = tmp_path / "run"
    argv = [*SMALL, "--iters", "100000", "--eval-every", "10", "--snapshot-every", "0.05"]
    child = subprocess.Popen(
        [sys.executable, "-m", "headwatch", "train", "--corpus", str(corpus), *argv, "--out", out],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in child.stdout:
            if line.startswith("step     50/"):
                break
    finally:
        child.send_signal(signal.SIGKILL)  # no chance to finish a write
        child.wait()
    snapshots = list_snapshots(out)
    assert {0, 10, 20, 50} <= {s.step for s in snapshots}
    for info in snapshots:
        assert load_snapshot(info)["step"] == info.step
    record = load_run(out)
    assert all(record.build_snapshot_model(info) is not None for info in snapshots)
    # continued from its checkpoint, the run drops the snapshots of the steps it lost
    assert main(["train", "--resume", "--iters", "2", "--out", str(out)]) == 0
    steps = [s.step for s in list_snapshots(out)]
    assert all(s <= record.step for s in steps[:-1]) and steps[-1] == record.step + 2


def test_inspect_step_equals_the_inspection_of_that_snapshot(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--iters", "24"]
    assert main([*argv, "--snapshot-every", "0", "--out", str(out)]) == 0  # evals: 6, 12, ...
    capsys.readouterr()
    assert main(["inspect", str(out), "--prompt", "ROMEO:", "--json", "--step", "17"]) == 0
    captured = capsys.readouterr()
    assert "no snapshot of step 17 is kept; showing step 18, the nearest" in captured.err
    record = load_run(out)
    info = nearest(list_snapshots(out), 18)
    assert info.step == 18 != record.step
    expected = inspect_prompt(record.build_snapshot_model(info), record.tokenizer, "ROMEO:", 18)
    assert json.loads(captured.out) == json.loads(json.dumps(expected.to_json()))


def test_inspect_step_of_a_run_without_snapshots_is_one_line(tmp_path, capsys):
    corpus = small_corpus()
    trainer = Trainer(corpus, small_model(corpus.vocab_size), small_training(max_iters=2))
    writer = RunWriter.create(tmp_path / "run", corpus, trainer.model_config, trainer.config)
    for _ in train_into_run(trainer, writer):
        pass
    assert main(["inspect", str(tmp_path / "run"), "--prompt", "RO", "--step", "1"]) == 2
    assert "has no weight snapshots" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "run"), "--prompt", "RO", "--step", "-3"]) == 2
    assert capsys.readouterr().err == (
        "headwatch: error: --step must be a step of the run (0 or more), got -3\n"
    )


def test_a_damaged_snapshot_is_a_run_error(tmp_path):
    path = tmp_path / "step-000000010.log.pt"
    path.write_bytes(b"not a snapshot")
    with pytest.raises(RunError, match="damaged or not a HeadWatch snapshot"):
        load_snapshot(path)
