"""`headwatch train | inspect | sample` end to end, and one clear line for bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from headwatch.core.cli import main
from headwatch.core.runs import load_run
from tests.helpers import write_corpus

SMALL = [
    "--layers",
    "2",
    "--heads",
    "2",
    "--embd",
    "16",
    "--block",
    "8",
    "--batch",
    "4",
    "--iters",
    "12",
    "--eval-every",
    "6",
    "--eval-iters",
    "2",
    "--device",
    "cpu",
]


@pytest.fixture
def run_dir(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--out", str(out)]) == 0
    return out


def test_train_prints_progress_and_summary(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "step      6/12  train" in captured.out
    assert captured.out.strip().splitlines()[-1].startswith("done: 12 steps")
    assert "vocabulary of" in captured.err


def test_the_summary_speed_is_training_alone_and_set_up_is_said_apart(tmp_path, capsys):
    """The first `headwatch train` on a machine builds the corpus cache: a slow set-up must
    not lower the tok/s it prints. Here set-up includes loading a corpus file and writing the
    run; the figure is steps × tokens per step over the seconds spent in steps."""
    out = tmp_path / "run"
    assert main(["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--out", str(out)]) == 0
    done = capsys.readouterr().out.strip().splitlines()[-1]
    speed = float(done.split(" tok/s over ")[0].rsplit(", ", 1)[1].replace(",", ""))
    train_s = float(done.split(" tok/s over ")[1].split("s of training")[0])
    set_up = float(done.split("; set-up ")[1].split("s, ")[0])
    wall = float(done.split("s, ")[-1].split("s wall in all")[0])
    record = load_run(out)
    steps, block, batch = record.step, record.model_config.block_size, 4
    assert record.metrics[-1].elapsed == pytest.approx(train_s, abs=0.06)
    assert speed == pytest.approx(steps * batch * block / record.metrics[-1].elapsed, rel=0.05)
    assert set_up >= 0 and wall >= set_up + train_s  # the wall clock holds both
    # a short resume: its set-up (reading the run) outlasts its steps; the wall still holds it
    assert main(["train", "--out", str(out), "--resume", "--iters", "2"]) == 0
    done = capsys.readouterr().out.strip().splitlines()[-1]
    assert done.startswith(f"done: {steps + 2} steps (2 trained now), ")
    set_up = float(done.split("; set-up ")[1].split("s, ")[0])
    wall = float(done.split("s, ")[-1].split("s wall in all")[0])
    assert wall >= set_up


def test_each_lines_speed_covers_the_steps_since_the_line_before(tmp_path, capsys):
    """A trial saw 28,006 tok/s on a line and 12,187 in the summary: the lines took the last 20
    steps alone. Each line now covers every step since the one before, so together they tell
    the summary's figure: steps × tokens per step over the training seconds between lines."""
    out = tmp_path / "run"
    argv = ["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--eval-every", "4"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = re.findall(r"step +(\d+)/12 .* ([\d,]+) tok/s", capsys.readouterr().out)
    metrics = load_run(out).metrics
    evaluated = {0: 0.0} | {row.step: row.elapsed for row in metrics if row.val is not None}
    assert [int(step) for step, _ in printed] == [4, 8, 12]
    before = 0
    for step, speed in printed:
        step = int(step)
        seconds = evaluated[step] - evaluated[before]
        assert float(speed.replace(",", "")) == pytest.approx(
            (step - before) * 4 * 8 / seconds, rel=0.05
        )
        before = step


def _seconds(done: str) -> dict[str, float]:
    """The summary's parts of the wall time: {"training": s, "set-up": s, ..., "wall": s}."""
    parts = dict(re.findall(r"(set-up|evaluations|saving|other) (\d+\.\d)s", done))
    parts["training"] = done.split(" tok/s over ")[1].split("s of training")[0]
    parts["wall"] = done.split("s, ")[-1].split("s wall in all")[0]
    return {name: float(value) for name, value in parts.items()}


def test_the_summary_names_every_part_of_the_wall_time(tmp_path, capsys):
    """A user's baby run ended "over 70.1s of training; set-up 2.1s, 116.9s wall", leaving the
    45 s of its periodic evaluations unexplained. Many batches per evaluation here (800
    forwards in all), so evaluating takes a measurable time; every part is named and they add
    up. (Not "evaluations outlast training": under load the first steps' start-up alone took
    2.2 s of the 12 steps' training in a CI run.)"""
    out = tmp_path / "run"
    argv = ["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--eval-iters", "200"]
    assert main([*argv, "--out", str(out)]) == 0
    done = capsys.readouterr().out.strip().splitlines()[-1]
    parts = _seconds(done)
    assert set(parts) == {"set-up", "training", "evaluations", "saving", "other", "wall"}
    wall = parts.pop("wall")
    assert sum(parts.values()) == pytest.approx(wall, abs=0.3)  # each part rounded to 0.1 s
    assert parts["evaluations"] >= 0.1
    assert load_run(out).metrics[-1].elapsed == pytest.approx(parts["training"], abs=0.06)


def test_inspect_json_schema(run_dir, capsys):
    assert main(["inspect", str(run_dir), "--prompt", "ROMEO:", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tokens"] == list("ROMEO:")
    attention = data["attention"]
    assert (len(attention), len(attention[0]), len(attention[0][0]), len(attention[0][0][0])) == (
        2,
        2,
        6,
        6,
    )
    for layer in attention:
        for head in layer:
            for i, row in enumerate(head):
                assert sum(row) == pytest.approx(1, abs=1e-5)
                assert all(v == 0 for v in row[i + 1 :])
    assert len(data["ffn"]) == 2 and len(data["ffn"][0]) == 6 and len(data["ffn"][0][0]) == 64
    assert min(v for layer in data["ffn"] for row in layer for v in row) >= 0
    assert len(data["next"]) == 10 and data["next"][0][1] >= data["next"][1][1]


def test_inspect_text_and_unknown_characters(run_dir, capsys):
    assert main(["inspect", str(run_dir), "--prompt", "RO€MEO"]) == 0
    captured = capsys.readouterr()
    assert "L2·H2: last char attends most to" in captured.out
    assert "'€' at 2" in captured.err


def test_sample_writes_text(run_dir, capsys):
    assert main(["sample", str(run_dir), "--prompt", "RO", "--tokens", "20", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("RO") and len(out.rstrip("\n")) >= 20


def test_resume(run_dir, capsys):
    assert main(["train", "--out", str(run_dir), "--resume", "--iters", "6"]) == 0
    assert "done: 18 steps" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--heads", "3", "--embd", "16"], "must divide evenly among 3 heads"),
        (["train", "--lr", "0"], "learning rate must be above 0"),
        (["train", "--dropout", "1.5"], "dropout must be at least 0 and below 1"),
        (["train", "--block", "0"], "--block must be at least 1"),
        (["train", "--corpus", "/no/such/file.txt"], "no such file"),
        (["train", "--heads", "two"], "invalid int value"),
        (["train", "--device", "toaster"], "unknown device"),
        (["train", "--block", "4096"], "too short for block size 4096"),
        (["inspect", "/no/such/run", "--prompt", "a"], "no such folder"),
        (["sample", "/no/such/run"], "no such folder"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    corpus = (
        ["--corpus", str(write_corpus(tmp_path))]
        if "--corpus" not in args and args[0] == "train"
        else []
    )
    out = ["--out", str(tmp_path / "r")] if args[0] == "train" else []
    assert main([*args, *corpus, *out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_console_script_runs_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "headwatch", "train", "--heads", "3", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("headwatch: error:")
    assert "Traceback" not in result.stderr


def test_train_lets_its_thread_count_be_chosen_as_it_trains(tmp_path, monkeypatch):
    """`headwatch train` on the CPU gets a ThreadTuner (core.performance), told every step."""
    from headwatch.core import cli

    made = []

    class Counting(cli.ThreadTuner):
        def step_done(self, seconds: float) -> None:
            made[-1][1] += 1
            super().step_done(seconds)

    def for_training(device_type: str, world_size: int = 1):
        made.append([(device_type, world_size), 0])
        return Counting((2, 1), lambda n: None)

    monkeypatch.setattr(cli.ThreadTuner, "for_training", staticmethod(for_training))
    out = tmp_path / "run"
    assert main(["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--out", str(out)]) == 0
    assert made == [[("cpu", 1), 12]]  # one tuner, told each of the 12 steps
