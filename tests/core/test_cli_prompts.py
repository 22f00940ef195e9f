"""A prompt on the command line, taken the same way by every command that has --prompt: one the
model can use nothing of is refused (one line, exit 2), what the model does not see of it is said
on stderr (and in --json); and `headwatch --version`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from importlib.metadata import version

import pytest

from headwatch.core.cli import build_parser, main
from tests.helpers import SMALL_TRAIN, TEXT, write_corpus

BLOCK = 16  # SMALL_TRAIN's --block
# per command, options that keep it short; a command not named here runs with none
QUICK = {"lens": ["--windows", "2"], "sample": ["--tokens", "5", "--seed", "1"]}


def prompt_commands() -> list[str]:
    """The subcommands that take --prompt, found in the parser (a new one is checked too)."""
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(
        name
        for name, command in sub.choices.items()
        if any("--prompt" in a.option_strings for a in command._actions)
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prompts")
    out = tmp / "run"
    argv = ["train", "--corpus", str(write_corpus(tmp)), *SMALL_TRAIN, "--iters", "4"]
    assert main([*argv, "--out", str(out)]) == 0
    return out


def run(command: str, run_dir, prompt: str, *extra: str) -> list[str]:
    return [command, str(run_dir), "--prompt", prompt, *QUICK.get(command, []), *extra]


def test_the_commands_with_a_prompt_are_found():
    assert prompt_commands() == ["inspect", "lens", "sample"]


@pytest.mark.parametrize("command", prompt_commands())
def test_a_prompt_of_only_unknown_characters_is_refused_in_one_line(run_dir, capsys, command):
    capsys.readouterr()
    assert main(run(command, run_dir, "€→€")) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("headwatch: error: none of the prompt's characters is in this ")
    assert "(unknown: '€', '→')" in captured.err  # each unknown character once
    assert "type text made of characters of its corpus" in captured.err  # what to do
    # only sample has a start without a prompt, and says so
    assert ("leave --prompt out to start from a newline" in captured.err) == (command == "sample")


def test_an_empty_prompt_starts_sample_from_a_newline_and_is_refused_elsewhere(run_dir, capsys):
    capsys.readouterr()
    assert main(run("sample", run_dir, "")) == 0
    given = capsys.readouterr()
    assert main(["sample", str(run_dir), *QUICK["sample"]]) == 0  # no --prompt, the same
    assert capsys.readouterr() == given and given.err == ""
    assert main(run("sample", run_dir, "\n")) == 0  # the same text as from a typed newline
    assert capsys.readouterr().out == "\n" + given.out
    for command in set(prompt_commands()) - {"sample"}:
        assert main(run(command, run_dir, "")) == 2
        err = capsys.readouterr().err
        assert err == "headwatch: error: the prompt is empty — type some text after --prompt\n"


@pytest.mark.parametrize("command", prompt_commands())
def test_a_prompt_longer_than_block_size_is_said(run_dir, capsys, command):
    long, short = TEXT[: BLOCK + 5], TEXT[:5]
    capsys.readouterr()
    assert main(run(command, run_dir, long)) == 0
    said = f"the model sees the last {BLOCK} of the prompt's {BLOCK + 5} characters (block_size "
    assert f"headwatch: note: {said}{BLOCK})\n" in capsys.readouterr().err
    assert main(run(command, run_dir, "€" + long)) == 0  # with an unknown character left out
    err = capsys.readouterr().err
    assert "'€' at 0" in err and f"of the prompt's {BLOCK + 5} known characters" in err
    assert main(run(command, run_dir, short)) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("command", sorted(set(prompt_commands()) - {"sample"}))
def test_json_says_how_much_of_the_prompt_was_cut(run_dir, capsys, command):
    capsys.readouterr()
    for prompt, cut in [(TEXT[: BLOCK + 5], 5), (TEXT[:5], 0)]:
        assert main(run(command, run_dir, prompt, "--json")) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["truncated"] == cut
        assert "".join(data["tokens"]) == prompt[-BLOCK:]


def test_version_from_the_window_entry_before_qt_and_from_the_cli(capsys):
    expected = f"headwatch {version('headwatch')}\n"
    script = (
        "import sys; from headwatch.gui.app import main; code = main(['--version']); "
        "print('PySide6.QtWidgets' in sys.modules); sys.exit(code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == expected + "False\n"  # no window, no Qt
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == expected


@pytest.mark.parametrize("command", prompt_commands())
def test_a_backslash_n_in_a_prompt_is_a_new_line_as_in_the_window(command, run_dir, capsys):
    json_out = [] if command == "sample" else ["--json"]
    assert main(run(command, run_dir, "ROMEO:\\nBut", *json_out)) == 0
    out, err = capsys.readouterr()
    assert "not in the vocabulary" not in err  # neither "\\" nor a literal "n" left over
    if json_out:
        assert json.loads(out)["tokens"] == list("ROMEO:\nBut")
    else:
        assert out.startswith("ROMEO:\nBut")
