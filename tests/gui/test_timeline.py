"""The timeline: the window's runs keep weight snapshots; the slider, Live and Play show them in
every prompt view; the loss plot marks the viewed step; an opened run has the same timeline;
the replay exports as a GIF and the head labels over time as CSV."""

from __future__ import annotations

import csv

import numpy as np
from PySide6.QtWidgets import QDoubleSpinBox, QLabel, QPushButton, QSpinBox

from headwatch.core.analyses import run_corpus
from headwatch.core.cli import main as cli_main
from headwatch.core.embedding_map import embedding_map
from headwatch.core.head_knockout import Knockout
from headwatch.core.inspection import Analyst, Inspector
from headwatch.core.runs import load_run
from headwatch.core.snapshot_store import list_snapshots
from headwatch.core.timeline import SnapshotCache
from tests.gui.conftest import open_run, open_window, stop_training
from tests.helpers import write_corpus

PROMPT = "ROMEO:"


def inspected_at(window, step: int) -> bool:
    result = window.controller.last_inspection
    return result is not None and result.step == step and result.tokens == list(PROMPT)


def train_until(qtbot, window, step: int) -> None:
    window.prompt_edit.setText(PROMPT)
    window.train()
    qtbot.waitUntil(
        lambda: window.controller.current is not None and window.controller.current.step >= step,
        timeout=180_000,  # the training thread gives way to every other, on a busy machine too
    )


def expected_inspection(folder: str, step: int):
    """What an `Inspector` makes of the prompt on the run's snapshot of step, computed here."""
    return Inspector().inspect(SnapshotCache(folder).get(step), PROMPT)


def expected_labels(folder: str, step: int) -> list[list[str]]:
    """The head labels of the run's snapshot of step over the window's analysis windows."""
    snapshot = SnapshotCache(folder).get(step)
    corpus = run_corpus(load_run(folder, with_checkpoint=False))
    return Analyst(Inspector()).heads(snapshot, corpus).labels


def test_scrubbing_live_and_the_loss_marker_while_training(qtbot, window):
    train_until(qtbot, window, 30)
    c, bar = window.controller, window.timeline_bar
    folder = c.current.folder
    # log-spaced steps and every evaluation (every 10 steps here) are on disk and on the slider
    qtbot.waitUntil(lambda: bar.steps()[:4] == [0, 10, 20, 30], timeout=30_000)
    assert [s.step for s in list_snapshots(folder)][:4] == [0, 10, 20, 30]
    assert c.viewed_step is None and window.loss_plot.step_marker() is None
    assert bar.live_button.isChecked()

    # live inspections come in order: once one shows step 30 or later, none of step 20 follows
    # (the live weights of step 20 are not its bf16 snapshot)
    qtbot.waitUntil(lambda: c.last_inspection.step >= 30, timeout=30_000)
    bar.slider.setValue(2)  # what a drag does, one value at a time
    assert c.viewed_step == 20
    qtbot.waitUntil(lambda: inspected_at(window, 20), timeout=30_000)
    assert bar.step_label.text() == "step 20"
    assert not bar.live_button.isChecked()
    assert window.loss_plot.step_marker() == 20
    expected = expected_inspection(folder, 20)
    shown = c.last_inspection
    np.testing.assert_allclose(shown.attention, expected.attention, atol=1e-6)
    np.testing.assert_allclose(shown.ffn, expected.ffn, atol=1e-5)
    assert [ch for ch, _ in shown.next_chars] == [ch for ch, _ in expected.next_chars]
    lower = np.tril(np.ones((6, 6), dtype=bool))
    grid = np.nan_to_num(window.attention_grid.head_image(1, 3))
    np.testing.assert_allclose(grid[lower], expected.attention[1, 3][lower], atol=1e-6)
    # the badges: none of the live weights', then this step's own labels once the slider rests
    assert window.attention_grid.head_label(0, 0) in ("", *expected_labels(folder, 20)[0])
    qtbot.waitUntil(lambda: window.attention_grid.head_label(0, 0) != "", timeout=30_000)
    labels = expected_labels(folder, 20)
    grid = window.attention_grid
    shown = [[grid.head_label(i, j) for j in range(len(row))] for i, row in enumerate(labels)]
    assert shown == labels

    # training goes on, the views stay at step 20
    step = c.current.step
    qtbot.waitUntil(lambda: c.current.step >= step + 5, timeout=180_000)
    assert c.last_inspection.step == 20 and c.viewed_step == 20

    # many moves at once collapse: the last one is what shows
    for index in (0, 2, 1, 3):
        bar.slider.setValue(index)
    qtbot.waitUntil(lambda: inspected_at(window, 30), timeout=30_000)

    bar.live_button.click()
    assert c.viewed_step is None and window.loss_plot.step_marker() is None
    assert bar.live_button.isChecked()
    qtbot.waitUntil(lambda: c.last_inspection.step > 30, timeout=30_000)
    assert bar.step_label.text().startswith("Live · step ")
    stop_training(qtbot, window)


