"""Run folders: saved atomically, loaded with checks, resumed where they stopped."""

from __future__ import annotations

import json

import pytest
import torch

from headwatch.core.control import TrainControl
from headwatch.core.corpus import Corpus
from headwatch.core.runs import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    RunError,
    RunWriter,
    load_run,
    new_run_dir,
    trainer_for,
)
from headwatch.core.session import train_into_run
from headwatch.core.trainer import Trainer, TrainingDiverged
from tests.helpers import TEXT, small_corpus, small_model, small_training


def train_run(path, steps=20, **overrides):
    corpus = small_corpus()
    model_config, train_config = (
        small_model(corpus.vocab_size),
        small_training(max_iters=steps, **overrides),
    )
    trainer = Trainer(corpus, model_config, train_config)
    writer = RunWriter.create(path, corpus, model_config, trainer.config)
    reports = list(train_into_run(trainer, writer))
    return trainer, reports


def test_run_folder_round_trip(tmp_path):
    trainer, reports = train_run(tmp_path / "run")
    record = load_run(tmp_path / "run")
    assert record.step == 20
    assert record.model_config == trainer.model_config
    assert record.train_config == trainer.config
    assert record.corpus["name"] == "test"
    steps = [r for r in record.metrics if r.loss is not None]
    evals = [r for r in record.metrics if r.val is not None]
    assert [r.step for r in steps] == list(range(1, 21))
    assert [r.step for r in evals] == [10, 20]
    assert evals[-1].val == pytest.approx(reports[-1].val_estimate)
    model = record.build_model()
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor)
    assert not list((tmp_path / "run").glob("*.tmp")), "no temp files left behind"


def test_default_home_is_under_headwatch_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HEADWATCH_HOME", str(tmp_path))
    assert new_run_dir("baby").parent == tmp_path / "data" / "runs"


def test_refuses_to_overwrite_an_existing_run(tmp_path):
    train_run(tmp_path / "run", steps=2)
    before = (tmp_path / "run" / CHECKPOINT).read_bytes()
    corpus = small_corpus()
    with pytest.raises(RunError, match="already holds a run"):
        RunWriter.create(tmp_path / "run", corpus, small_model(corpus.vocab_size), small_training())
    assert (tmp_path / "run" / CHECKPOINT).read_bytes() == before


def test_resume_continues_step_numbers_and_curve(tmp_path):
    train_run(tmp_path / "run", steps=20)
    record = load_run(tmp_path / "run")
    trainer = trainer_for(record, small_corpus())
    assert trainer.step == 20
    writer = RunWriter.reopen(record)
    reports = list(train_into_run(trainer, writer, steps=10))
    assert [p.step for p in reports if not p.is_eval] == list(range(21, 31))
    record = load_run(tmp_path / "run")
    assert record.step == 30
    assert [r.step for r in record.metrics if r.loss is not None] == list(range(1, 31))
    assert [r.step for r in record.metrics if r.val is not None] == [10, 20, 30]
    assert record.checkpoint["elapsed"] > 0


def test_resume_drops_metrics_written_after_the_last_checkpoint(tmp_path):
    train_run(tmp_path / "run", steps=10)
    with open(tmp_path / "run" / METRICS, "a") as fh:  # a crash after these lines, before a save
        fh.write('{"step":11,"elapsed":1.0,"loss":2.0}\n{"step":12,"ela')
    record = load_run(tmp_path / "run")
    assert [r.step for r in record.metrics][-1] == 11  # the partial line is skipped
    RunWriter.reopen(record)
    assert max(r.step for r in load_run(tmp_path / "run").metrics) == 10
    assert (tmp_path / "run" / METRICS).read_text().endswith("\n")


def test_stop_saves_the_run(tmp_path):
    corpus = small_corpus()
    model_config, train_config = small_model(corpus.vocab_size), small_training(max_iters=1000)
    trainer = Trainer(corpus, model_config, train_config)
    writer = RunWriter.create(tmp_path / "run", corpus, model_config, train_config)
    control = TrainControl()
    for p in train_into_run(trainer, writer, control):
        if p.step == 7:
            control.stop()
    assert load_run(tmp_path / "run").step == 7


