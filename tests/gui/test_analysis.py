"""What heads and units do, the lecture's ladder, and every export — through the window."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET

import pytest
from PySide6.QtGui import QImage
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QLabel

import headwatch.gui.controller as controller_module
from headwatch.core.ladder import STAGES
from headwatch.core.trainer import Trainer
from headwatch.gui.head_table import LABEL_COLOURS, badge_text
from headwatch.gui.setup_panel import format_rate
from tests.gui.conftest import open_run, stop_training


@pytest.fixture
def trained(qtbot, window):
    window.prompt_edit.setText("ROMEO:")
    window.train()
    qtbot.waitUntil(lambda: window.controller.current.step >= 25, timeout=60_000)
    stop_training(qtbot, window)
    window.request_inspection()
    qtbot.waitUntil(lambda: window.controller.last_inspection is not None
                    and window.controller.last_inspection.step >= 25, timeout=30_000)  # fmt: skip
    return window


def test_heads_are_analysed_labelled_and_shown_as_lines(qtbot, trained):
    window = trained
    qtbot.waitUntil(lambda: len(window.head_table.rows()) == 2 * 4, timeout=30_000)
    rows = window.head_table.rows()
    assert {r["kind"] for r in rows} <= set(LABEL_COLOURS)
    assert all(0 <= r["offset"][1] <= 1 and 0 <= r["same_char"] <= 1 for r in rows)
    label = next(r["label"] for r in rows if (r["layer"], r["head"]) == (1, 2))
    assert window.attention_grid.head_label(1, 2) == badge_text(label)
    window.attention_grid.select_head(1, 2)
    assert window.head_table.selected() == (1, 2)
    lines = window.lines_view.visible_lines()
    weights = window.controller.last_inspection.attention[1, 2]
    assert lines and all(j <= i and abs(w - weights[i, j]) < 1e-6 for i, j, w in lines)
    window.head_table.headSelected.emit(0, 3)  # a click on the table selects on the grid
    assert window.attention_grid.selected_head == (0, 3)


def test_heads_are_reanalysed_at_most_so_often_while_training_and_when_it_pauses(
    qtbot, window, monkeypatch
):
    monkeypatch.setattr(controller_module, "AUTO_ANALYSIS_SECONDS", 3600)
    controller = window.controller
    evaluations: list[int] = []
    analysed_after: list[int] = []  # how many evaluations had come at each analysis
    controller.headsAnalysing.connect(lambda _busy: analysed_after.append(len(evaluations)))
    controller.evaluated.connect(lambda evaluation: evaluations.append(evaluation.step))
    window.train()
    qtbot.waitUntil(lambda: len(evaluations) >= 3, timeout=60_000)
    window.controller.toggle_pause()
    qtbot.waitUntil(lambda: len(analysed_after) == 2, timeout=10_000)
    assert analysed_after[0] == 0  # at the first evaluation, then at none for an hour
    assert analysed_after[1] >= 3  # the pause brings the badges up to date
    window.controller.toggle_pause()
    with qtbot.waitSignal(controller.runEnded, timeout=10_000) as ended:
        stop_training(qtbot, window)
    assert ended.args[0].reason == "stopped" and not ended.args[0].failed
    # the run's end analyses, for the knockout losses, whether or not an evaluation came after
    # the pause
    assert len(analysed_after) == 3
    before = len(evaluations)
    window.retrain()  # new weights: their heads are analysed at their first evaluation
    qtbot.waitUntil(lambda: len(analysed_after) == 4, timeout=60_000)
    assert analysed_after[-1] == before
    stop_training(qtbot, window)


def test_a_run_that_ends_gets_its_knockout_losses_even_just_after_an_analysis(
    qtbot, window, monkeypatch
):
    """A trial's baby run ended with the Δ columns empty: its last evaluation (at the last step)
    had analysed the labels and cleared what was owed, so the end asked for nothing."""
    monkeypatch.setattr(controller_module, "AUTO_ANALYSIS_SECONDS", 0)  # at every evaluation
    controller, reports = window.controller, []
    controller.headsAnalysed.connect(reports.append)
    window.setup.iters_spin.setValue(20)  # evaluations at 10 and 20, the last step
    with qtbot.waitSignal(controller.runEnded, timeout=60_000):
        window.train()
    qtbot.waitUntil(
        lambda: bool(reports) and reports[-1].rows[0]["delta_loss"] is not None, timeout=60_000
    )
    assert reports[-1].step == 20 and reports[-1].ablation == "mean"
    assert window.head_table.rows()[0]["delta_loss"] is not None  # the Heads tab shows them


def test_clicking_a_unit_shows_its_top_contexts(qtbot, trained):
    window = trained
    window.ffn_view.unitSelected.emit(1, 7)
    qtbot.waitUntil(lambda: window.neuron_view.dead_units_text() != "", timeout=30_000)
    assert window.analysis_tabs.currentWidget() is window.neuron_view
    contexts = window.neuron_view.contexts()
    assert len(contexts) <= 20
    assert all(0 <= index < len(text) and act > 0 for text, index, act in contexts)
    assert "L1" in window.neuron_view.dead_units_text()


def test_the_ladder_runs_every_stage_as_a_run(qtbot, window, monkeypatch):
    monkeypatch.setattr(controller_module, "LADDER_ITERS", 10)
    window.compare_view.findChild(object, "ladderButton").click()
    qtbot.waitUntil(lambda: len(window.compare_view.rows()) == len(STAGES), timeout=120_000)
    controller = window.controller
    qtbot.waitUntil(lambda: not controller.ladder_running() and not controller.is_training(),
                    timeout=120_000)  # fmt: skip
    labels = [r["label"] for r in window.compare_view.rows()]
    assert labels == [stage.label for stage in STAGES]
    assert all(r["best_val"] is not None for r in window.compare_view.rows())
    assert [window.loss_plot.label(r) for r in window.loss_plot.run_ids()] == labels


def test_a_stopped_or_failed_stage_ends_the_ladder_and_says_why(qtbot, window, monkeypatch):
    monkeypatch.setattr(controller_module, "LADDER_ITERS", 5000)
    controller, status = window.controller, window.compare_view.findChild(QLabel, "ladderStatus")
    window.compare_view.findChild(object, "ladderButton").click()
    qtbot.waitUntil(lambda: controller.current is not None and controller.current.step >= 2,
                    timeout=60_000)  # fmt: skip
    stop_training(qtbot, window)
    assert not controller.ladder_running() and status.text() == "The ladder was stopped."
    assert len(window.compare_view.rows()) == 1

    def broken(self):
        raise RuntimeError("simulated fault in a stage")

    monkeypatch.setattr(Trainer, "train_step", broken)
    with qtbot.waitSignal(controller.runEnded, timeout=60_000) as ended:
        window.compare_view.findChild(object, "ladderButton").click()
    assert ended.args[0].failed and "simulated fault in a stage" in ended.args[0].message
    qtbot.waitUntil(lambda: not controller.is_training(), timeout=30_000)
    assert not controller.ladder_running() and status.text() == ""
    assert "simulated fault in a stage" in window.last_error


def test_every_export_opens_or_parses(qtbot, trained, tmp_path):
    window = trained
    for kind in ("heatmaps", "attention", "ffn", "loss"):
        assert window.export_view(kind, tmp_path / f"{kind}.png")
        assert not QImage(str(tmp_path / f"{kind}.png")).isNull()
    for kind in ("attention", "ffn", "loss"):
        assert window.export_view(kind, tmp_path / f"{kind}.svg")
        ET.parse(tmp_path / f"{kind}.svg")  # well-formed XML
        assert QSvgRenderer(str(tmp_path / f"{kind}.svg")).isValid()
    assert window.controller.export_loss_csv(tmp_path / "loss.csv")
    with open(tmp_path / "loss.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 25 and any(r["val"] for r in rows) and rows[0]["run"] == "run1"
    assert window.controller.export_inspection_json(tmp_path / "inspection.json")
    data = json.loads((tmp_path / "inspection.json").read_text())
    assert data["tokens"] == list("ROMEO:") and len(data["attention"][0][0]) == 6
    window.compare_view.export_csv(tmp_path / "runs.csv")
    with open(tmp_path / "runs.csv") as fh:
        assert len(list(csv.reader(fh))) == 2
    assert window.export_view("attention", tmp_path / "no" / "such" / "dir.svg") is False
    assert window.last_error


def test_an_ended_run_shows_its_mean_speed_as_it_does_when_opened_again(qtbot, window):
    """A trial's run said 19.8k tok/s at its end (its last 20 steps) and 396 once opened again
    (its mean: it had been starved for minutes). An ended run shows its mean in both."""
    controller = window.controller
    window.setup.iters_spin.setValue(30)
    with qtbot.waitSignal(controller.runEnded, timeout=60_000):
        window.train()
    qtbot.waitUntil(lambda: window.setup.progress_label.text().endswith("done"), timeout=10_000)
    run = controller.current
    settings = run.settings
    mean = run.step * settings["batch_size"] * settings["block_size"] / run.elapsed
    assert run.step == 30 and run.tokens_per_s == pytest.approx(mean)
    assert window.setup.progress_label.text() == f"{format_rate(mean)} tok/s · done"
    tip = window.setup.progress_label.toolTip()  # what the figure is, and why it may crawl
    assert "over all its steps once it has ended" in tip and "one torch thread" in tip
    assert open_run(qtbot, window, run.folder)
    assert controller.current.run_id != run.run_id  # opened as another run of the session
    assert controller.current.tokens_per_s == pytest.approx(mean, rel=0.01)
