"""core.performance: the speed policies in one module, importable before torch loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from headwatch.core import performance
from headwatch.core.performance import BF16_MIN_STEP_FLOPS, ThreadTuner, resolve_precision

ROOT = Path(__file__).resolve().parents[2]

# In a fresh interpreter: the module loads no torch (the window shows before torch loads), and
# TRAIN_THREADS stays torch's own default after a thread has set another count.
FRESH = r"""
import sys
import headwatch.core.performance as performance
assert "torch" not in sys.modules, "importing core.performance loaded torch"
import torch
default = torch.get_num_threads()
performance.keep_gui_thread_serial()
assert torch.get_num_threads() == 1
assert performance.TRAIN_THREADS == default
print("ok")
"""


def test_the_policy_module_loads_no_torch_and_keeps_torchs_default_thread_count():
    result = subprocess.run(
        [sys.executable, "-c", FRESH], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("hardware_bf16", [True, False])
def test_auto_precision_on_a_cpu_wants_the_hardware_and_a_big_enough_step(
    monkeypatch, hardware_bf16
):
    monkeypatch.setattr(performance, "native_bf16_cpu", lambda: hardware_bf16)
    cpu = torch.device("cpu")
    big, small = BF16_MIN_STEP_FLOPS, BF16_MIN_STEP_FLOPS / 2
    assert resolve_precision("auto", cpu, big) == ("bf16" if hardware_bf16 else "fp32")
    assert resolve_precision("auto", cpu, small) == "fp32"
    assert resolve_precision("bf16", cpu, small) == "bf16"  # asked for: as asked
    assert resolve_precision("fp32", cpu, big) == "fp32"


def test_an_unknown_attribute_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="TRAIN_THREAD"):
        performance.TRAIN_THREAD  # noqa: B018 - a misspelling must not pass silently


def tuned(steps_at: dict[int, float], seconds: float) -> tuple[ThreadTuner, list[int]]:
    """A tuner between 2 threads and 1 fed `seconds` of training in steps that take
    steps_at[count] seconds on the count in use; the counts it set, in order."""
    calls: list[int] = []
    tuner = ThreadTuner((2, 1), calls.append)
    trained = 0.0
    while trained < seconds:
        took = steps_at[calls[-1] if calls else 2]
        tuner.step_done(took)
        trained += took
    return tuner, calls


def test_the_tuner_moves_to_one_thread_beside_another_busy_process():
    """Beside another process two threads wait at each barrier: a step took 4x one thread's."""
    tuner, calls = tuned({2: 0.12, 1: 0.03}, seconds=15)
    assert tuner.current == 1 and tuner.switches == 1
    assert calls == [1]  # the probe, kept


def test_the_tuner_keeps_the_default_count_alone_and_probes_less_often():
    tuner, calls = tuned({2: 0.02, 1: 0.03}, seconds=400)
    assert tuner.current == 2 and tuner.switches == 0
    # probes after 10, then 20, 40, 80, 160 s of training: 5 in 400 s, each 1 and back
    assert calls == [1, 2] * 5


def test_the_tuner_goes_back_to_the_default_once_the_other_process_ends():
    calls: list[int] = []
    tuner = ThreadTuner((2, 1), calls.append)
    for speeds in ({2: 0.12, 1: 0.03}, {2: 0.02, 1: 0.03}):  # busy, then alone again
        trained = 0.0
        while trained < 60:
            took = speeds[calls[-1] if calls else 2]
            tuner.step_done(took)
            trained += took
    assert tuner.current == 2 and tuner.switches == 2
    # busy: to one thread; two tried again, ended at its first slow step; alone: back to two
    assert calls == [1, 2, 1, 2]


def test_a_small_difference_is_not_worth_a_switch():
    tuner, _ = tuned({2: 0.100, 1: 0.095}, seconds=100)  # 5 %: within MARGIN
    assert tuner.current == 2 and tuner.switches == 0


def test_no_tuner_where_the_count_is_not_the_apps_to_choose(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert ThreadTuner.for_training("cuda") is None  # the GPU trains
    assert ThreadTuner.for_training("cpu", world_size=2) is None  # torchrun's ranks
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user chose
    assert ThreadTuner.for_training("cpu") is None
    monkeypatch.delenv("OMP_NUM_THREADS")
    tuner = ThreadTuner.for_training("cpu")
    if performance.TRAIN_THREADS > 1:
        assert tuner is not None and tuner.current == performance.TRAIN_THREADS
    else:  # one core: nothing to choose
        assert tuner is None
