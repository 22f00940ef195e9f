"""Issue #18, kinds 1-7: interrupts, option ranges, failed writes, out of memory, resuming with
other options, one writer per run, runs moved between machines. Each example of the issue is a
test here; CLI tests assert the exit code, one line on stderr and no traceback."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from headwatch.core.cli import main
from headwatch.core.config import GREEDY_BELOW, ConfigError, OutOfMemory, check_sampling
from headwatch.core.corpus import Corpus
from headwatch.core.inspection import sample_text
from headwatch.core.lock import LOCK, RunLock
from headwatch.core.presets import PRESETS
from headwatch.core.runs import (
    CHECKPOINT,
    CONFIG,
    RunError,
    RunLocked,
    RunWriter,
    copy_run,
    load_run,
    resumable_corpus,
    trainer_for,
)
from headwatch.core.session import train_into_run
from headwatch.core.trainer import Trainer
from tests.helpers import (
    SMALL_TRAIN,
    TEXT,
    small_corpus,
    small_model,
    small_training,
    write_corpus,
)

ROOT = Path(__file__).resolve().parents[2]
T = SMALL_TRAIN  # the setting: a small model on a small corpus, on the CPU


def one_error_line(err: str, *fragments: str) -> None:
    """stderr ends with one error line holding every fragment (what came before is progress)."""
    lines = err.splitlines()
    assert err.endswith("\n") and "Traceback" not in err, err
    assert [line for line in lines if "error" in line] == lines[-1:], err
    assert lines[-1].startswith("headwatch: error: "), err
    for fragment in fragments:
        assert fragment in lines[-1], err


@pytest.fixture
def corpus_file(tmp_path):
    return write_corpus(tmp_path)


def train(corpus_file, out, *extra: str) -> int:
    return main(["train", "--corpus", str(corpus_file), *T, *extra, "--out", str(out)])


@pytest.fixture
def run_dir(tmp_path, corpus_file):
    out = tmp_path / "run"
    assert train(corpus_file, out, "--iters", "20", "--eval-every", "10") == 0
    return out


# --- 1. interrupts: the step named is the step saved -----------------------------------------


def spawn(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "headwatch", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(stream, fragment: str) -> list[str]:
    """Lines of stream up to the first holding fragment (the child always writes or exits)."""
    lines = []
    while True:
        line = stream.readline()
        assert line, f"the child ended before writing {fragment!r}: {lines}"
        lines.append(line)
        if fragment in line:
            return lines


def finish(child: subprocess.Popen) -> tuple[int, str]:
    _, err = child.communicate(timeout=120)
    return child.returncode, err


# what the first signal is told as: only a Ctrl+C hears that another one quits at once
STOPPING = {
    signal.SIGINT: "headwatch: Ctrl+C: stopping after the step in flight and saving it "
    "(Ctrl+C again quits at once)",
    signal.SIGTERM: "headwatch: terminated (SIGTERM): stopping after the step in flight and "
    "saving it",
}


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_after_the_step_in_flight_and_saves_that_step(
    tmp_path, corpus_file, signum, code
):
    out = tmp_path / "run"
    child = spawn("train", "--corpus", str(corpus_file), *T, "--iters", "1000000",
                  "--eval-every", "25", "--out", str(out))  # fmt: skip
    read_until(child.stdout, "step     25/")  # training is under way
    child.send_signal(signum)
    rc, err = finish(child)
    assert rc == code and "Traceback" not in err
    assert STOPPING[signum] in err.splitlines()
    assert ("Ctrl+C" in err) == (signum == signal.SIGINT)
    # the step saved, then where the time went, as a finished run's summary says it
    summary = r"stopped at step (\d+); [\d,]+ tok/s over .* evaluations .*; saved in "
    stopped = re.search(summary, err)
    assert stopped, err
    record = load_run(out)
    assert record.step == int(stopped[1]) >= 25  # the checkpoint holds the step the line names
    assert record.metrics[-1].step == record.step
    assert not (out / LOCK).exists()


@pytest.mark.parametrize(
    ("first", "second", "code", "says"),
    [
        (signal.SIGINT, signal.SIGINT, 130, "interrupted again"),
        (signal.SIGTERM, signal.SIGTERM, 143, "terminated again"),
        (signal.SIGTERM, signal.SIGINT, 130, "interrupted again"),
    ],
)
def test_a_second_signal_quits_at_once_and_says_what_is_kept(
    tmp_path, corpus_file, first, second, code, says
):
    out = tmp_path / "run"
    # steps of about a second, so the second signal lands while the first waits for its step
    child = spawn("train", "--corpus", str(corpus_file), "--layers", "2", "--heads", "2",
                  "--embd", "256", "--block", "128", "--batch", "64", "--eval-iters", "1",
                  "--eval-every", "1", "--iters", "1000", "--device", "cpu",
                  "--out", str(out))  # fmt: skip
    read_until(child.stdout, "step      1/")  # step 1 evaluated and saved
    child.send_signal(first)
    [*_, stopping] = read_until(child.stderr, "stopping after the step in flight")
    assert stopping.rstrip("\n") == STOPPING[first]
    child.send_signal(second)
    rc, err = finish(child)
    assert rc == code and "Traceback" not in err
    kept = re.search(rf"headwatch: {says}, quit at once; the checkpoint of step (\d+) is kept", err)
    assert kept, err
    assert load_run(out).step == int(kept[1]) >= 1
    assert not (out / LOCK).exists() and not list(out.glob(".*.tmp"))


LATE_SECOND_SIGNAL = """
import atexit, signal, sys
from headwatch.core.cli import _Interrupts
from headwatch.core.control import TrainControl

