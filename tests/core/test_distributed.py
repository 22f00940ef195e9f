"""DDP under torchrun: two Gloo processes with batch b train what one process with batch 2b
trains; the run folder is whole and resumes, under torchrun or in one process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist

from headwatch.core.cli import _per_rank_batch, main
from headwatch.core.runs import RunError, load_run
from headwatch.core.snapshot_store import list_snapshots
from tests.helpers import write_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--layers", "2", "--heads", "2", "--embd", "16", "--block", "16", "--eval-iters", "2"]
TINY += ["--device", "cpu", "--precision", "fp32", "--seed", "3", "--snapshot-every", "0"]
# rank 0's last line after a signal: the step saved, where the time went, the run's folder
STOPPED = r"stopped at step {step}; [\d,]+ tok/s over .*s wall in all; saved in {out}"


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    command += ["2", "-m", "headwatch", "train", *TINY, *args]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def _assert_same_weights(a, b) -> None:
    wa, wb = load_run(a).checkpoint["model"], load_run(b).checkpoint["model"]
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], atol=1e-5, rtol=0)


def test_two_gloo_processes_train_what_one_with_twice_the_batch_trains(tmp_path, capsys):
    corpus = str(write_corpus(tmp_path))
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    common = ["--corpus", corpus, "--iters", "12", "--eval-every", "6"]
    result = _torchrun(*common, "--batch", "4", "--out", str(ddp))
    assert "2 processes (gloo), 4 windows each: a global batch of 8" in result.stderr
    assert result.stdout.count("step      6/12") == 1  # rank 0 alone prints
    assert main(["train", *TINY, *common, "--batch", "8", "--out", str(single)]) == 0
    assert not dist.is_initialized()  # plain `headwatch train`: no process group
    _assert_same_weights(ddp, single)

    record = load_run(ddp)  # whole: config, every metric line, checkpoint, snapshots, no lock
    assert record.world_size == 2 and record.global_batch == 8 and record.step == 12
    assert [r.step for r in record.metrics if r.loss is not None] == list(range(1, 13))
    evals = {r.step: r.val for r in record.metrics if r.val is not None}
    single_evals = {r.step: r.val for r in load_run(single).metrics if r.val is not None}
    assert list(evals) == [6, 12]
    assert evals == pytest.approx(single_evals, abs=1e-5)  # split over ranks, all-reduced
    assert [s.step for s in list_snapshots(ddp)] == [0, 6, 10, 12]
    assert not (ddp / "train.lock").exists()

    # resumed under torchrun, and the single run resumed in one process: still the same
    _torchrun("--resume", "--iters", "6", "--out", str(ddp))
    assert main(["train", *TINY, "--resume", "--iters", "6", "--out", str(single)]) == 0
    _assert_same_weights(ddp, single)
    assert load_run(ddp).step == 18

    # the DDP run continued by one process keeps its global batch of 8
    capsys.readouterr()
    assert main(["train", *TINY, "--resume", "--iters", "6", "--out", str(ddp)]) == 0
    assert main(["train", *TINY, "--resume", "--iters", "6", "--out", str(single)]) == 0
    _assert_same_weights(ddp, single)
    config = json.loads((ddp / "config.json").read_text())
    assert config["distributed"] == {"world_size": 1}
    assert config["train"]["batch_size"] == 8
    assert config["changes"][-1]["world_size"] == 1
    assert config["changes"][-1]["previous"] == {"batch_size": 4, "world_size": 2, "max_iters": 18}


def test_a_global_batch_that_does_not_divide_among_the_processes_is_refused(tmp_path):
    record = SimpleNamespace(
        path=tmp_path, world_size=2, train_config=SimpleNamespace(batch_size=3), global_batch=6
    )
    assert _per_rank_batch(record, 1) == 6 and _per_rank_batch(record, 3) == 2
    with pytest.raises(RunError, match=r"global batch of 6 windows \(2 × 3\), which does not"):
        _per_rank_batch(record, 4)


def test_ctrl_c_stops_every_rank_after_the_same_step_which_is_saved(tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    command += ["2", "-m", "headwatch", "train", *TINY, "--corpus", str(write_corpus(tmp_path))]
    command += ["--batch", "4", "--iters", "1000000", "--eval-every", "10", "--out", str(out)]
    child = subprocess.Popen(  # its own process group, as a terminal's foreground job
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        for line in child.stdout:
            if line.startswith("step     20/"):
                break
        os.killpg(child.pid, signal.SIGINT)  # what Ctrl+C sends to torchrun and both ranks
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert "headwatch: Ctrl+C: stopping after the step in flight" in err
    stopped = [line for line in err.splitlines() if line.startswith("stopped at step ")]
    assert len(stopped) == 1  # rank 0 alone says it
    record = load_run(out)
    assert re.fullmatch(STOPPED.format(step=record.step, out=re.escape(str(out))), stopped[0])
    assert record.step >= 20 and record.metrics[-1].step == record.step
    assert not (out / "train.lock").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_torchrun_saves_the_run_and_no_rank_prints_a_traceback(tmp_path, signum):
    """Each rank's output kept apart (--log-dir, --redirects 3): rank 0 says one line and saves,
    rank 1 says nothing. The launcher's own traceback (torchrun raises SignalException in its
    agent, the launcher process itself) is torch's, and the only one."""
    out, logs = tmp_path / "ddp", tmp_path / "logs"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    command += ["2", "--log-dir", str(logs), "--redirects", "3", "-m", "headwatch", "train"]
    command += [*TINY, "--corpus", str(write_corpus(tmp_path)), "--batch", "4"]
    command += ["--iters", "1000000", "--eval-every", "10", "--out", str(out)]
    child = subprocess.Popen(  # its own process group, as a terminal's foreground job
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        metrics = out / "metrics.jsonl"
        while not (metrics.exists() and '"val"' in metrics.read_text(encoding="utf-8")):
            assert child.poll() is None, child.communicate()[1][-2000:]
            time.sleep(0.05)  # a separate process: nothing to wait on but its files
        child.send_signal(signum)  # to torchrun alone: it forwards the signal to each rank
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    [rank0] = logs.glob("*/attempt_0/0/stderr.log")
    [rank1] = logs.glob("*/attempt_0/1/stderr.log")
    lines = rank0.read_text(encoding="utf-8").splitlines()
    name = "Ctrl+C" if signum == signal.SIGINT else "terminated (SIGTERM)"
    [at] = [i for i, line in enumerate(lines) if line.startswith(f"headwatch: {name}: stopping")]
    record = load_run(out)
    [stopped] = lines[at + 1 :]
    assert re.fullmatch(STOPPED.format(step=record.step, out=re.escape(str(out))), stopped)
    assert rank1.read_text(encoding="utf-8") == ""
    assert record.metrics[-1].step == record.step and not (out / "train.lock").exists()
    assert err.count("Traceback") <= 1
    assert "Traceback" not in err or f"Process {child.pid} got signal: {int(signum)}" in err