def test_play_replays_from_the_first_snapshot_and_stops_at_the_last(qtbot, window):
    train_until(qtbot, window, 30)
    stop_training(qtbot, window)
    c, bar = window.controller, window.timeline_bar
    qtbot.waitUntil(lambda: bar.steps() == [s.step for s in list_snapshots(c.current.folder)])
    requested = []
    bar.stepRequested.connect(requested.append)
    bar.set_speed(8)
    bar.play()
    assert bar.is_playing() and bar.play_button.text().endswith("Pause")
    qtbot.waitUntil(lambda: not bar.is_playing(), timeout=30_000)
    assert requested == bar.steps()  # every snapshot once, in order, from the first
    assert c.viewed_step == bar.steps()[-1]
    assert bar.play_button.text().endswith("Play")
    qtbot.waitUntil(lambda: inspected_at(window, bar.steps()[-1]), timeout=30_000)
    assert window.loss_plot.step_marker() == bar.steps()[-1]


def test_an_opened_run_has_its_timeline_and_exports_a_gif_and_labels(qtbot, window, tmp_path):
    from PIL import Image

    train_until(qtbot, window, 30)
    stop_training(qtbot, window)
    folder = window.controller.current.folder
    steps = [s.step for s in list_snapshots(folder)]
    assert open_run(qtbot, window, folder)
    c, bar = window.controller, window.timeline_bar
    assert c.current.folder == folder
    assert bar.steps() == steps and c.viewed_step is None
    bar.slider.setValue(1)
    qtbot.waitUntil(lambda: inspected_at(window, steps[1]), timeout=30_000)

    gif = tmp_path / "replay.gif"
    exporter = window.export_replay(gif)
    with qtbot.waitSignal(exporter.finished, timeout=120_000) as finished:
        pass
    assert finished.args == [str(gif), len(steps)]
    assert exporter.shown_steps == steps
    with Image.open(gif) as image:
        assert image.n_frames == len(steps)
        assert image.size[0] > 100
    assert c.viewed_step == steps[1]  # put back as it was
    assert bar.isEnabled()

    labels = tmp_path / "labels.csv"
    with qtbot.waitSignal(c.labelsExported, timeout=120_000):
        assert c.export_labels_over_time(labels)
    with open(labels, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    n_layer, n_head = load_run(folder, with_checkpoint=False).model_config.n_layer, 4
    assert len(rows) == len(steps) * n_layer * n_head
    assert sorted({int(r["step"]) for r in rows}) == steps
    assert {r["head_name"] for r in rows} == {
        f"L{layer}·H{head}" for layer in range(1, n_layer + 1) for head in range(1, 5)
    }
    assert all(r["label"] for r in rows)

    # a folder that is not there: one message each, and the app goes on
    missing = tmp_path / "missing"
    exporter = window.export_replay(missing / "replay.gif")
    with qtbot.waitSignal(exporter.failed, timeout=120_000) as failed:
        pass
    assert str(missing / "replay.gif") in failed.args[0]
    assert bar.isEnabled() and c.viewed_step == steps[1]
    with qtbot.waitSignal(c.problem, timeout=120_000) as problem:
        c.export_labels_over_time(missing / "labels.csv")
    assert problem.args[0].message.startswith("Could not export the head labels:")
    assert not missing.exists()


def test_the_snapshot_budget_comes_from_the_settings_file(qtbot, tmp_path):
    settings = tmp_path / "budget.ini"
    settings.write_text("[timeline]\nsnapshot_budget_mb=0\n", encoding="utf-8")
    window = open_window(qtbot, settings)
    try:
        assert window.controller.snapshot_budget_mb == 0
        train_until(qtbot, window, 12)
        stop_training(qtbot, window)
        assert list_snapshots(window.controller.current.folder) == []
        assert window.timeline_bar.steps() == []
        assert not window.timeline_bar.slider.isEnabled()
        assert window.timeline_bar.step_label.text() == "no snapshots yet"
    finally:
        window.controller.shutdown()
        qtbot.waitUntil(window.controller.threads_ended, timeout=60_000)


def test_the_embedding_map_follows_the_viewed_step(qtbot, window):
    train_until(qtbot, window, 20)
    c, bar = window.controller, window.timeline_bar
    qtbot.waitUntil(lambda: bar.steps()[:3] == [0, 10, 20], timeout=30_000)
    stop_training(qtbot, window)
    folder = c.current.folder
    window.analysis_tabs.setCurrentWidget(window.embedding_view)
    for index, step in ((1, 10), (0, 0)):
        bar.slider.setValue(index)
        qtbot.waitUntil(
            lambda step=step: (
                window.embedding_view.current is not None
                and window.embedding_view.current.step == step
            ),
            timeout=30_000,
        )
        # the snapshot's own table: the same pairwise distances as a map made here from it
        expected = embedding_map(SnapshotCache(folder).get(step))
        shown = window.embedding_view.current.points
        np.testing.assert_allclose(pdist(shown), pdist(expected.points), atol=1e-6)
    bar.live_button.click()
    qtbot.waitUntil(
        lambda: window.embedding_view.current.step == c.snapshots.latest().step, timeout=30_000
    )
    # scrubbed while another tab shows: back on the map, it is the viewed step's
    window.analysis_tabs.setCurrentWidget(window.prediction_view.parentWidget())
    bar.slider.setValue(1)
    qtbot.waitUntil(lambda: c.last_inspection.step == 10, timeout=30_000)
    window.analysis_tabs.setCurrentWidget(window.embedding_view)
    qtbot.waitUntil(lambda: window.embedding_view.current.step == 10, timeout=30_000)


def pdist(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)


def test_an_opened_run_has_its_heads_analysed_without_a_click(qtbot, window, tmp_path):
    out = tmp_path / "run"
    small = ["--layers", "2", "--heads", "2", "--embd", "16", "--block", "16", "--batch", "4"]
    argv = ["train", "--corpus", str(write_corpus(tmp_path)), *small, "--iters", "12"]
    assert cli_main([*argv, "--out", str(out)]) == 0
    reports = []
    window.controller.headsAnalysed.connect(reports.append)
    assert open_run(qtbot, window, out)
    qtbot.waitUntil(lambda: any(r.step == 12 for r in reports), timeout=30_000)
    qtbot.waitUntil(lambda: window.attention_grid.head_label(0, 0) != "", timeout=10_000)


def test_the_unit_tab_and_the_loss_by_depth_follow_the_timeline_and_the_knockout(qtbot, window):
    """Both measure the model the prompt views show: the viewed step, without the knocked-out
    heads; only the answer to the newest request is painted."""
    train_until(qtbot, window, 30)
    c, bar, panel = window.controller, window.timeline_bar, window.lens_panel
    # every evaluation's snapshot (a timed one may come between them on a slow machine)
    qtbot.waitUntil(lambda: {0, 10, 20, 30} <= set(bar.steps()), timeout=30_000)
    stop_training(qtbot, window)
    folder, corpus, live = c.current.folder, c.corpus, c.snapshots.latest().step
    units, depths = [], []
    c.unitAnalysed.connect(units.append)
    c.lensAnalysed.connect(depths.append)
    header = window.neuron_view.findChild(QLabel, "neuronHeader").text

    def expected_unit(step: int, unit: int = 7, knockout=None):
        snapshot = SnapshotCache(folder).get(step)
        return Analyst(Inspector()).unit(snapshot, corpus, 1, unit, knockout=knockout)

    def assert_unit_shown(expected) -> None:
        shown = window.neuron_view.contexts()
        assert [(t, i) for t, i, _ in shown] == [(t, i) for t, i, _ in expected.contexts]
        np.testing.assert_allclose([a for *_, a in shown], [a for *_, a in expected.contexts],
                                   rtol=0, atol=1e-5)  # fmt: skip
        assert header().endswith(expected.description)

    # a unit clicked on Live: the newest weights, and the caption says their step
    window.ffn_view.unitSelected.emit(1, 7)
    qtbot.waitUntil(lambda: header().endswith(f"weights at step {live:,}"), timeout=30_000)

    # the slider rests on step 10: the Unit tab shows that snapshot's analysis
    bar.slider.setValue(bar.steps().index(10))
    qtbot.waitUntil(lambda: header().endswith("weights at step 10"), timeout=30_000)
    assert_unit_shown(expected_unit(10))

    # the Lens tab: the loss by depth of step 10, then without head L1·H2
    window.analysis_tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: bool(depths) and depths[-1].step == 10, timeout=30_000)
    full = depths[-1]
    c.toggle_knockout(0, 1)
    qtbot.waitUntil(lambda: "L1·H2 knocked out" in panel.description.text(), timeout=30_000)
    knockout = Knockout(frozenset({(0, 1)}), "mean", corpus)
    expected = Analyst(Inspector()).depth_losses(SnapshotCache(folder).get(10), corpus, knockout)
    report = depths[-1]
    assert report.step == 10 and report.losses != full.losses
    np.testing.assert_allclose(report.losses, expected.losses, rtol=0, atol=1e-5)
    assert list(panel.depth.points()[1]) == report.losses
    assert panel.description.text() == (
        f"step 10 · L1·H2 knocked out (mean-ablation) · last stage {report.losses[-1]:.3f}: "
        "the model's loss without them"
    )

    # back on the Unit tab, its unit follows the knockout too
    window.analysis_tabs.setCurrentWidget(window.neuron_view)
    qtbot.waitUntil(
        lambda: header().endswith("weights at step 10, L1·H2 knocked out (mean-ablation)"),
        timeout=30_000,
    )
    assert_unit_shown(expected_unit(10, knockout=knockout))

    # a newer request supersedes an older one: only the newest answer is painted
    before = len(units)
    c.analyse_unit(1, 7)
    c.analyse_unit(1, 9)
    qtbot.waitUntil(lambda: len(units) > before and units[-1].unit == 9, timeout=30_000)
    assert len(units) == before + 1  # answers come in order: unit 7's would be in already
    assert_unit_shown(expected_unit(10, unit=9, knockout=knockout))
    window.analysis_tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: not panel.description.text().startswith("Measuring"), timeout=30_000)
    before = len(depths)
    c.analyse_lens()
    c.restore_all_heads()
    qtbot.waitUntil(lambda: len(depths) > before and depths[-1].ablation == "", timeout=30_000)
    assert len(depths) == before + 1 and depths[-1].knocked_out == ()
    np.testing.assert_allclose(depths[-1].losses, full.losses, rtol=0, atol=1e-6)

    # Live again: the newest weights in both
    bar.live_button.click()
    qtbot.waitUntil(lambda: depths[-1].step == live, timeout=30_000)
    assert panel.description.text().startswith(f"step {live:,} · last stage")
    window.analysis_tabs.setCurrentWidget(window.neuron_view)
    qtbot.waitUntil(lambda: header().endswith(f"weights at step {live:,}"), timeout=30_000)