control = TrainControl()
with _Interrupts(control) as interrupts:
    signal.raise_signal(signal.SIGINT)  # the first: stop after the step in flight
    assert control.stop_requested
    interrupts.kept = "the checkpoint of step 7 is kept in RUN"
atexit.register(lambda: signal.raise_signal(signal.SIGINT))  # the second, while Python exits
print("stopped", flush=True)
"""


def test_a_second_signal_while_the_command_exits_quits_at_once_without_a_traceback():
    """The first signal's stop can end the command before the second lands: it then quits at
    once as inside (no traceback from an exit hook), saying what is kept."""
    result = subprocess.run(
        [sys.executable, "-c", LATE_SECOND_SIGNAL], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 130 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == "stopped\n"
    assert result.stderr.splitlines()[-1] == (
        "headwatch: interrupted again, quit at once; the checkpoint of step 7 is kept in RUN"
    )


def test_ladder_stops_its_stage_in_flight_and_saves_it(tmp_path, corpus_file):
    out = tmp_path / "ladder"
    child = spawn("ladder", "--corpus", str(corpus_file), "--iters", "1000000",
                  "--eval-iters", "1", "--device", "cpu", "--out", str(out))  # fmt: skip
    read_until(child.stderr, "bigram: training")
    child.send_signal(signal.SIGINT)
    rc, err = finish(child)
    assert rc == 130 and "Traceback" not in err
    stopped = re.search(r"stopped: 0 of 7 stages finished; 'bigram' at step (\d+) is saved", err)
    assert stopped, err
    assert load_run(out / "01-bigram").step == int(stopped[1])
    assert sorted(p.name for p in out.iterdir()) == ["01-bigram"]  # no further stage began


# --- 2. every numeric option in range, or refused in one line ---------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--iters", "0"], "--iters must be at least 1"),
        (["--iters", str(10**13)], "--iters must be at most"),
        (["--eval-every", "0"], "--eval-every must be at least 1"),
        (["--eval-iters", "0"], "--eval-iters must be at least 1"),
        (["--eval-iters", str(10**20)], "--eval-iters must be at most"),
        (["--batch", "0"], "--batch must be at least 1"),
        (["--batch", str(2**62)], "--batch must be at most"),
        (["--block", str(2**21)], "--block must be at most"),
        (["--embd", "0"], "--embd must be at least 1"),
        (["--embd", str(2**17), "--heads", "1"], "--embd must be at most"),
        (["--heads", "0"], "--heads must be at least 1"),
        (["--layers", "0"], "--layers must be at least 1"),
        (["--layers", "5000"], "--layers must be at most"),
        (["--lr", "0"], "learning rate must be above 0"),
        (["--lr", "inf"], "learning rate must be a number"),
        (["--lr", "nan"], "learning rate must be a number"),
        (["--dropout", "1"], "dropout must be at least 0 and below 1"),
        (["--dropout", "nan"], "dropout must be at least 0 and below 1"),
        (["--seed", "-1"], "seed must be at least 0"),
        (["--seed", str(2**64)], "seed must be at most"),
        (["--preset", "huge"], "invalid choice"),
    ],
)
def test_train_options_out_of_range(tmp_path, corpus_file, capsys, args, message):
    assert train(corpus_file, tmp_path / "r", *args) == 2
    one_error_line(capsys.readouterr().err, message)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tokens", "0"], "tokens must be at least 1"),
        (["--tokens", "1000000"], "tokens must be at most 100,000"),
        (["--temperature", "-1"], "temperature must be a finite number of at least 0"),
        (["--temperature", "nan"], "temperature must be a finite number"),
        (["--temperature", "inf"], "temperature must be a finite number"),
        (["--seed", "-1"], "--seed must be at least 0"),
        (["--seed", str(2**64)], "--seed must be at most"),
    ],
)
def test_sample_options_out_of_range(run_dir, capsys, args, message):
    capsys.readouterr()
    assert main(["sample", str(run_dir), *args]) == 2
    one_error_line(capsys.readouterr().err, message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-1"], "seed must be at least 0"),
        (["--eval-iters", str(10**7)], "--eval-iters must be at most"),
        (["--device", "toaster"], "unknown device"),
    ],
)
def test_ladder_options_out_of_range(tmp_path, corpus_file, capsys, args, message):
    out = tmp_path / "ladder"
    assert main(["ladder", "--corpus", str(corpus_file), *args, "--out", str(out)]) == 2
    one_error_line(capsys.readouterr().err, message)
    assert not out.exists()


def test_resume_iters_out_of_range(run_dir, capsys):
    capsys.readouterr()
    assert main(["train", "--resume", "--iters", "0", "--out", str(run_dir)]) == 2
    one_error_line(capsys.readouterr().err, "--iters must be at least 1")


def test_a_tiny_temperature_or_zero_samples_greedily(run_dir, capsys):
    outputs = []
    for temperature, seed in (("1e-38", "1"), ("0", "2"), ("1e-5", "3")):
        capsys.readouterr()
        args = ["--prompt", "RO", "--tokens", "30", "--temperature", temperature, "--seed", seed]
        assert main(["sample", str(run_dir), *args]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2]  # seeds differ: no sampling took place
    record = load_run(run_dir)
    model = record.build_model()
    ids = [record.tokenizer.stoi[c] for c in "RO"]
    for _ in range(30):  # greedy decoding by hand: always the most likely next character
        logits, _ = model(torch.tensor([ids[-model.config.block_size :]]))
        ids.append(int(logits[0, -1].argmax()))
    assert outputs[0] == record.tokenizer.decode(ids) + "\n"


def test_sampling_checks_are_the_windows_too():
    model = Trainer(small_corpus(), small_model(small_corpus().vocab_size), small_training()).model
    tokenizer = small_corpus().tokenizer
    with pytest.raises(ConfigError, match="temperature"):
        sample_text(model, tokenizer, "RO", 5, float("nan"))
    check_sampling(1, 0.0)
    check_sampling(1, GREEDY_BELOW / 10)
    a = sample_text(model, tokenizer, "RO", 10, 0.0, seed=1)
    b = sample_text(model, tokenizer, "RO", 10, 0.0, seed=2)
    assert a == b


# --- 3. a failed write: one line, nothing lost ------------------------------------------------


def full_disk_at(monkeypatch, nth: int) -> None:
    """The seam: the nth checkpoint write from now finds the disk full (the real writer
    otherwise, so the temp file and the rename are the real ones)."""
    import headwatch.core.runs as runs

    real, calls = runs.atomic_write, []

    def write(path, fill):
        if Path(path).name == CHECKPOINT:
            calls.append(path)
            if len(calls) == nth:
                raise OSError(errno.ENOSPC, "No space left on device")
        real(path, fill)

    monkeypatch.setattr(runs, "atomic_write", write)


def test_disk_full_while_saving_keeps_the_previous_checkpoint(
    tmp_path, corpus_file, capsys, monkeypatch
):
    out = tmp_path / "run"
    full_disk_at(monkeypatch, 3)  # checkpoints at steps 0 and 20 fit, that of step 40 not
    assert train(corpus_file, out, "--iters", "60", "--eval-every", "20") == 2
    one_error_line(
        capsys.readouterr().err,
        f"no space left while saving step 40 in {out} — the checkpoint of step 20 is kept",
    )
    record = load_run(out)
    assert record.step == 20
    assert not (out / LOCK).exists() and not list(out.glob(".*.tmp"))
    monkeypatch.undo()
    # nothing lost: the run resumes from step 20
    assert main(["train", "--resume", "--iters", "5", "--out", str(out)]) == 0
    assert load_run(out).step == 25


def test_metrics_write_failure_is_one_line(tmp_path, corpus_file, capsys, monkeypatch):
    import headwatch.core.runs as runs

    def no_open(*args, **kwargs):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(runs, "open", no_open, raising=False)
    assert train(corpus_file, tmp_path / "run", "--iters", "5") == 2
    one_error_line(
        capsys.readouterr().err, "permission denied while saving step 1", "checkpoint of step 0"
    )
    assert load_run(tmp_path / "run").step == 0


def test_an_output_folder_under_a_file_is_one_line(tmp_path, corpus_file, capsys):
    (tmp_path / "file").write_text("x")
    assert train(corpus_file, tmp_path / "file" / "run", "--iters", "5") == 2
    one_error_line(capsys.readouterr().err, "cannot create this folder (a file stands where")


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
def test_an_output_folder_where_none_can_be_made_is_one_line(corpus_file, capsys):
    assert train(corpus_file, Path("/proc/headwatch-run"), "--iters", "5") == 2
    one_error_line(
        capsys.readouterr().err,
        "/proc/headwatch-run: cannot create this folder (no folder can be made there)",
    )


def test_a_failed_write_on_resume_changes_nothing(run_dir, capsys, monkeypatch):
    full_disk_at(monkeypatch, 1)  # the save of step 25
    before = (run_dir / CHECKPOINT).read_bytes()
    capsys.readouterr()
    args = ["train", "--resume", "--iters", "10", "--eval-every", "5", "--out", str(run_dir)]
    assert main(args) == 2
    one_error_line(capsys.readouterr().err, "no space left while saving step 25")
    assert (run_dir / CHECKPOINT).read_bytes() == before
    assert not (run_dir / LOCK).exists()


def test_copy_run_leaves_the_lock_behind(run_dir, tmp_path):
    lock = RunLock(run_dir)
    lock.acquire()
    try:
        copy_run(run_dir, tmp_path / "copy")
    finally:
        lock.release()
    assert not (tmp_path / "copy" / LOCK).exists()
    assert load_run(tmp_path / "copy").step == load_run(run_dir).step
    with pytest.raises(RunError, match="already exists"):
        copy_run(run_dir, tmp_path / "copy")


# --- 4. out of memory: said as what to lower, no empty run left --------------------------------


def real_allocation_failure(self):
    """The seam: a step that asks the CPU allocator for 32 TiB (torch's own error, at once)."""
    return torch.empty(2**45, dtype=torch.uint8)


def test_out_of_memory_at_the_first_step_leaves_no_run(tmp_path, corpus_file, capsys, monkeypatch):
    monkeypatch.setattr(Trainer, "train_step", real_allocation_failure)
    out = tmp_path / "run"
    assert train(corpus_file, out, "--iters", "5") == 2
    one_error_line(
        capsys.readouterr().err,
        "out of memory at block 16 × batch 8 on cpu — lower the block size or the batch",
        "nothing was saved",
    )
    assert not out.exists()


def test_out_of_memory_on_resume_keeps_the_run(run_dir, capsys, monkeypatch):
    monkeypatch.setattr(Trainer, "train_step", real_allocation_failure)
    capsys.readouterr()
    assert main(["train", "--resume", "--iters", "5", "--out", str(run_dir)]) == 2
    one_error_line(capsys.readouterr().err, "out of memory", "the checkpoint of step 20 is kept")
    assert load_run(run_dir).step == 20 and not (run_dir / LOCK).exists()


def test_a_model_too_big_to_build_is_one_line(tmp_path, corpus_file, capsys, monkeypatch):
    import headwatch.core.oom as oom

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 64.00 GiB")

    monkeypatch.setattr(oom, "Trainer", no_memory)
    assert train(corpus_file, tmp_path / "run", "--iters", "5") == 2
    one_error_line(capsys.readouterr().err, "out of memory building a model of 1 layers")
    assert not (tmp_path / "run").exists()


def test_out_of_memory_in_the_window_path_is_typed(tmp_path, monkeypatch):
    corpus = small_corpus()
    trainer = Trainer(corpus, small_model(corpus.vocab_size), small_training())
    writer = RunWriter.create(tmp_path / "run", corpus, trainer.model_config, trainer.config)
    monkeypatch.setattr(Trainer, "train_step", real_allocation_failure)
    with pytest.raises(OutOfMemory, match="lower the block size or the batch"):
        list(train_into_run(trainer, writer))
    assert not (tmp_path / "run").exists()


# --- 5. --resume: fixed settings refused, the others applied and recorded ---------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layers", "3"], "n_layer cannot change when resuming"),
        (["--embd", "64", "--heads", "2"], "n_embd cannot change when resuming"),
        (["--block", "8"], "block_size cannot change when resuming"),
        (["--preset", "tiny"], "cannot be used with --resume"),
    ],
)
def test_resume_refuses_what_cannot_change(run_dir, capsys, args, message):
    before = (run_dir / CONFIG).read_text()
    capsys.readouterr()
    assert main(["train", "--resume", *args, "--iters", "5", "--out", str(run_dir)]) == 2
    one_error_line(capsys.readouterr().err, message)
    assert (run_dir / CONFIG).read_text() == before and load_run(run_dir).step == 20


