"""A process killed at any point of saving leaves a loadable checkpoint and every completed line."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from headwatch.core.runs import METRICS, RunWriter, load_run, read_metrics, trainer_for
from headwatch.core.session import train_into_run
from tests.helpers import small_corpus

ROOT = Path(__file__).resolve().parents[2]

# Trains a tiny model and saves after every step, announcing each completed save and line.
SAVE_LOOP = textwrap.dedent(
    """
    import sys
    from headwatch.core.runs import MetricRow, RunWriter
    from headwatch.core.trainer import Trainer
    from tests.helpers import small_corpus, small_model, small_training

    corpus = small_corpus()
    model_config = small_model(corpus.vocab_size, n_embd=64, n_layer=3)
    train_config = small_training(max_iters=10**6)
    trainer = Trainer(corpus, model_config, train_config)
    writer = RunWriter.create(sys.argv[1], corpus, model_config, train_config)
    while True:
        loss = trainer.train_step()
        writer.append(MetricRow(trainer.step, 0.0, loss=loss))
        writer.save_checkpoint(trainer)
        print(trainer.step, flush=True)
    """
)


def test_killed_while_saving_leaves_a_loadable_run(tmp_path):
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for attempt in range(4):
        run = tmp_path / f"run{attempt}"
        child = subprocess.Popen(
            [sys.executable, "-c", SAVE_LOOP, str(run)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        # let a few saves complete, then kill at a random moment, likely mid-write
        first = child.stdout.readline()
        assert first.strip() == "1", "the child should report its first save"
        time.sleep(rng.uniform(0.05, 0.6))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        last_saved = max(int(n) for n in [first, *child.stdout.read().split()])
        record = load_run(run)  # never raises: the previous checkpoint is intact
        assert record.step >= last_saved
        lines = (run / METRICS).read_text().splitlines()
        rows = read_metrics(run)
        assert [r.step for r in rows] == list(range(1, len(rows) + 1))
        assert len(rows) >= last_saved  # every completed line survived
        assert len(lines) - len(rows) <= 1  # at most the line being written is cut
        # and the run resumes: stale temp files go, steps continue after the checkpoint
        trainer = trainer_for(record, small_corpus())
        progress = list(train_into_run(trainer, RunWriter.reopen(record), steps=2))
        assert [p.step for p in progress if not p.is_eval][0] == record.step + 1
        assert not list(run.glob(".*.tmp"))
