"""The timeline bar alone: the slider asks for snapshot steps, Live for the newest weights, and
Play walks the snapshots at its speed and stops at the last."""

from __future__ import annotations

from headwatch.gui.timeline_bar import TimelineBar

STEPS = [0, 10, 20, 50, 100]


def test_moves_ask_for_steps_and_live_asks_to_follow(qtbot):
    bar = TimelineBar()
    qtbot.addWidget(bar)
    assert not bar.slider.isEnabled() and bar.step_label.text() == "no snapshots yet"
    bar.set_timeline(STEPS, None)
    assert bar.slider.value() == 4 and bar.live_button.isChecked()
    with qtbot.waitSignal(bar.stepRequested) as moved:
        bar.slider.setValue(2)
    assert moved.args == [20] and not bar.live_button.isChecked()
    assert bar.step_label.text() == "step 20"
    bar.set_timeline([*STEPS, 200], 20)  # a new snapshot: the slider stays on step 20
    assert bar.slider.value() == 2 and bar.slider.maximum() == 5
    bar.set_timeline(STEPS, 60)  # a step thinned away: the nearest is shown
    assert bar.slider.value() == 3
    with qtbot.waitSignal(bar.liveRequested):
        bar.live_button.click()
    assert bar.live_button.isChecked()
    bar.set_timeline(STEPS, None)
    bar.show_step(123)
    assert bar.step_label.text() == "Live · step 123"


def test_play_walks_every_snapshot_from_the_first_and_stops(qtbot):
    bar = TimelineBar()
    qtbot.addWidget(bar)
    bar.set_timeline(STEPS, None)
    bar.set_speed(8)
    requested = []
    bar.stepRequested.connect(requested.append)
    bar.play()
    assert bar.is_playing()
    qtbot.waitUntil(lambda: not bar.is_playing(), timeout=5_000)
    assert requested == STEPS
    assert bar.play_button.text() == "▶ Play"
    # pressing Play at the end starts from the first again; pausing keeps the position
    requested.clear()
    bar.play()
    qtbot.waitUntil(lambda: len(requested) >= 2, timeout=5_000)
    bar.stop_playing()
    position = bar.slider.value()
    assert requested == STEPS[: len(requested)] and position == len(requested) - 1
    bar.play()  # resumes from there, not from the first
    qtbot.waitUntil(lambda: not bar.is_playing(), timeout=5_000)
    assert requested == STEPS