def test_resume_refuses_another_corpus(run_dir, tmp_path, capsys):
    other = tmp_path / "other.txt"
    other.write_text(TEXT.replace("R", "Q"), encoding="utf-8")
    capsys.readouterr()
    assert main(["train", "--resume", "--corpus", str(other), "--out", str(run_dir)]) == 2
    one_error_line(capsys.readouterr().err, "another vocabulary than the run")


def test_resume_refuses_the_same_file_with_another_text(run_dir, corpus_file, capsys):
    # the same characters, another text: only the fingerprint can tell
    corpus_file.write_text(TEXT[::-1], encoding="utf-8")
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(run_dir)]) == 2
    one_error_line(capsys.readouterr().err, "is not the text this run was trained on")


def test_resume_accepts_the_same_text_moved(run_dir, corpus_file, tmp_path, capsys):
    moved = tmp_path / "moved.txt"
    corpus_file.rename(moved)
    capsys.readouterr()
    assert main(["train", "--resume", "--corpus", str(moved), "--iters", "2", "--out",
                 str(run_dir)]) == 0  # fmt: skip
    assert load_run(run_dir).step == 22


def test_an_older_run_without_a_fingerprint_is_checked_by_vocabulary(run_dir, capsys):
    config = json.loads((run_dir / CONFIG).read_text())
    del config["corpus"]["sha256"]
    (run_dir / CONFIG).write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["train", "--resume", "--iters", "2", "--out", str(run_dir)]) == 0
    assert "only the vocabulary of corpus.txt could be checked" in capsys.readouterr().err