def test_the_sample_and_the_val_line_follow_the_viewed_step_and_the_knockout(qtbot, window):
    """The sample box is written again by the weights on show (named in its line), and the Lens
    tab's dashed val line is the evaluation of the viewed step, the full model's."""
    train_until(qtbot, window, 30)
    c, bar, box = window.controller, window.timeline_bar, window.sample_view
    qtbot.waitUntil(lambda: {0, 10, 20, 30} <= set(bar.steps()), timeout=30_000)
    stop_training(qtbot, window)
    folder, corpus, live = c.current.folder, c.corpus, c.snapshots.latest().step
    vals = {row.step: row.val for row in load_run(folder).metrics if row.val is not None}

    def greedy(step: int, knockout: Knockout | None = None) -> str:
        inspector = Inspector()
        if knockout is not None:
            inspector.set_knockout(knockout)
        return inspector.sample(SnapshotCache(folder).get(step), PROMPT, 40, 0.0)[1]

    # a greedy sample on Live, named by its step
    box.findChild(QDoubleSpinBox, "temperatureSpin").setValue(0.0)
    box.findChild(QSpinBox, "sampleLengthSpin").setValue(40)
    with qtbot.waitSignal(c.sampled, timeout=60_000):
        box.findChild(QPushButton, "sampleButton").click()
    assert box.source() == f"Written by the weights at step {live:,}"

    # the slider rests on step 10: the box is written again by that step's weights
    bar.slider.setValue(bar.steps().index(10))
    qtbot.waitUntil(lambda: box.source() == "Written by the weights at step 10", timeout=60_000)
    assert box.text() == PROMPT + greedy(10)
    depth = window.lens_panel.depth
    assert depth.reference() == vals[10]
    assert depth.reference_label() == f"val loss {vals[10]:.3f} (step 10)"

    # a knockout: written again without the head; the val line says it is the full model's
    c.toggle_knockout(0, 1)
    qtbot.waitUntil(lambda: "L1·H2 knocked out" in box.source(), timeout=60_000)
    assert box.source() == "Written by the weights at step 10, L1·H2 knocked out (mean-ablation)"
    assert box.text() == PROMPT + greedy(10, Knockout(frozenset({(0, 1)}), "mean", corpus))
    assert depth.reference_label() == (
        f"full model's val loss {vals[10]:.3f} (step 10, every head in)"
    )
    c.restore_all_heads()

    # Live again: the newest weights write it, the line is the latest evaluation
    bar.live_button.click()
    qtbot.waitUntil(
        lambda: box.source() == f"Written by the weights at step {live:,}", timeout=60_000
    )
    newest = max(vals)
    assert depth.reference_label() == f"val loss {vals[newest]:.3f} (step {newest:,})"
