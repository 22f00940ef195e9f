"""The session's runs as records: labels by what differs, colours, best val."""

from __future__ import annotations

from headwatch.core.compare import flat_settings
from headwatch.gui.messages import RunState
from headwatch.gui.run_list import PALETTE, RunList, pick_colour


def settings(heads: int) -> dict:
    return flat_settings({"n_head": heads, "n_layer": 2}, {"learning_rate": 1e-3}, "text")


def test_runs_are_named_by_what_sets_them_apart_and_relabelled_as_runs_come():
    runs = RunList()
    first, *changed = runs.add("run1", settings(4))
    assert first.label == "run 1" and changed == []
    second, *changed = runs.add("run2", settings(2))
    assert second.label == "heads=2"
    assert [r.label for r in changed] == ["heads=4"]  # run1 is now named by its heads
    stage, *_ = runs.add("run3", settings(1), title="one head (size 32)")
    assert stage.label == "one head (size 32)"
    assert [r.label for r in runs] == ["heads=4", "heads=2", "one head (size 32)"]


def test_colours_are_distinct_then_cycle_and_freed_ones_come_back():
    runs = RunList()
    for i in range(len(PALETTE)):
        runs.add(f"r{i}", settings(i + 1))
    assert [r.colour for r in runs] == list(PALETTE)
    assert pick_colour(PALETTE, 10) == PALETTE[0]
    assert pick_colour([c for c in PALETTE if c != PALETTE[3]], 9) == PALETTE[3]


def test_updates_replace_the_record_and_keep_the_best_val():
    runs = RunList()
    before, *_ = runs.add("run1", settings(4), total=100)
    runs.update("run1", val=2.5, last_train=2.4, step=10, state=RunState.TRAINING)
    after = runs.update("run1", val=2.7, step=20)
    assert before.best_val is None and before.step == 0  # records are never edited
    assert (after.best_val, after.last_train, after.step, after.total) == (2.5, 2.4, 20, 100)
    row = after.compare_row()
    assert row["best_val"] == 2.5 and row["colour"] == after.colour and row["label"] == "run 1"
    assert runs.update("nope", step=1) is None


def test_an_opened_run_is_named_by_its_folder_with_its_settings_beside():
    runs = RunList()
    runs.add("run1", settings(4))
    opened, *_ = runs.add("run2", settings(4), folder="/home/learner/runs/2026-11-29/b-lecture")
    assert opened.label == "b-lecture"
    assert runs.get("run1").label == "run 1"  # the same settings: still told apart
    row = opened.compare_row()
    assert row["label"] == "b-lecture" and row["path"].endswith("/b-lecture")
    assert row["settings"] == "layers=2 · heads=4 · lr=0.001 · corpus=text"
    new, *_ = runs.add("run3", settings(2))  # a new run's folder comes later: named by settings
    assert new.label == "heads=2" and runs.get("run2").label == "b-lecture"