def test_resume_applies_and_records_the_learning_rate_and_others(run_dir, capsys):
    capsys.readouterr()
    args = ["--lr", "0.01", "--iters", "6", "--eval-every", "3", "--dropout", "0.1"]
    assert main(["train", "--resume", *args, "--out", str(run_dir)]) == 0
    assert "now learning_rate 0.01, max_iters 26, eval_interval 3, dropout 0.1" in (
        capsys.readouterr().err
    )
    record = load_run(run_dir)
    assert record.step == 26
    assert record.train_config.learning_rate == 0.01 and record.model_config.dropout == 0.1
    assert record.changes == [
        {
            "step": 20,
            "learning_rate": 0.01,
            "max_iters": 26,
            "eval_interval": 3,
            "dropout": 0.1,
            "previous": {
                "learning_rate": 1e-3,
                "max_iters": 20,
                "eval_interval": 10,
                "dropout": 0.0,
            },
        }
    ]
    # the optimizer ran at the new rate, not the one saved with its state
    assert {g["lr"] for g in record.checkpoint["optimizer"]["param_groups"]} == {0.01}
    evaluated = [r.step for r in record.metrics if r.val is not None]
    assert evaluated == [10, 20, 21, 24, 26]  # every 3rd step from the resume on, and the last


def test_a_resume_that_diverges_leaves_the_runs_settings_as_they_were(run_dir, capsys):
    """A new --lr is written into config.json with the first checkpoint trained at it: one
    that diverges before leaves the run to resume as it was (a trial found lr 5 kept)."""
    config, checkpoint = (run_dir / CONFIG).read_bytes(), (run_dir / CHECKPOINT).read_bytes()
    assert main(["train", "--resume", "--lr", "10", "--iters", "30", "--out", str(run_dir)]) == 1
    assert "diverged" in capsys.readouterr().err
    assert (run_dir / CONFIG).read_bytes() == config
    assert (run_dir / CHECKPOINT).read_bytes() == checkpoint
    assert main(["train", "--resume", "--iters", "2", "--out", str(run_dir)]) == 0
    record = load_run(run_dir)
    assert record.step == 22 and record.train_config.learning_rate == 1e-3
    assert record.changes == [{"step": 20, "max_iters": 22, "previous": {"max_iters": 20}}]


