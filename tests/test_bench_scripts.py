"""The measurement scripts that drive the window still run: each, with the smallest arguments,
exits 0, prints its figures and nothing alarming. The figures themselves are not checked here
(this machine is shared and noisy); docs/performance.md has them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# script and arguments -> a line of its figures that must appear
SCRIPTS = {
    "startup": (["--runs", "1", "--steps", "5", "--lecture-steps", "0"], "| launch → window"),
    "ui_latency": (["--seconds", "2", "--rounds", "1"], "keystroke -> grid repainted: p50"),
    "scrub_latency": (["--steps", "30", "--seconds", "2"], "slider move -> grid repainted: p50"),
    "responsiveness": (["--preset", "tiny"], "close returned in"),
    # this checkout against itself, one pair (its .venv: `make test` made it)
    "ab_latency": (
        [str(ROOT), str(ROOT), "--pairs", "1", "--", "--seconds", "2", "--rounds", "1"],
        "| keystroke p95 (ms) |",
    ),
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_bench_script_runs_and_prints_its_figures(name, tmp_path):
    arguments, figures = SCRIPTS[name]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HEADWATCH_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, f"bench/{name}.py", *arguments],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert figures in result.stdout, output[-3000:]
    for alarm in ("QThread: Destroyed", "Traceback", "Segmentation", "Fatal Python error"):
        assert alarm not in output, output[-3000:]
