"""core.performance: the speed policies in one module, importable before torch loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from headwatch.core import performance
from headwatch.core.performance import BF16_MIN_STEP_FLOPS, resolve_precision

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