def test_resume_without_iters_goes_on_to_the_runs_target(tmp_path, corpus_file):
    out = tmp_path / "run"
    corpus = Corpus("corpus.txt", corpus_file.read_text(), str(corpus_file))
    trainer = Trainer(corpus, small_model(corpus.vocab_size), small_training(max_iters=20))
    writer = RunWriter.create(out, corpus, trainer.model_config, trainer.config)
    for p in train_into_run(trainer, writer):
        if p.step == 7:
            break  # stopped early, as an interrupt does
    assert load_run(out).step == 7
    assert main(["train", "--resume", "--out", str(out)]) == 0
    assert load_run(out).step == 20


# --- 6. one writer per run --------------------------------------------------------------------


def test_a_second_writer_is_refused_while_a_process_trains(tmp_path, corpus_file, capsys):
    out = tmp_path / "run"
    child = spawn("train", "--corpus", str(corpus_file), *T, "--iters", "1000000",
                  "--eval-every", "25", "--out", str(out))  # fmt: skip
    try:
        read_until(child.stdout, "step     25/")
        lock = json.loads((out / LOCK).read_text())
        assert lock["pid"] == child.pid
        for args in (["--resume", "--iters", "100"], []):
            capsys.readouterr()
            new_run = ["--corpus", str(corpus_file), *T] if not args else []
            assert main(["train", *args, *new_run, "--out", str(out)]) == 2
            err = capsys.readouterr().err
            if args:
                one_error_line(err, f"this run is being trained by PID {child.pid} on ")
            else:
                one_error_line(err, "already holds a run")
        # readers need no lock
        assert main(["inspect", str(out), "--prompt", "RO"]) == 0
    finally:
        child.send_signal(signal.SIGINT)
        rc, _ = finish(child)
    assert rc == 130 and not (out / LOCK).exists()
    assert main(["train", "--resume", "--iters", "2", "--out", str(out)]) == 0


