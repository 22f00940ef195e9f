"""The lecture's ladder: presets, one run folder per stage, the table, `headwatch ladder`."""

from __future__ import annotations

import math
import re

import pytest
import torch

from headwatch.core.cli import main
from headwatch.core.control import TrainControl
from headwatch.core.corpus import Corpus, load_corpus
from headwatch.core.ladder import (
    BATCH_SIZE,
    BLOCK_SIZE,
    LEARNING_RATE,
    N_EMBD,
    STAGES,
    format_table,
    run_ladder,
    stage_dirs,
    train_config,
)
from headwatch.core.model import GPT, ConfigError
from headwatch.core.runs import RunError, file_stamp, is_run_dir, load_run
from tests.helpers import TEXT, small_corpus, write_corpus

VOCAB = 65
FAST = dict(eval_iters=1, device="cpu")


def configs():
    return {stage.name: stage.model_config(VOCAB) for stage in STAGES}


def test_stages_follow_the_lecture_in_order():
    assert [s.name for s in STAGES] == [
        "bigram",
        "one-head",
        "four-heads",
        "feed-forward",
        "three-blocks",
        "residuals",
        "layernorm",
    ]
    c = configs()
    for config in c.values():
        assert (config.n_embd, config.block_size, config.dropout) == (N_EMBD, BLOCK_SIZE, 0.0)
        assert config.init == "pytorch"  # the lecture's code before its final model
    assert not c["bigram"].attention and c["bigram"].n_layer == 0
    assert not c["bigram"].layernorm  # embedding straight to logits
    assert (c["one-head"].n_layer, c["one-head"].n_head, c["one-head"].head_size) == (1, 1, 32)
    assert (c["four-heads"].n_head, c["four-heads"].head_size) == (4, 8)
    # each later rung changes exactly what the lecture changed
    assert c["feed-forward"] == _with(c["four-heads"], ffn=True)
    assert c["three-blocks"] == _with(c["feed-forward"], n_layer=3)
    assert not c["three-blocks"].residual and not c["three-blocks"].layernorm
    assert c["residuals"] == _with(c["three-blocks"], residual=True)
    assert c["layernorm"] == _with(c["residuals"], layernorm=True)


def _with(config, **changes):
    return type(config)(**{**config.to_dict(), **changes})


def test_parameter_counts_grow_up_the_ladder():
    counts = [GPT(c).num_parameters() for c in configs().values()]
    bigram, one, four, ffn, deep, res, ln = counts
    assert bigram < one
    assert one == four  # 1 head of 32 or 4 of 8: the same matrices, split differently
    assert four < ffn < deep
    assert deep == res  # residuals are wiring, not weights
    assert res < ln


def test_train_config_is_the_lectures():
    t = train_config(5000, seed=3, device="cpu")
    assert (t.batch_size, t.learning_rate, t.max_iters, t.seed) == (32, 1e-3, 5000, 3)
    assert (BATCH_SIZE, LEARNING_RATE, BLOCK_SIZE, N_EMBD) == (32, 1e-3, 8, 32)


def test_run_ladder_writes_a_run_per_stage_and_returns_rows(tmp_path):
    corpus = small_corpus()
    events = []
    threads = torch.get_num_threads()
    rows = run_ladder(
        corpus, 3, tmp_path / "ladder", 5, lambda s, r: events.append((s.name, r)), **FAST
    )
    assert torch.get_num_threads() == threads, "the thread count is restored"
    assert [r.stage for r in rows] == [s.label for s in STAGES]
    assert events[0] == ("bigram", None) and len(events) == 2 * len(STAGES)
    for row, folder, stage in zip(rows, stage_dirs(tmp_path / "ladder"), STAGES, strict=True):
        assert row.run_dir == folder and is_run_dir(folder)
        record = load_run(folder)
        assert record.step == 3
        assert record.model_config == stage.model_config(corpus.vocab_size)
        assert record.metrics[-1].val == row.val
        assert row.parameters == GPT(record.model_config).num_parameters()
        assert math.isfinite(row.train) and math.isfinite(row.val)
        assert row.tokens_per_s > 0 and row.seconds > 0
        assert row.lecture_val == stage.lecture_val


