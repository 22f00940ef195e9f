"""The run follower: a real `headwatch train` process writes a run while a follower reads it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import headwatch.core.follow as follow_module
from headwatch.core.cli import main
from headwatch.core.follow import RunFollower
from headwatch.core.lock import LOCK
from headwatch.core.runs import RunWriter, load_run
from headwatch.core.session import train_into_run
from headwatch.core.snapshot_store import SnapshotStore, list_snapshots, load_snapshot
from headwatch.core.storage import RunError
from headwatch.core.trainer import Trainer
from tests.core.test_cli import SMALL
from tests.core.test_snapshot_store import ROOT
from tests.helpers import small_corpus, small_model, small_training, write_corpus


def _eval_lines(child: subprocess.Popen, *steps: int):
    """Blocks until the writer prints the evaluation of each step in turn (its files are on disk
    by then: the CLI prints after train_into_run has written them)."""
    for step in steps:
        for line in child.stdout:
            if line.startswith(f"step {step:>6}/"):
                break
        else:
            pytest.fail(f"the writer ended before step {step}")
        yield step


def start_writer(tmp_path, out, snapshot_every: str, stdout=subprocess.DEVNULL):
    """A `headwatch train` process writing out: a tiny model, an evaluation every 10 steps,
    far more steps than a test lasts. The caller kills and waits it."""
    argv = [*SMALL, "--iters", "1000000", "--eval-every", "10", "--snapshot-every", snapshot_every]
    return subprocess.Popen(
        [sys.executable, "-m", "headwatch", "train", "--corpus", str(write_corpus(tmp_path))]
        + [*argv, "--out", str(out)],
        cwd=ROOT,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_a_follower_sees_new_rows_and_weights_and_outlives_a_killed_writer(tmp_path):
    out = tmp_path / "run"
    child = start_writer(tmp_path, out, "0", stdout=subprocess.PIPE)
    try:
        steps = _eval_lines(child, 10, 20)
        next(steps)
        follower = RunFollower(out)
        first = follower.poll()
        assert first.state == "following" and first.owner["pid"] == child.pid
        assert [r.step for r in first.rows if r.loss is not None][:10] == list(range(1, 11))
        assert first.snapshot is not None and first.snapshot.step >= 10
        next(steps)
        second = follower.poll()
        losses = [r.step for r in first.rows + second.rows if r.loss is not None]
        assert losses == list(range(1, second.step + 1))  # each line once, none missed
        assert second.step >= 20 and second.snapshot.step >= 20  # new weights
        assert load_snapshot(second.snapshot)["step"] == second.snapshot.step
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    after = follower.poll()
    assert after.state == "dead" and after.owner["pid"] == child.pid
    assert (out / LOCK).exists()  # the follower never touches the lock
    quiet = follower.poll()
    assert not quiet.rows and quiet.snapshot is None and quiet.state == "dead"


def test_a_finished_run_has_ended_and_silence_is_stale(tmp_path):
    corpus = small_corpus()
    trainer = Trainer(corpus, small_model(corpus.vocab_size), small_training(max_iters=12))
    writer = RunWriter.create(tmp_path / "run", corpus, trainer.model_config, trainer.config)
    writer.snapshots = SnapshotStore(tmp_path / "run", every_s=0)
    now = [0.0]
    follower = RunFollower(tmp_path / "run", stale_after_s=120, clock=lambda: now[0])
    training = train_into_run(trainer, writer)
    for progress in training:
        if progress.step == 5:
            break_at = follower.poll()
            assert break_at.state == "following" and break_at.step == 5
            now[0] += 121  # two minutes without a change, the writer still holding the lock
            assert follower.poll().state == "stale"
            break
    training.close()  # saves step 5 and releases the lock
    update = follower.poll()
    assert update.state == "ended" and update.checkpoint_changed
    assert update.idle_s == 0.0


def test_a_run_that_ends_during_a_poll_is_reported_with_its_last_weights(tmp_path, monkeypatch):
    """The writer saves its last snapshot and frees the lock while the follower polls: the
    lock is read first, so "ended" never comes without the files written before it."""
    corpus = small_corpus()
    trainer = Trainer(corpus, small_model(corpus.vocab_size), small_training(max_iters=12))
    writer = RunWriter.create(tmp_path / "run", corpus, trainer.model_config, trainer.config)
    writer.snapshots = SnapshotStore(tmp_path / "run", every_s=0)
    follower = RunFollower(tmp_path / "run")
    training = train_into_run(trainer, writer)
    for progress in training:
        if progress.step == 2:
            assert follower.poll().state == "following"
        if progress.step == 7:  # no snapshot since step 0: the last one comes at the end
            break
    real_lock_state = follow_module.lock_state

    def the_writer_ends_now(path):
        if (tmp_path / "run" / LOCK).exists():
            training.close()  # saves step 7, writes its last snapshot, frees the lock
        return real_lock_state(path)

    monkeypatch.setattr(follow_module, "lock_state", the_writer_ends_now)
    update = follower.poll()
    assert update.state == "ended" and update.step == 7
    assert update.snapshot is not None and update.snapshot.step == 7


def test_following_a_folder_that_is_no_run_is_one_error(tmp_path):
    with pytest.raises(RunError, match="not a HeadWatch run"):
        RunFollower(tmp_path)


def test_headwatch_follow_prints_the_evaluations_of_a_run_and_its_end(tmp_path, capsys):
    """What the run produced, its end included, is follow's result: all on stdout (the end and
    the weights went to stderr, apart from the evaluations)."""
    out = tmp_path / "run"
    argv = ["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--out", str(out)]
    assert main(argv) == 0  # evaluations at 6 and 12
    capsys.readouterr()
    assert main(["follow", str(out), "--interval", "0.01"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line.split()[:2] for line in lines[:2]] == [["step", "6"], ["step", "12"]]
    assert lines[2:] == ["weights of step 12", "the run ended at step 12"]
    assert captured.err == ""


def test_headwatch_follow_results_on_stdout_notes_on_stderr(tmp_path):
    """A live run, followed by another process until the run is stopped (Ctrl+C): stdout holds
    only the run's evaluations, weights and end; stderr only the follower's own notes."""
    out = tmp_path / "run"
    writer = start_writer(tmp_path, out, "0", stdout=subprocess.PIPE)
    follower = None
    try:
        next(_eval_lines(writer, 10))
        follower = subprocess.Popen(
            [sys.executable, "-m", "headwatch", "follow", str(out), "--interval", "0.05"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,  # unbuffered: communicate() then reads all that readline() left
        )
        first = follower.stdout.readline().decode()  # the follower has polled the live run
        writer.send_signal(signal.SIGINT)  # stops after the step in flight, saves, unlocks
        writer.communicate(timeout=120)  # read to its end: a full pipe would hold it
        assert writer.returncode == 130
        rest, err = follower.communicate(timeout=120)
    finally:
        for child in (writer, follower):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()
    rest, err = rest.decode(), err.decode()
    assert follower.returncode == 0, err
    lines = [first.rstrip("\n"), *rest.splitlines()]
    step = load_run(out).step
    assert lines[-1] == f"the run ended at step {step}"
    evals = [int(line.split()[1]) for line in lines if line.startswith("step ")]
    weights = [int(line.split()[-1]) for line in lines if line.startswith("weights of step ")]
    assert evals == list(range(10, step + 1, 10))
    assert weights and weights == sorted(weights) and weights[-1] == step  # its last snapshot
    assert len(evals) + len(weights) + 1 == len(lines)  # nothing else on stdout
    assert err.splitlines() == ["headwatch: following"]


def _missing(tmp_path):
    return tmp_path / "no-such-run"


def _a_file(tmp_path):
    return write_corpus(tmp_path)


def _a_file_of_a_run(tmp_path):
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    return tmp_path / "config.json"


def _config_is_a_folder(tmp_path):
    (tmp_path / "config.json").mkdir()
    return tmp_path


GIVE = "give the run folder that `headwatch train --out` writes"


@pytest.mark.parametrize(
    ("where", "argv", "message"),
    [
        (lambda p: p, ["--interval", "0"], "--interval and --stale-after must be more than 0"),
        (lambda p: p, [], f"not a HeadWatch run (no config.json) — {GIVE}"),
        (_missing, [], f"no-such-run: no such folder — {GIVE}"),
        (_a_file, [], f"corpus.txt: is a file, not a run folder — {GIVE}"),
        (_a_file_of_a_run, [], "config.json: is a file — give the run folder that holds it, "),
        (_config_is_a_folder, [], "config.json: cannot be read ("),
    ],
)
def test_headwatch_follow_bad_input_is_one_line(tmp_path, capsys, where, argv, message):
    assert main(["follow", str(where(tmp_path)), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_headwatch_follow_an_unreadable_folder_says_so(tmp_path):
    """Run as another user where the tests run as root (root reads every folder)."""
    folder = Path(tempfile.mkdtemp(prefix="headwatch-unreadable-"))  # reachable by any user
    try:
        (folder / "config.json").write_text("{}", encoding="utf-8")
        folder.chmod(0o000)
        as_other = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        prefix = as_other if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "headwatch", "follow", str(folder)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        folder.chmod(0o700)
        shutil.rmtree(folder)
    assert done.returncode == 2, done.stderr
    said = f"headwatch: error: {folder}: cannot be read (permission denied) — check its permissions"
    assert done.stderr == said + "\n"


def test_a_snapshot_upgraded_to_a_lasting_kind_is_reported_once(tmp_path):
    """A step written as a timed snapshot, then again as its evaluation's (a new file name,
    the same weights), and a listing that misses the newest file: `headwatch follow` printed
    "weights of step N" twice."""
    corpus = small_corpus()
    trainer = Trainer(corpus, small_model(corpus.vocab_size), small_training(max_iters=12))
    run = tmp_path / "run"
    RunWriter.create(run, corpus, trainer.model_config, trainer.config)
    store = SnapshotStore(run, every_s=0)
    follower = RunFollower(run)
    trainer.step = 7
    store.write(7, 0.5, trainer.model.state_dict(), "timed")
    assert follower.poll().snapshot.step == 7
    store.write(7, 0.5, trainer.model.state_dict(), "eval")
    assert [s.kind for s in list_snapshots(run)] == ["eval"]
    assert follower.poll().snapshot is None
    trainer.step = 8
    store.write(8, 0.6, trainer.model.state_dict(), "timed")
    assert follower.poll().snapshot.step == 8
    # A listing that misses the newest file (taken while the store replaced its timed snapshot)
    # shows an older one as the newest: no snapshot to report, old or new.
    list_snapshots(run)[-1].path.unlink()
    assert follower.poll().snapshot is None
    store.write(9, 0.7, trainer.model.state_dict(), "timed")
    assert follower.poll().snapshot.step == 9
