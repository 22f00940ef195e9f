"""The window follows a run that a real `headwatch train` process writes, and outlives it."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from headwatch.core.cli import EXIT_INTERRUPTED, main
from headwatch.core.follow import FollowUpdate
from headwatch.core.lock import LOCK, lock_state
from headwatch.core.runs import load_run
from headwatch.gui.app import window_options
from headwatch.gui.follow_bar import CLOSE_TEXT, STOP_TEXT
from headwatch.gui.follow_controller import LIVE
from headwatch.gui.following import ago, describe, followed_evaluations, followed_steps
from headwatch.gui.run_list import RunInfo
from tests.core.test_cli import SMALL
from tests.core.test_follow import start_writer
from tests.gui.conftest import open_run, stop_training
from tests.helpers import write_corpus

POLL_S = 0.2  # the window's look interval in these tests (1 s in the app)


@pytest.fixture
def writer(tmp_path):
    """A `headwatch train` process writing tmp_path/run (a weights snapshot every 0.2 s, an
    evaluation every 10 steps, far more steps than the test lasts); killed and waited at
    teardown."""
    out = tmp_path / "run"
    child = start_writer(tmp_path, out, "0.2")
    yield child, out
    if child.poll() is None:
        child.kill()
    child.wait()


def _has_weights(out) -> bool:
    return (out / "checkpoint.pt").exists() and any((out / "snapshots").glob("step-*.pt"))


def test_the_window_follows_a_run_as_it_is_written_and_outlives_its_writer(qtbot, window, writer):
    child, out = writer
    controller = window.controller
    statuses = []
    controller.followChanged.connect(statuses.append)
    reports = []
    controller.headsAnalysed.connect(reports.append)
    window.prompt_edit.setText("ROMEO:")
    qtbot.waitUntil(lambda: _has_weights(out), timeout=60_000)
    assert controller.follow_run(out, interval_s=POLL_S)

    def followed():
        run = controller.current
        return run is not None and run.folder == str(out) and run.step > 0

    qtbot.waitUntil(followed, timeout=30_000)
    run_id = controller.current.run_id
    assert controller.current.label.endswith("· following")
    assert controller.corpus.path == str(out.parent / "corpus.txt")  # the run's own text
    # the followed weights on show (the window's own preview had 4 heads, and step 0)
    qtbot.waitUntil(lambda: controller.last_inspection.step > 0, timeout=10_000)
    assert (window.attention_grid.n_layers, window.attention_grid.n_heads) == (2, 2)
    points, grid = window.loss_plot.train_count(run_id), window.attention_grid.head_image(0, 0)
    evaluations = window.loss_plot.val_count(run_id)

    # the writer goes on: the curve gains points and the grid shows newer weights
    qtbot.waitUntil(lambda: window.loss_plot.train_count(run_id) >= points + 20, timeout=20_000)
    qtbot.waitUntil(lambda: window.loss_plot.val_count(run_id) > evaluations, timeout=20_000)
    qtbot.waitUntil(
        lambda: not np.array_equal(window.attention_grid.head_image(0, 0), grid), timeout=20_000
    )
    assert statuses[-1].state == "following"
    text = window.follow_label.text()
    assert text.startswith("following · step ") and " · last update " in text
    assert window.follow_label.isVisible() and window.stop_follow_button.isVisible()
    assert window.setup.progress_label.text() == "following"
    assert window.setup.progress_bar.text().endswith(" / 1,000,000")

    # Train is off while another process writes the run, saying why (F5 too); asked anyway,
    # it is refused and following goes on
    train = window.setup.train_button
    assert not train.isEnabled() and not window.train_action.isEnabled()
    assert window.setup.why_not(train) == LIVE and LIVE in window.train_action.toolTip()
    assert window.retrain_action.isEnabled()  # a new run of its own: still possible
    window.train()
    assert f"is being trained by PID {child.pid}" in window.last_error
    assert controller.is_following() and not controller.is_training()

    child.send_signal(signal.SIGKILL)
    child.wait()
    qtbot.waitUntil(lambda: statuses[-1].state == "dead", timeout=10_000)
    assert f"(PID {child.pid}) is no longer running" in window.follow_label.text()
    assert controller.current.label == "run"  # its name, no longer "· following"
    # its heads are analysed on its last weights, knockout losses too, as at a run's end here
    last = f"weights at step {controller.snapshots.latest().step:,}"
    qtbot.waitUntil(
        lambda: (
            bool(reports)
            and reports[-1].description.endswith(last)
            and reports[-1].rows[0]["delta_loss"] is not None
        ),
        timeout=30_000,
    )
    assert lock_state(out)[1]["pid"] == child.pid  # the follower never touches the lock
    window.prompt_edit.setText("JULIET:")  # the window still works (block size 8)
    qtbot.waitUntil(lambda: "".join(controller.last_inspection.tokens) == "JULIET:", timeout=10_000)

    # once its writer is gone, Train continues the run here, as the same run of the session
    assert train.isEnabled() and window.train_action.isEnabled()
    window.train()
    qtbot.waitUntil(controller.is_training, timeout=10_000)
    assert not controller.is_following() and controller.current.run_id == run_id
    assert controller.current.label == "run"  # the folder's name, no longer "following"
    assert not window.follow_label.isVisible()
    qtbot.waitUntil(lambda: lock_state(out)[1]["pid"] == os.getpid(), timeout=30_000)
    stop_training(qtbot, window)
    assert not (out / LOCK).exists()


def test_a_followed_run_that_ends_is_closed_not_stopped_and_stays_on_show(qtbot, window, writer):
    child, out = writer
    controller = window.controller
    statuses = []
    controller.followChanged.connect(statuses.append)
    qtbot.waitUntil(lambda: _has_weights(out), timeout=60_000)
    assert controller.follow_run(out, interval_s=POLL_S)
    qtbot.waitUntil(lambda: statuses and statuses[-1].state == "following", timeout=30_000)
    run_id = controller.current.run_id
    button, action = window.stop_follow_button, window.stop_follow_action
    assert button.isVisible() and button.text() == "Stop following" and action.isEnabled()

    child.send_signal(signal.SIGINT)  # Ctrl+C where it trains: it saves its step and ends
    assert child.wait(timeout=60) == EXIT_INTERRUPTED
    qtbot.waitUntil(lambda: statuses[-1].state == "ended", timeout=10_000)
    final = load_run(out).step
    ended = f"the run ended at step {final:,} — Train continues it here"
    assert window.follow_label.text() == ended
    assert window.setup.progress_label.text() == "the run ended"
    # nothing trains it now: the bar offers to close the run, not to stop something
    assert button.isVisible() and button.text() == "Close followed run"
    assert action.text() == CLOSE_TEXT and action.isEnabled()
    assert button.toolTip() == f"Stop watching {out}; the run stays on show"
    qtbot.waitUntil(lambda: controller.last_inspection.step == final, timeout=10_000)

    button.click()
    assert not controller.is_following() and statuses[-1].state == "off"
    assert not window.follow_bar.isVisible() and not action.isEnabled()
    assert action.text() == STOP_TEXT  # for the next run followed
    # the run stays on show, with its last weights, and Train would continue it here
    assert controller.current.run_id == run_id and controller.current.label == "run"
    assert controller.can_continue()
    window.prompt_edit.setText("JULIET:")
    qtbot.waitUntil(lambda: "".join(controller.last_inspection.tokens) == "JULIET:", timeout=10_000)
    assert controller.last_inspection.step == final


def test_following_a_folder_that_is_no_run_is_one_message(qtbot, window, tmp_path):
    controller = window.controller
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    with qtbot.waitSignal(controller.problem, timeout=10_000) as blocker:
        controller.follow_run(folder, interval_s=POLL_S)
    assert "not a HeadWatch run" in blocker.args[0].message
    qtbot.waitUntil(lambda: not controller.is_following(), timeout=1000)
    assert not list(folder.iterdir())  # nothing written
    assert not window.follow_label.isVisible()


def test_headwatch_follow_run_dir_is_read_for_the_window():
    assert window_options(["--follow", "runs/x", "-platform", "offscreen"]) == (
        "runs/x",
        ["-platform", "offscreen"],
    )
    assert window_options(["--follow=runs/x"]) == ("runs/x", [])
    assert window_options([]) == (None, [])
    for bad in (["--follow"], ["--follow", "--other"], ["--follow="]):
        with pytest.raises(ValueError, match="--follow needs a run folder"):
            window_options(bad)


def test_a_run_that_ended_says_so_and_opening_another_run_stops_following(qtbot, window, tmp_path):
    out = tmp_path / "done"
    argv = ["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--out", str(out)]
    assert main(argv) == 0  # 12 steps, evaluations at 6 and 12
    controller = window.controller
    statuses = []
    controller.followChanged.connect(statuses.append)
    controller.follow_run(out, interval_s=POLL_S)
    qtbot.waitUntil(lambda: statuses and statuses[-1].state == "ended", timeout=10_000)
    run_id = controller.current.run_id
    assert window.follow_label.text() == "the run ended at step 12 — Train continues it here"
    assert window.loss_plot.train_count(run_id) == 12 and window.loss_plot.val_count(run_id) == 2
    qtbot.waitUntil(lambda: controller.last_inspection.step == 12, timeout=10_000)
    assert controller.can_continue()  # Train would continue it here

    assert open_run(qtbot, window, out)
    assert not controller.is_following() and statuses[-1].state == "off"
    assert not window.follow_label.isVisible()
    assert controller.runs.get(run_id).label == "done"


def _update(state: str, **fields) -> FollowUpdate:
    return FollowUpdate(state, **{"step": 1240, "idle_s": 3.2, **fields})


def test_the_status_line_says_what_following_is_doing():
    assert describe(_update("following"))[0] == "following · step 1,240 · last update 3 s ago"
    assert describe(_update("stale", idle_s=125.0)) == (
        "following · step 1,240 · no update for 2 min",
        "no update for 2 min",
    )
    assert describe(_update("ended"))[1] == "the run ended"
    assert "(PID 77) is no longer running" in describe(_update("dead", owner={"pid": 77}))[0]
    assert describe(_update("waiting", step=None))[0].endswith("waiting for the first checkpoint")
    assert [ago(s) for s in (0.4, 59.4, 61, 3600, 3900)] == [
        "0 s",
        "59 s",
        "1 min",
        "1 h",
        "1 h 5 min",
    ]


def test_followed_lines_become_the_messages_of_a_training_thread(tmp_path):
    out = tmp_path / "done"
    assert main(["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--out", str(out)]) == 0
    record = load_run(out)
    rows = record.metrics
    run = RunInfo("run1", "run1", "#1f77b4", {}, total=12)
    batch = followed_steps("run1", record, rows, run)
    losses = [row for row in rows if row.loss is not None]
    assert batch.steps == tuple(range(1, 13)) and batch.step == 12 and batch.total == 12
    assert batch.losses == tuple(row.loss for row in losses)
    chars = 11 * record.train_config.batch_size * record.model_config.block_size
    assert batch.tokens_per_s == pytest.approx(chars / (losses[-1].elapsed - losses[0].elapsed))
    assert [(e.step, e.val) for e in followed_evaluations("run1", rows)] == [
        (row.step, row.val) for row in rows if row.val is not None
    ]
    assert followed_steps("run1", record, [], run) is None
