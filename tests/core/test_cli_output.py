"""The CLI's output and help: a reader that stops reading (`| head`) ends a read-only command
quietly, as `git log | head` does, while `train` says it stopped and saved; every subcommand and
every option has a one-line help text."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from headwatch.core.cli import (
    CLOSED_OUTPUT_STOPS,
    COMMANDS,
    _train_defaults,
    build_parser,
    main,
)
from tests.helpers import SMALL_TRAIN, write_corpus

ROOT = Path(__file__).resolve().parents[2]
SMALL = [*SMALL_TRAIN, "--snapshot-every", "0"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A small trained run with snapshots (for `heads --over-time`)."""
    tmp = tmp_path_factory.mktemp("closed-output")
    out = tmp / "run"
    argv = ["train", "--corpus", str(write_corpus(tmp)), *SMALL, "--iters", "20"]
    assert main([*argv, "--eval-every", "10", "--out", str(out)]) == 0
    return out


def read_only_args(run: Path, tmp: Path) -> dict[str, list[str]]:
    """subcommand -> a command line of it that writes to stdout; one per subcommand that does not
    stop on a closed output."""
    return {
        "sample": ["sample", str(run), "--tokens", "20"],  # short: written when Python exits
        "inspect": ["inspect", str(run), "--prompt", "ROMEO", "--json"],  # longer than a buffer
        "heads": ["heads", str(run), "--over-time", "--csv", "--windows", "2"],
        "lens": ["lens", str(run), "--prompt", "ROMEO", "--windows", "2"],
        "follow": ["follow", str(run), "--interval", "0.05"],  # the run has ended: says so, ends
        "ladder": ["ladder", "--corpus", str(write_corpus(tmp)), "--iters", "1"]
        + ["--eval-iters", "1", "--device", "cpu", "--out", str(tmp / "ladder")],
    }


def run_with_closed_stdout(args: list[str]) -> tuple[int, str]:
    """(exit code, stderr) of `headwatch ARGS` whose stdout is a pipe nobody reads: its reader
    is closed before the command starts, so any write to it fails as after `| head` has left.
    Output is buffered, as for a user (no PYTHONUNBUFFERED)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        child = subprocess.run(
            [sys.executable, "-m", "headwatch", *args],
            cwd=ROOT,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    finally:
        os.close(write_end)
    return child.returncode, child.stderr


def test_every_command_has_a_rule_for_a_closed_output(tmp_path):
    subcommands = set(_subparsers(build_parser()).choices)
    assert set(COMMANDS) == subcommands
    assert CLOSED_OUTPUT_STOPS.issubset(subcommands)
    assert set(read_only_args(tmp_path, tmp_path)) == subcommands - CLOSED_OUTPUT_STOPS


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - CLOSED_OUTPUT_STOPS))
def test_a_closed_output_ends_a_read_only_command_quietly(run_dir, tmp_path, command):
    rc, err = run_with_closed_stdout(read_only_args(run_dir, tmp_path)[command])
    assert rc == 0, err
    assert "Traceback" not in err and "closed" not in err and "Broken pipe" not in err, err


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"]])
def test_a_closed_output_ends_help_quietly(args):
    assert run_with_closed_stdout(args) == (0, "")


# --- --help: every subcommand and option described --------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub


def _undescribed(parser: argparse.ArgumentParser) -> list[str]:
    """Subcommands and options (with their subcommand) whose help is missing, more than one
    line, or only a default ("default 4": what the option is goes first)."""
    sub = _subparsers(parser)
    found = []
    described = {a.dest: a.help for a in sub._choices_actions}
    for name, subparser in [("headwatch", parser), *sub.choices.items()]:
        if subparser is not parser and not _one_line(described.get(name)):
            found.append(name)
        for action in subparser._actions:
            option = "/".join(action.option_strings) or action.dest
            if not _one_line(action.help) or re.match(r"\(?default\b", action.help):
                found.append(f"{name} {option}")
    return found


def _one_line(text: str | None) -> bool:
    return bool(text and text.strip()) and text != argparse.SUPPRESS and "\n" not in text


def test_every_subcommand_and_option_has_a_one_line_help():
    assert _undescribed(build_parser()) == []


def test_the_help_check_finds_what_has_none():
    parser = build_parser()
    sub = _subparsers(parser)
    sub.add_parser("bare")
    sub.choices["sample"].add_argument("--bare")
    sub.choices["heads"].add_argument("--only-default", help="default 3")
    assert _undescribed(parser) == ["heads --only-default", "sample --bare", "bare"]


def test_train_help_names_the_fields_and_their_defaults(capsys):
    assert main(["train", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    d = _train_defaults()
    for words in (
        f"--layers N n_layer: transformer blocks (default {d['n_layer']})",
        f"--embd N n_embd: channels of the residual stream (default {d['n_embd']})",
        f"--block N block_size: the longest context, in characters (default {d['block_size']})",
        f"--iters N max_iters: training steps (default {d['max_iters']}; with --resume: steps "
        "to train more)",
    ):
        assert words in shown