def test_a_second_ladder_into_the_same_folder_is_refused_before_training(tmp_path):
    corpus = small_corpus()
    run_ladder(corpus, 1, tmp_path, stages=STAGES[:1], **FAST)
    started = []
    with pytest.raises(RunError, match="already holds a run"):
        run_ladder(corpus, 1, tmp_path, on_stage=lambda s, r: started.append(s), **FAST)
    assert not started


def _stopped_ladder(corpus, out, iters: int, stop_in: str, stop_at: int, stages=STAGES):
    """A ladder stopped (as by Ctrl+C) at step stop_at of stage stop_in: the stages before it
    finished, that one saved at stop_at, none after it begun. Returns its rows."""
    control = TrainControl()

    def on_progress(stage, p):
        if stage.name == stop_in and p.step == stop_at:
            control.stop()

    return run_ladder(
        corpus, iters, out, 5, stages=stages, on_progress=on_progress, control=control, **FAST
    )


def _stamps(folder):
    return {p.relative_to(folder): file_stamp(p) for p in folder.rglob("*") if p.is_file()}


def test_a_stopped_ladder_continues_where_it_stopped(tmp_path):
    corpus, out, stages = small_corpus(), tmp_path / "ladder", STAGES[:3]
    first = _stopped_ladder(corpus, out, 6, "one-head", 3, stages)
    done, stopped, untouched = stage_dirs(out, stages)
    assert [r.stage for r in first] == ["bigram"]
    assert load_run(stopped).step == 3 and not untouched.exists()
    before = _stamps(done)
    found, steps = [], {}
    rows = run_ladder(
        corpus,
        6,
        out,
        5,
        stages=stages,
        resume=True,
        on_found=lambda stage, step, row: found.append((stage.name, step, row)),
        on_progress=lambda stage, p: steps.setdefault(stage.name, []).append(p.step),
        **FAST,
    )
    assert found == [("bigram", 6, first[0]), ("one-head", 3, None)]
    assert rows[0] == first[0]  # read back from its folder, time included
    assert _stamps(done) == before  # the finished stage is left alone
    assert "bigram" not in steps
    assert sorted(set(steps["one-head"])) == [4, 5, 6]  # from its checkpoint on
    assert sorted(set(steps["four-heads"])) == list(range(1, 7))
    assert [r.stage for r in rows] == [s.label for s in stages]
    for row, folder in zip(rows, (done, stopped, untouched), strict=True):
        record = load_run(folder)
        assert record.step == 6 and record.metrics[-1].val == row.val
        assert [m.step for m in record.metrics if m.loss is not None] == list(range(1, 7))
        assert row.seconds > 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(iters=7), "--iters 6 (this ladder: 7)"),
        (dict(seed=6), "--seed 5 (this ladder: 6)"),
        (dict(eval_iters=2), "--eval-iters 1 (this ladder: 2)"),
        (dict(corpus=Corpus(name="other", text=TEXT.upper() + TEXT)), "another corpus (test,"),
    ],
)
def test_a_ladder_of_other_settings_is_not_continued_and_left_alone(tmp_path, change, message):
    out = tmp_path / "ladder"
    _stopped_ladder(small_corpus(), out, 6, "one-head", 3, STAGES[:2])
    before = _stamps(out)
    settings = {"corpus": small_corpus(), "iters": 6, "seed": 5, **FAST, **change}
    corpus, iters = settings.pop("corpus"), settings.pop("iters")
    started = []
    with pytest.raises(RunError, match=re.escape(message)) as refused:
        run_ladder(corpus, iters, out, on_stage=lambda s, r: started.append(s), resume=True,
                   **settings)  # fmt: skip
    assert "nothing was changed" in str(refused.value)
    assert not started and _stamps(out) == before


