"""core.timeline: snapshots loaded for viewing (nearest kept, a few cached, distinct versions),
every head's label at every snapshot, its CSV, when each head took its label, and
`headwatch heads RUN --over-time [--csv]`."""

from __future__ import annotations

import csv
import io

import pytest
import torch

from headwatch.core.analyses import run_windows
from headwatch.core.char_classes import class_ids
from headwatch.core.cli import main
from headwatch.core.head_profiles import head_profiles, label_heads
from headwatch.core.inspection import Inspector, inspect_prompt
from headwatch.core.runs import load_run
from headwatch.core.snapshot_store import list_snapshots
from headwatch.core.storage import RunError
from headwatch.core.timeline import (
    CSV_FIELDS,
    LabelRow,
    SnapshotCache,
    label_changes,
    labels_over_time,
    write_labels_csv,
)
from tests.core.test_cli import SMALL
from tests.helpers import write_corpus


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small run with snapshots at 0, 6, 10, 12, 18, 20, 24 (log-spaced and evaluations)."""
    tmp_path = tmp_path_factory.mktemp("timeline")
    out = tmp_path / "run"
    argv = ["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--iters", "24"]
    assert main([*argv, "--snapshot-every", "0", "--out", str(out)]) == 0
    return out


def test_the_cache_gives_the_nearest_snapshot_and_keeps_a_few(run_dir):
    steps = [s.step for s in list_snapshots(run_dir)]
    assert steps == [0, 6, 10, 12, 18, 20, 24]
    cache = SnapshotCache(run_dir, size=3)
    snapshot = cache.get(17)
    assert snapshot.step == 18
    assert cache.get(18) is snapshot  # from memory, not read again
    for step in (0, 6, 10):
        cache.get(step)
    assert cache.cached_steps() == [0, 6, 10]  # 18, the least recently used, went first
    cache.get(6)
    assert cache.cached_steps() == [0, 10, 6]
    versions = {cache.get(step).version for step in steps}
    assert len(versions) == len(steps) and max(versions) < 0  # never a live box's version


def test_an_inspector_shows_each_cached_snapshot_as_that_snapshot(run_dir):
    record = load_run(run_dir, with_checkpoint=False)
    cache, inspector = SnapshotCache(run_dir), Inspector()
    for step in (6, 24, 6):  # back to a snapshot the inspector had loaded before
        result = inspector.inspect(cache.get(step), "ROMEO:")
        info = next(s for s in list_snapshots(run_dir) if s.step == step)
        model = record.build_snapshot_model(info)
        expected = inspect_prompt(model, record.tokenizer, "ROMEO:", step)
        assert result.step == step
        torch.testing.assert_close(
            torch.from_numpy(result.attention), torch.from_numpy(expected.attention)
        )


def test_a_run_without_snapshots_or_a_folder_that_is_no_run_is_a_run_error(tmp_path, run_dir):
    with pytest.raises(RunError, match="no such folder"):
        SnapshotCache(tmp_path / "nope")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text((run_dir / "config.json").read_text(encoding="utf-8"))
    with pytest.raises(RunError, match="no weight snapshots"):
        SnapshotCache(bare).get(0)
    with pytest.raises(RunError, match="no weight snapshots"):
        labels_over_time(bare)


def test_labels_over_time_are_the_labels_of_each_snapshot(run_dir):
    rows = labels_over_time(run_dir, windows=12)
    steps = [s.step for s in list_snapshots(run_dir)]
    assert len(rows) == len(steps) * 2 * 2  # snapshots x layers x heads
    assert [(r.step, r.layer, r.head) for r in rows] == [
        (step, layer, head) for step in steps for layer in range(2) for head in range(2)
    ]
    record = load_run(run_dir, with_checkpoint=False)
    x, _ = run_windows(record, 12)
    info = next(s for s in list_snapshots(run_dir) if s.step == 12)
    profiles = head_profiles(
        record.build_snapshot_model(info), x, class_ids(record.tokenizer.chars)
    )
    expected = [label.text for layer in label_heads(profiles) for label in layer]
    assert [r.label for r in rows if r.step == 12] == expected


def test_the_csv_parses_with_one_row_per_snapshot_and_head(run_dir):
    rows = labels_over_time(run_dir, windows=8)
    out = io.StringIO()
    write_labels_csv(rows, out)
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(parsed[0]) == list(CSV_FIELDS)
    assert len(parsed) == len(rows)
    assert parsed[0]["head_name"] == "L1·H1" and parsed[-1]["head_name"] == "L2·H2"
    assert [int(p["step"]) for p in parsed] == [r.step for r in rows]


def test_label_changes_say_when_a_head_took_its_last_label():
    def row(step: int, head: int, label: str) -> LabelRow:
        return LabelRow(step, 1, head, label, "offset", 1.0)

    rows = [
        row(0, 0, "mixed"),
        row(100, 0, "1 back"),
        row(200, 0, "mixed"),
        row(400, 0, "1 back"),
        row(800, 0, "1 back"),
        row(0, 1, "broad"),
        row(400, 1, "broad"),
    ]
    first, second = label_changes(rows)
    assert (first.layer, first.head, first.label, first.step, first.previous) == (
        1,
        0,
        "1 back",
        400,
        "mixed",
    )
    assert (second.label, second.step, second.previous) == ("broad", 0, None)


def test_cli_heads_over_time(run_dir, capsys):
    assert main(["heads", str(run_dir), "--over-time", "--windows", "8", "--csv"]) == 0
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(parsed) == 7 * 4
    assert main(["heads", str(run_dir), "--over-time", "--windows", "8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"run {run_dir}: 7 snapshots, steps 0 to 24")
    assert [line.split()[0] for line in lines[1:]] == ["L1·H1", "L1·H2", "L2·H1", "L2·H2"]
    assert all("since step" in line or "from the first snapshot" in line for line in lines[1:])


def test_cli_csv_without_over_time_is_one_line(run_dir, capsys):
    assert main(["heads", str(run_dir), "--csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("headwatch: error: --csv goes with --over-time") and "json" not in err
    assert main(["heads", str(run_dir), "--over-time", "--json"]) == 2
    assert "--over-time has no --json" in capsys.readouterr().err