def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    corpus = small_corpus()
    model_config, train_config = small_model(corpus.vocab_size), small_training(max_iters=100)
    trainer = Trainer(corpus, model_config, train_config)
    writer = RunWriter.create(tmp_path / "run", corpus, model_config, train_config)
    with pytest.raises(TrainingDiverged):
        for p in train_into_run(trainer, writer):
            if p.step == 13:
                with torch.no_grad():
                    trainer.model.lm_head.bias.fill_(float("nan"))
    record = load_run(tmp_path / "run")
    assert record.step == 10
    assert all(torch.isfinite(t).all() for t in record.checkpoint["model"].values())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "is damaged"),
        (lambda p: p.write_bytes(b"not a checkpoint at all"), "is damaged"),
        (lambda p: torch.save({"weights": torch.zeros(3)}, p), "not a HeadWatch checkpoint"),
        (lambda p: p.write_bytes(b""), "is damaged"),
    ],
)
def test_corrupt_checkpoint_is_a_clear_error_and_nothing_is_overwritten(tmp_path, damage, message):
    train_run(tmp_path / "run", steps=2)
    path = tmp_path / "run" / CHECKPOINT
    damage(path)
    before = {f.name: f.read_bytes() for f in (tmp_path / "run").iterdir()}
    with pytest.raises(RunError, match=message):
        load_run(tmp_path / "run")
    assert {f.name: f.read_bytes() for f in (tmp_path / "run").iterdir()} == before


def test_checkpoint_from_another_architecture_or_vocabulary(tmp_path):
    train_run(tmp_path / "a", steps=2)
    corpus = small_corpus()
    other = Corpus("other", TEXT + "XYZ")
    trainer = Trainer(other, small_model(other.vocab_size), small_training(max_iters=1))
    RunWriter.create(tmp_path / "b", other, trainer.model_config, trainer.config).save_checkpoint(
        trainer
    )
    (tmp_path / "a" / CHECKPOINT).write_bytes((tmp_path / "b" / CHECKPOINT).read_bytes())
    with pytest.raises(RunError, match="another architecture"):
        load_run(tmp_path / "a")
    wide = Trainer(corpus, small_model(corpus.vocab_size, n_embd=32), small_training())
    RunWriter.create(tmp_path / "c", corpus, wide.model_config, wide.config).save_checkpoint(wide)
    (tmp_path / "a" / CHECKPOINT).write_bytes((tmp_path / "c" / CHECKPOINT).read_bytes())
    with pytest.raises(RunError, match="another architecture"):
        load_run(tmp_path / "a")


def test_resume_on_another_vocabulary_is_refused(tmp_path):
    train_run(tmp_path / "run", steps=2)
    with pytest.raises(RunError, match="another vocabulary"):
        trainer_for(load_run(tmp_path / "run"), Corpus("other", TEXT + "XYZ"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{ not json", "invalid JSON at line 1"),
        ('{"format": "something-else"}', "not a HeadWatch run config"),
        ('{"format": "headwatch-run", "model": {}}', "damaged or from another program"),
        ("[1, 2, 3]", "not a HeadWatch run config"),
    ],
)
def test_corrupt_config_is_a_clear_error(tmp_path, content, message):
    train_run(tmp_path / "run", steps=2)
    (tmp_path / "run" / CONFIG).write_text(content)
    with pytest.raises(RunError, match=message):
        load_run(tmp_path / "run")
    assert (tmp_path / "run" / CONFIG).read_text() == content


def test_missing_folder_and_missing_config(tmp_path):
    with pytest.raises(RunError, match="no such folder"):
        load_run(tmp_path / "nowhere")
    with pytest.raises(RunError, match="not a HeadWatch run"):
        load_run(tmp_path)


def test_config_json_is_readable(tmp_path):
    train_run(tmp_path / "run", steps=2)
    config = json.loads((tmp_path / "run" / CONFIG).read_text())
    assert config["model"]["n_head"] == 2 and config["train"]["seed"] == 7