def test_a_stale_lock_of_a_dead_process_is_taken_over(run_dir, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = {"pid": dead.pid, "host": os.uname().nodename, "time": "2026-01-01T00:00:00"}
    (run_dir / LOCK).write_text(json.dumps(lock))
    capsys.readouterr()
    assert main(["train", "--resume", "--iters", "2", "--out", str(run_dir)]) == 0
    assert f"took over the lock of PID {dead.pid} (no longer running)" in capsys.readouterr().err
    assert not (run_dir / LOCK).exists() and load_run(run_dir).step == 22


def test_a_lock_of_another_host_is_respected(run_dir, capsys):
    lock = {"pid": 1, "host": "elsewhere.example", "time": "2026-01-01T00:00:00"}
    (run_dir / LOCK).write_text(json.dumps(lock))
    capsys.readouterr()
    assert main(["train", "--resume", "--iters", "2", "--out", str(run_dir)]) == 2
    one_error_line(capsys.readouterr().err, "being trained by PID 1 on elsewhere.example")


def test_the_window_path_is_locked_too(run_dir):
    record = load_run(run_dir)
    first = RunWriter.reopen(record)
    try:
        with pytest.raises(RunLocked, match=f"PID {os.getpid()}"):
            RunWriter.reopen(load_run(run_dir))
    finally:
        first.close()
    RunWriter.reopen(load_run(run_dir)).close()  # released: the next writer gets it


def test_a_run_saved_since_it_was_opened_is_not_continued_from_the_old_step(run_dir):
    stale = load_run(run_dir)
    trainer = trainer_for(load_run(run_dir), small_corpus_of(run_dir))
    list(train_into_run(trainer, RunWriter.reopen(load_run(run_dir)), steps=2))
    with pytest.raises(RunError, match="saved by another process since it was opened"):
        RunWriter.reopen(stale)


def small_corpus_of(run_dir: Path) -> Corpus:
    corpus, note = resumable_corpus(load_run(run_dir))
    assert corpus is not None and note == "", note
    return corpus


# --- 7. a run does not depend on the machine that trained it ----------------------------------


@pytest.fixture
def run_from_elsewhere(run_dir):
    """The run as if trained on a device this machine lacks (Linux never has MPS)."""
    missing = "mps" if torch.cuda.is_available() else "cuda"
    config = json.loads((run_dir / CONFIG).read_text())
    config["train"]["device"] = missing
    (run_dir / CONFIG).write_text(json.dumps(config))
    return run_dir


def test_viewing_never_depends_on_the_recorded_device(run_from_elsewhere, capsys):
    assert main(["inspect", str(run_from_elsewhere), "--prompt", "RO"]) == 0
    assert main(["sample", str(run_from_elsewhere), "--tokens", "5", "--seed", "1"]) == 0
    record = load_run(run_from_elsewhere)
    trainer = trainer_for(record, small_corpus_of(run_from_elsewhere))  # the window's Open run
    assert trainer.step == 20


@pytest.mark.parametrize("device", [["--device", "cpu"], []])
def test_resume_runs_where_asked_and_says_where(run_from_elsewhere, capsys, device):
    capsys.readouterr()
    assert main(["train", "--resume", *device, "--iters", "2", "--out",
                 str(run_from_elsewhere)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert f"resuming {run_from_elsewhere} at step 20 on " in err
    record = load_run(run_from_elsewhere)
    assert record.step == 22
    assert record.changes[-1]["device"] == (device[1] if device else "auto")


# --- presets ----------------------------------------------------------------------------------


def test_train_preset_with_explicit_flags_overriding(tmp_path, corpus_file):
    out = tmp_path / "run"
    args = ["--preset", "tiny", "--block", "8", "--iters", "2", "--eval-iters", "1"]
    assert main(["train", "--corpus", str(corpus_file), *args, "--device", "cpu",
                 "--out", str(out)]) == 0  # fmt: skip
    record = load_run(out)
    tiny = PRESETS["tiny"]
    assert record.model_config.n_layer == tiny["n_layer"]
    assert record.model_config.n_embd == tiny["n_embd"]
    assert record.train_config.learning_rate == tiny["learning_rate"]
    assert record.model_config.block_size == 8 and record.train_config.max_iters == 2
    config = json.loads((out / CONFIG).read_text())
    assert config["corpus"]["path"] == str(corpus_file.resolve())
    assert len(config["corpus"]["sha256"]) == 64


def test_a_lock_file_being_written_is_respected_and_an_old_unreadable_one_taken_over(run_dir):
    (run_dir / LOCK).write_text("")  # created, not yet written: its owner is at it
    with pytest.raises(RunLocked, match="being trained by another process"):
        RunLock(run_dir).acquire()
    old = os.stat(run_dir / LOCK).st_mtime - 60  # its owner died between create and write
    os.utime(run_dir / LOCK, (old, old))
    lock = RunLock(run_dir)
    lock.acquire()
    assert lock.notes == [f"note: took over an unreadable lock file in {run_dir}"]
    assert json.loads((run_dir / LOCK).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (run_dir / LOCK).exists()


def test_a_closed_output_stops_training_quietly_and_saves(tmp_path, corpus_file):
    out = tmp_path / "run"
    child = spawn("train", "--corpus", str(corpus_file), *T, "--iters", "1000000",
                  "--eval-every", "5", "--out", str(out))  # fmt: skip
    read_until(child.stdout, "step      5/")
    child.stdout.close()  # as `| head -1` does
    rc, err = finish(child)
    assert rc == 1 and "Traceback" not in err
    assert err.splitlines()[-1] == "headwatch: the output was closed; stopped"
    record = load_run(out)
    assert record.step >= 5 and record.metrics[-1].step == record.step
    assert not (out / LOCK).exists()
