"""`headwatch heads | lens` and `inspect --knockout` end to end; one clear line for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from headwatch.core.ablation import evaluating
from headwatch.core.analyses import DEFAULT_WINDOWS, run_windows
from headwatch.core.char_classes import CHAR_CLASSES
from headwatch.core.cli import build_parser, main
from headwatch.core.runs import load_run
from tests.core.test_cli import SMALL
from tests.helpers import write_corpus


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("analyses")
    out = tmp_path / "run"
    assert main(["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--out", str(out)]) == 0
    return out


def test_heads_json(run_dir, capsys):
    assert main(["heads", str(run_dir), "--windows", "20", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["windows"] == 20 and data["block_size"] == 8 and data["ablation"] == "mean"
    assert data["classes"] == list(CHAR_CLASSES)
    assert [(h["layer"], h["head"]) for h in data["heads"]] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    for head in data["heads"] + [data["base"]]:
        assert len(head["offset_profile"]) == 8  # offsets 0..7 in a block of 8
        assert head["further"] is None
        assert list(head["class_profile"]) == list(CHAR_CLASSES)
        assert sum(head["class_profile"].values()) == pytest.approx(1)
    for head in data["heads"]:
        assert isinstance(head["label"], str) and head["label_kind"]
        assert isinstance(head["delta_loss"], float)
        assert isinstance(head["delta_loss_kept_only"], float)


def test_heads_table(run_dir, capsys):
    assert main(["heads", str(run_dir), "--windows", "10", "--ablation", "zero"]) == 0
    out = capsys.readouterr().out
    assert "over 10 validation windows of 8 characters" in out
    assert "L2·H2 " in out and "zero-ablation" in out


def test_lens_json_and_its_last_stage_loss_is_the_models(run_dir, capsys):
    assert main(["lens", str(run_dir), "--prompt", "ROMEO:\nBut", "--json"]) == 0
    captured = capsys.readouterr()
    assert "the model sees the last 8 of the prompt's 10 characters" in captured.err
    data = json.loads(captured.out)
    stages = ["embed", "L1 attn", "L1 ffn", "L2 attn", "L2 ffn"]
    assert data["tokens"] == list("ROMEO:\nBut"[-8:]) and data["stages"] == stages
    assert len(data["p_next"]) == len(data["top"]) == len(data["stage_loss"]) == 5
    for p_next, top in zip(data["p_next"], data["top"], strict=True):
        assert len(p_next) == len(top) == 8  # the prompt's last 8 characters: the block size
        assert p_next[-1] is None and all(0 <= p <= 1 for p in p_next[:-1])
    record = load_run(run_dir)
    model = record.build_model()
    x, y = run_windows(record, DEFAULT_WINDOWS)
    with evaluating(model):
        loss = model(x, y)[1].item()
    assert data["stage_loss"][-1] == pytest.approx(loss, abs=1e-5)


def test_lens_table_with_a_knockout(run_dir, capsys):
    assert main(["lens", str(run_dir), "--prompt", "ROMEO:", "--knockout", "1.1"]) == 0
    captured = capsys.readouterr()
    assert "L2 ffn" in captured.out and "heads L1·H1 knocked out (mean)" in captured.err


def test_inspect_with_a_knockout_keeps_the_schema(run_dir, capsys):
    assert main(["inspect", str(run_dir), "--prompt", "ROMEO:", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["inspect", str(run_dir), "--prompt", "ROMEO:", "--json", "--knockout", "1.1"]) == 0
    knocked = json.loads(capsys.readouterr().out)
    assert knocked.keys() == plain.keys()
    assert knocked["attention"][0] == plain["attention"][0]  # layer 1's pattern is upstream
    assert knocked["next"] != plain["next"]


def test_zero_ablation_needs_no_corpus_but_the_measures_do(tmp_path, capsys):
    corpus = write_corpus(tmp_path)
    run = tmp_path / "run"
    assert main(["train", "--corpus", str(corpus), *SMALL, "--out", str(run)]) == 0
    corpus.unlink()
    capsys.readouterr()
    argv = ["inspect", str(run), "--prompt", "RO", "--knockout", "2.2", "--ablation", "zero"]
    assert main(argv) == 0
    capsys.readouterr()
    for argv in (["heads", str(run)], ["lens", str(run), "--prompt", "RO"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no such file" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["inspect", "--prompt", "a", "--knockout", "3.1"], "does not exist"),
        (["inspect", "--prompt", "a", "--knockout", "1.x"], "not LAYER.HEAD"),
        (["lens", "--prompt", "a", "--knockout", "1.1,,2.2"], "not LAYER.HEAD"),
        (["inspect", "--prompt", "a", "--knockout", ""], "not LAYER.HEAD"),  # not "none"
        (["inspect", "--prompt", "a", "--knockout", "1.1", "--ablation", "half"], "invalid choice"),
        (["heads", "--windows", "0"], "windows must be from 1 to"),
        (["lens", "--prompt", "a", "--windows", "10000000000"], "windows must be from 1 to"),
        (["lens", "--prompt", "€€"], "none of the prompt's characters is in this run's"),
        (["lens"], "required: --prompt"),
    ],
)
def test_bad_input_exits_2_with_one_line(run_dir, capsys, extra, message):
    assert main([extra[0], str(run_dir), *extra[1:]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_bad_input_from_the_console_has_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "headwatch", "heads", "/no/such/run"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "no such folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_app_sends_every_subcommand_to_the_cli():
    from headwatch.gui.app import SUBCOMMANDS

    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(subparsers.choices) <= SUBCOMMANDS
