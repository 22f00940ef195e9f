"""The window's command line: `headwatch --follow RUN_DIR` with a wrong folder is told as
`headwatch follow RUN_DIR` tells it, and an option that is neither the window's nor Qt's is
refused: one line, exit 2, before Qt is started or a window opens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from headwatch.core.cli import main
from headwatch.gui.app import window_options
from tests.helpers import write_corpus

# Each command line given to the window's entry and its folder to the CLI's `follow`, in a
# process of its own: a window that opened would run until the timeout.
SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from headwatch.core.cli import main
    from headwatch.gui.app import run_app

    said = []
    for argv, folder in json.loads(sys.argv[1]):
        both = []
        for call in (lambda: run_app(["headwatch", *argv]), lambda: main(["follow", folder])):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                both.append([call(), err.getvalue()])
        said.append(both)
    started = "PySide6.QtWidgets" in sys.modules
    print(json.dumps({"said": said, "qt_started": started}))
    """
)


def test_a_wrong_follow_folder_is_one_line_and_exit_2_before_any_window(tmp_path):
    run = tmp_path / "run"
    argv = ["train", "--corpus", str(write_corpus(tmp_path)), "--layers", "1", "--heads", "1"]
    argv += ["--embd", "8", "--block", "8", "--batch", "2", "--iters", "2", "--eval-iters", "1"]
    assert main([*argv, "--device", "cpu", "--out", str(run)]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    wrong = [str(tmp_path / "nonexistent"), str(empty), str(run / "config.json")]
    wrong.append(str(tmp_path / "corpus.txt"))
    cases = [(["--follow", path], path) for path in wrong]
    cases.append(([f"--follow={wrong[0]}"], wrong[0]))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HEADWATCH_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(cases)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout)
    assert not found["qt_started"]
    for (args, path), (window, cli) in zip(cases, found["said"], strict=True):
        assert window == cli, args  # the same exit code and words as `headwatch follow`
        code, err = window
        assert code == 2 and err.count("\n") == 1, err
        assert err.startswith(f"headwatch: error: {path}: "), err
        assert "give the run folder" in err, err  # what to give instead


def test_an_option_that_is_neither_the_windows_nor_qts_is_refused():
    for wrong, named in [
        (["--open-run", "runs/x"], "--open-run"),
        (["--folow=runs/x"], "--folow"),
        (["--follow", "runs/x", "--json"], "--json"),
    ]:
        with pytest.raises(ValueError, match=f"unknown option {named} "):
            window_options(["headwatch", *wrong])
    qt = ["headwatch", "--style", "fusion", "-platform", "offscreen", "--reverse", "--"]
    assert window_options([*qt, "--follow", "runs/x"]) == ("runs/x", qt)


def test_headwatch_with_an_unknown_option_exits_2_before_any_window(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HEADWATCH_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "headwatch", "--open-run", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a window that opened would run until then
    )
    assert result.returncode == 2
    assert result.stderr == (
        "headwatch: error: unknown option --open-run — the window takes --follow RUN_DIR; "
        "headwatch --help lists the commands\n"
    )
