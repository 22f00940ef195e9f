"""LossPlot: runs, batched appends, TensorBoard EMA, log scale, hover text, legend."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication, QCheckBox, QLabel, QSlider

from headwatch.gui.loss_plot import HINT, FittingLabel, LossPlot, _round_up
from headwatch.gui.messages import Progress, RunState
from headwatch.gui.run_list import PALETTE, pick_colour


def start_run(plot: LossPlot, run_id: str, label: str) -> None:
    """As the controller does: the next free colour of the palette."""
    used = [plot.colour(r) for r in plot.run_ids()]
    plot.start_run(run_id, label, pick_colour(used, len(used)))


def reference_ema(values, weight: float) -> np.ndarray:
    """TensorBoard's debiased EMA, written out plainly."""
    last, out = 0.0, []
    for i, x in enumerate(values):
        last = last * weight + (1 - weight) * x
        out.append(last / (1 - weight ** (i + 1)))
    return np.array(out)


def noisy_loss(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1.6 + 2.6 * np.exp(-np.arange(n) / 300) + rng.normal(0, 0.08, n)


def feed(plot: LossPlot, run_id: str, losses: np.ndarray, batch: int = 37) -> None:
    for start in range(0, len(losses), batch):
        chunk = losses[start : start + batch]
        plot.add_train_points(run_id, list(range(start, start + len(chunk))), chunk.tolist())


@pytest.fixture
def plot(qtbot) -> LossPlot:
    widget = LossPlot()
    qtbot.addWidget(widget)
    return widget


def curves(plot: LossPlot) -> list[pg.PlotDataItem]:
    return [item for item in plot.plot_item.listDataItems() if isinstance(item, pg.PlotDataItem)]


def hint_label(plot: LossPlot) -> QLabel:
    return next(label for label in plot.findChildren(QLabel) if label.text() == HINT)


def test_empty_state_hint_goes_away_with_the_first_run(plot):
    assert plot.objectName() == "lossPlot"
    assert plot.run_ids() == []
    assert plot.describe_point(10, 2.0) == ""
    assert not hint_label(plot).isHidden()
    start_run(plot, "a", "heads=4")
    assert hint_label(plot).isHidden()


def test_two_runs_grow_in_batches_with_distinct_colours(plot):
    start_run(plot, "a", "heads=4")
    start_run(plot, "b", "heads=1")
    plot.add_train_points("a", [0, 1, 2], [4.2, 4.1, 4.0])
    plot.add_train_points("a", [3, 4], [3.9, 3.8])
    plot.add_train_points("b", [0], [4.3])
    plot.add_val_point("a", 4, train=3.85, val=3.95)
    assert plot.run_ids() == ["a", "b"]
    assert (plot.train_count("a"), plot.train_count("b")) == (5, 1)
    assert (plot.val_count("a"), plot.val_count("b")) == (1, 0)
    assert plot.colour("a") != plot.colour("b")
    assert plot.label("b") == "heads=1"


def test_colours_cycle_and_freed_colours_are_reused(plot):
    for i in range(len(PALETTE)):
        start_run(plot, f"r{i}", f"run {i}")
    assert [plot.colour(f"r{i}") for i in range(len(PALETTE))] == list(PALETTE)
    start_run(plot, "extra", "run 10")
    assert plot.colour("extra") in PALETTE
    plot.remove_run("r3")
    start_run(plot, "again", "run 11")
    assert plot.colour("again") == PALETTE[3]


def test_ema_matches_reference_across_batches(plot):
    losses = noisy_loss(700)
    start_run(plot, "a", "heads=4")
    feed(plot, "a", losses)
    assert plot.smoothing() == pytest.approx(0.6)
    np.testing.assert_allclose(plot.smoothed("a"), reference_ema(losses, 0.6), rtol=1e-10)


def test_ema_skips_non_finite_losses_like_tensorboard(plot):
    start_run(plot, "a", "lr=1")
    plot.add_train_points("a", [0, 1, 2, 3], [2.0, float("nan"), 1.0, 3.0])
    smoothed = plot.smoothed("a")
    assert np.isnan(smoothed[1])
    np.testing.assert_allclose(smoothed[[0, 2, 3]], reference_ema([2.0, 1.0, 3.0], 0.6))


def test_changing_smoothing_recomputes_every_curve(plot):
    a, b = noisy_loss(300, seed=1), noisy_loss(120, seed=2)
    start_run(plot, "a", "heads=4")
    start_run(plot, "b", "heads=1")
    feed(plot, "a", a)
    feed(plot, "b", b)
    plot.set_smoothing(0.9)
    np.testing.assert_allclose(plot.smoothed("a"), reference_ema(a, 0.9), rtol=1e-10)
    np.testing.assert_allclose(plot.smoothed("b"), reference_ema(b, 0.9), rtol=1e-10)
    assert plot.findChild(QSlider, "smoothingSlider").value() == 90
    # New points continue the new EMA.
    plot.add_train_points("b", [120, 121], [1.7, 1.75])
    expected = reference_ema([*b, 1.7, 1.75], 0.9)
    np.testing.assert_allclose(plot.smoothed("b"), expected, rtol=1e-10)
    # The slider drives it too; weight 0 shows the raw losses.
    plot.findChild(QSlider, "smoothingSlider").setValue(0)
    assert plot.smoothing() == 0.0
    np.testing.assert_allclose(plot.smoothed("a"), a)


def test_smoothing_is_clamped(plot):
    plot.set_smoothing(1.5)
    assert plot.smoothing() == pytest.approx(0.99)
    plot.set_smoothing(-1)
    assert plot.smoothing() == 0.0


def test_log_scale_toggle_sets_log_mode_on_the_plot(plot):
    start_run(plot, "a", "heads=4")
    feed(plot, "a", noisy_loss(50))
    check = plot.findChild(QCheckBox, "logScaleCheck")
    assert check.text() == "Log scale"
    assert not check.isChecked()
    plot.set_log_scale(True)
    assert check.isChecked()
    assert plot.plot_item.ctrl.logYCheck.isChecked()
    assert all(item.opts["logMode"] == [False, True] for item in curves(plot))
    check.click()
    assert not plot.plot_item.ctrl.logYCheck.isChecked()


def test_axes_are_labelled(plot):
    assert plot.plot_item.getAxis("bottom").labelText == "step"
    assert plot.plot_item.getAxis("left").labelText == "loss"


def two_level_runs(plot: LossPlot) -> None:
    steps = list(range(1000))
    start_run(plot, "high", "heads=1")
    start_run(plot, "low", "heads=4")
    plot.add_train_points("high", steps, [3.0] * 1000)
    plot.add_train_points("low", steps, [1.0] * 1000)
    plot.add_val_point("high", 600, train=2.9, val=3.4)
    plot.add_val_point("low", 400, train=1.1, val=1.2)


def test_describe_point_names_the_nearest_run_and_step(plot):
    two_level_runs(plot)
    text = plot.describe_point(500.2, 1.05)
    assert text.startswith("heads=4 · step 500 · train 1.000 (smoothed 1.000)")
    assert plot.describe_point(250, 2.8).startswith("heads=1 · step 250 · train 3.000")
    # A train point where an eval happened also shows the val loss.
    assert plot.describe_point(400, 1.0).endswith("· val 1.200")
    # Right on a val marker: the eval's val and train estimates.
    assert plot.describe_point(600, 3.4) == "heads=1 · step 600 · val 3.400 · train (eval) 2.900"


def test_describe_point_in_log_scale(plot):
    two_level_runs(plot)
    plot.set_log_scale(True)
    assert plot.describe_point(100, 1.3).startswith("heads=4 · step 100")


def test_hover_shows_the_description(qtbot, plot):
    plot.resize(800, 400)
    plot.show()
    qtbot.waitExposed(plot)
    two_level_runs(plot)
    plot.plot_item.getViewBox().setRange(xRange=(0, 1000), yRange=(0, 4), padding=0)
    scene_pos = plot.plot_item.getViewBox().mapViewToScene(QPointF(700, 2.9))
    plot.plot_item.scene().sigMouseMoved.emit(scene_pos)
    assert plot.hover_text() == plot.describe_point(700, 3.0)
    assert plot.hover_text().startswith("heads=1 · step 700")
    plot.set_log_scale(True)  # the view changes under the cursor: hide the stale tip
    assert plot.hover_text() == ""


def test_set_label_updates_the_legend_in_place(plot):
    start_run(plot, "a", "heads=4")
    start_run(plot, "b", "heads=1")
    plot.set_label("a", "heads=4 · lr=3e-3")
    assert plot.label("a") == "heads=4 · lr=3e-3"
    assert plot.legend_text("a") == "heads=4 · lr=3e-3"
    assert plot.legend_text("b") == "heads=1"
    assert len(plot.plot_item.legend.items) == 2  # one entry per run


def test_remove_run_and_clear(plot):
    start_run(plot, "a", "heads=4")
    start_run(plot, "b", "heads=1")
    feed(plot, "a", noisy_loss(40))
    curves_per_run = len(curves(plot)) // 2
    plot.remove_run("a")
    assert plot.run_ids() == ["b"]
    assert len(curves(plot)) == curves_per_run == 3
    assert len(plot.plot_item.legend.items) == 1
    plot.add_train_points("a", [40], [2.0])  # a late batch for a removed run is dropped
    plot.add_val_point("a", 40, 2.0, 2.1)
    assert plot.run_ids() == ["b"]
    plot.clear()
    assert plot.run_ids() == []
    assert curves(plot) == []
    assert not hint_label(plot).isHidden()


def test_restarting_a_run_id_starts_it_over(plot):
    start_run(plot, "a", "heads=4")
    feed(plot, "a", noisy_loss(30))
    start_run(plot, "a", "heads=4")
    assert plot.train_count("a") == 0


def test_a_long_run_keeps_appending(plot):
    losses = noisy_loss(20_000)
    start_run(plot, "long", "heads=4")
    feed(plot, "long", losses, batch=50)
    for step in range(0, 20_000, 200):
        plot.add_val_point("long", step, float(losses[step]), float(losses[step]) + 0.05)
    assert plot.train_count("long") == 20_000
    assert plot.val_count("long") == 100
    np.testing.assert_allclose(plot.smoothed("long"), reference_ema(losses, 0.6), rtol=1e-9)


def test_the_view_follows_the_data_in_a_few_coarse_steps(plot):
    start_run(plot, "a", "heads=4")
    view = plot.plot_item.getViewBox()
    ranges = []
    losses = noisy_loss(2000)
    for start in range(0, 2000, 20):  # 100 batches, as training sends them
        plot.add_train_points("a", list(range(start, start + 20)), losses[start : start + 20])
        ranges.append(tuple(map(tuple, view.viewRange())))
        (x0, x1), (y0, y1) = view.viewRange()
        assert x0 <= 0 and x1 >= start + 19  # every point stays in view
        assert y0 <= losses[: start + 20].min() and y1 >= losses[: start + 20].max()
    changes = sum(a != b for a, b in zip(ranges, ranges[1:], strict=False))
    assert changes <= 15  # not at every batch: each change repaints both axes
    assert not any(view.autoRangeEnabled())


def test_the_step_axis_ends_near_the_runs_total_not_at_the_next_round_number(plot):
    start_run(plot, "a", "run")
    view = plot.plot_item.getViewBox()
    plot.set_total(1_200)
    feed(plot, "a", noisy_loss(1_200), batch=100)
    (x0, x1), _ = view.viewRange()
    # without the total, 1,200 steps would end the axis at the next round number, 2,000
    assert x0 <= 0 and 1_199 <= x1 <= 1_200 * 1.05
    plot.set_total(None)
    assert view.viewRange()[0][1] >= 2_000  # the coarse steps, where the total is unknown


def test_the_step_axis_follows_the_windows_progress_reports(window):
    window.controller.progressChanged.emit(Progress(0, 1_200, 0.0, None, RunState.TRAINING))
    start_run(window.loss_plot, "a", "run")
    feed(window.loss_plot, "a", noisy_loss(1_200), batch=100)
    assert window.loss_plot.plot_item.getViewBox().viewRange()[0][1] <= 1_200 * 1.05


def test_panning_stops_the_following_and_the_a_button_resumes_it(plot):
    start_run(plot, "a", "run")
    feed(plot, "a", noisy_loss(300))
    view = plot.plot_item.getViewBox()
    view.setRange(xRange=(50, 60), yRange=(2, 3), padding=0)
    view.sigRangeChangedManually.emit(view.state["mouseEnabled"])  # as a mouse drag does
    plot.add_train_points("a", [300, 301], [2.0, 2.0])
    assert view.viewRange()[0] == pytest.approx([50, 60])
    view.enableAutoRange()  # pyqtgraph's "A" button
    plot.add_train_points("a", [302], [2.0])
    (x0, x1), _ = view.viewRange()
    assert x0 <= 0 and x1 >= 302 and not any(view.autoRangeEnabled())


def test_log_scale_follows_in_log_units(plot):
    start_run(plot, "a", "run")
    feed(plot, "a", noisy_loss(500))
    plot.set_log_scale(True)
    _, (y0, y1) = plot.plot_item.getViewBox().viewRange()
    assert y0 <= np.log10(noisy_loss(500).min()) and y1 >= np.log10(noisy_loss(500).max())
    assert y1 < 1  # log10 units, not losses


@pytest.mark.parametrize(
    ("value", "rounded"), [(1, 1), (1.5, 2), (2.2, 2.5), (3, 5), (7, 10), (1020, 2000), (0.3, 0.5)]
)
def test_ranges_round_up_to_round_numbers(value, rounded):
    assert _round_up(value) == pytest.approx(rounded)


def test_the_key_shortens_rather_than_being_cut(qtbot):
    key = FittingLabel(("faint: raw · dashed ●: val", "dashed ●: val", "●: val"))
    qtbot.addWidget(key)
    key.show()
    shown = set()
    for width in (20, 60, 110, 170, 400):
        key.resize(width, 24)
        qtbot.waitUntil(lambda w=width: key.width() == w)
        assert key.fontMetrics().horizontalAdvance(key.text()) <= key.contentsRect().width()
        shown.add(key.text())
    assert shown == {"", "●: val", "dashed ●: val", "faint: raw · dashed ●: val"}


LONG_LABELS = (
    "b-lecture",
    "heads=1 · lr=3e-3",
    "heads=2 · lr=1e-3",
    "heads=8 · lr=3e-4 · embd=384",
    "layers=6 · heads=6 · embd=384 · block=256",
    "dropout=0.2",
    "batch=64",
    "seed=7",
)


@pytest.mark.parametrize("count", [1, 3, 8])
@pytest.mark.parametrize("size", [(540, 210), (1000, 330)], ids=["laptop", "large"])
def test_the_legend_never_covers_the_curves(qtbot, plot, count, size):
    plot.resize(*size)
    plot.show()
    qtbot.waitExposed(plot)
    for k, label in enumerate(LONG_LABELS[:count]):
        start_run(plot, f"r{k}", label)
        feed(plot, f"r{k}", noisy_loss(300, seed=k) + 0.1 * k)
    QApplication.processEvents()
    legend, view = plot.plot_item.legend, plot.plot_item.getViewBox()
    assert len(legend.items) == count
    shown = legend.sceneBoundingRect()
    assert not shown.intersects(view.sceneBoundingRect())  # above the data, not over it
    assert shown.right() <= plot.plot_item.sceneBoundingRect().right() + 1  # all of it on show
    assert view.height() >= 0.5 * size[1] - 40  # the data keeps most of the height
    texts = [plot.legend_text(f"r{k}") for k in range(count)]
    assert len(set(texts)) == count  # cut or not, the runs are told apart
    for text, label in zip(texts, LONG_LABELS, strict=False):
        # whole, or cut once in its middle (its whole in the hover tip and the Runs table)
        head, tail = text.split("…") if text != label else (text, "")
        assert head and label.startswith(head) and label.endswith(tail)