def test_resume_needs_a_ladder_to_continue(tmp_path):
    with pytest.raises(RunError, match="holds no stage of a ladder to continue"):
        run_ladder(small_corpus(), 2, tmp_path, resume=True, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_bad_budget_is_refused():
    with pytest.raises(ConfigError, match="iters must be a whole number of at least 1"):
        run_ladder(small_corpus(), 0, "/nonexistent", **FAST)


def test_table_has_a_row_per_stage(tmp_path):
    rows = run_ladder(small_corpus(), 2, tmp_path, **FAST)
    table = format_table(rows).splitlines()
    assert table[0].startswith("| stage | parameters | train | val | lecture val")
    assert len(table) == 2 + len(STAGES)
    for line, row in zip(table[2:], rows, strict=True):
        assert line.startswith(f"| {row.stage} | {row.parameters:,} | {row.train:.4f}")
    assert "| 2.06 |" in table[-1] and "| — |" in table[6]  # the lecture's figures beside ours


# --- CLI -------------------------------------------------------------------------------------


def test_cli_ladder_prints_progress_and_the_table(tmp_path, capsys):
    corpus = write_corpus(tmp_path)
    out = tmp_path / "ladder"
    args = ["ladder", "--corpus", str(corpus), "--iters", "10", "--eval-iters", "1"]
    assert main([*args, "--device", "cpu", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].startswith("| stage |") and len(lines) == 2 + len(STAGES)
    assert "bigram: training 10 steps" in captured.err
    assert "step      2/10" in captured.err  # evaluations along the way
    assert all(is_run_dir(folder) for folder in stage_dirs(out))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--iters", "0"], "--iters must be at least 1"),
        (["--eval-iters", "0"], "--eval-iters must be at least 1"),
        (["--iters", "many"], "invalid int value"),
        (["--device", "toaster"], "unknown device"),
    ],
)
def test_cli_ladder_bad_input_exits_2_with_one_line(tmp_path, capsys, extra, message):
    corpus = write_corpus(tmp_path)
    argv = ["ladder", "--corpus", str(corpus), "--out", str(tmp_path / "out"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_ladder_refuses_a_missing_corpus_and_a_file_as_out(tmp_path, capsys):
    assert main(["ladder", "--corpus", str(tmp_path / "nope.txt"), "--out", str(tmp_path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    target = tmp_path / "file"
    target.write_text("x")
    argv = ["ladder", "--corpus", str(write_corpus(tmp_path)), "--out", str(target)]
    assert main(argv) == 2
    assert "is not a folder" in capsys.readouterr().err


def _stopped_cli_ladder(tmp_path, iters: int) -> tuple[list, list[str]]:
    """A ladder of 4 steps a stage stopped at step 2 of its second stage, and the `headwatch
    ladder` command line of the same ladder with `iters` steps a stage: (stage folders, argv)."""
    corpus_file = write_corpus(tmp_path)
    out = tmp_path / "ladder"
    _stopped_ladder(load_corpus(str(corpus_file)), out, 4, "one-head", 2, STAGES[:2])
    argv = ["ladder", "--corpus", str(corpus_file), "--iters", str(iters), "--eval-iters", "1"]
    return stage_dirs(out), [*argv, "--seed", "5", "--device", "cpu", "--out", str(out)]


def test_cli_ladder_resume_skips_continues_and_trains_the_rest(tmp_path, capsys):
    folders, argv = _stopped_cli_ladder(tmp_path, 4)
    assert main(argv) == 2  # without --resume: refused, and told how to continue
    err = capsys.readouterr().err
    assert "already holds a run — continue that ladder (--resume)" in err
    assert len(err.splitlines()) == 1
    assert main([*argv, "--resume"]) == 0
    captured = capsys.readouterr()
    assert "bigram: finished before (val " in captured.err
    assert f") in {folders[0]}; skipped" in captured.err
    assert f"one head (size 32): stopped at step 2 in {folders[1]}; continuing" in captured.err
    assert "one head (size 32): training 2 steps more (to 4)" in captured.err
    assert "4 heads of 8: training 4 steps\n" in captured.err
    assert "bigram: training" not in captured.err
    table = captured.out.strip().splitlines()
    assert len(table) == 2 + len(STAGES) and "| —" not in table[2]  # the time was kept
    assert all(load_run(folder).step == 4 for folder in folders)


def test_cli_ladder_refuses_to_continue_another_ladder(tmp_path, capsys):
    folders, argv = _stopped_cli_ladder(tmp_path, 8)
    before = _stamps(folders[0].parent)
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "01-bigram: was trained with --iters 4 (this ladder: 8)" in err
    assert len(err.splitlines()) == 1 and _stamps(folders[0].parent) == before


def test_cli_ladder_needs_out(capsys):
    assert main(["ladder"]) == 2
    assert "--out" in capsys.readouterr().err
