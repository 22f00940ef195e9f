"""Following a run folder that another process writes: the app-state side (gui/following.py).

FollowController owns the one run followed (its gui.following.Following record and FollowWorker
thread): it starts and stops following, turns each look at the folder into what a training
thread would have sent (new losses, evaluations, weights) and says where following stands.
AppController owns it and hands it only what it needs: the session's runs, a way to add a run and
to update one (both publish), and a way to start a thread it counts. Everything else it tells
through its signals, which AppController connects to its own state and signals.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QMetaObject, QObject, Qt, Signal, Slot

from headwatch.core.compare import flat_settings
from headwatch.gui.messages import ENDED_STATES, FollowStatus, Problem, nothing_changed
from headwatch.gui.run_list import RunInfo, RunList
from headwatch.gui.threads import WorkerThread

# Train's reason to be off while the followed run's writer lives (its lock is held)
LIVE = "Another process trains the followed run: Train continues it here once it has ended"

if TYPE_CHECKING:  # torch-backed: loaded once following starts
    from headwatch.core.runs import MetricRow, RunRecord
    from headwatch.gui.following import Following, FollowOpened, FollowPolled


class FollowController(QObject):
    """The run another process writes, followed; see the module docstring. Signals only.

    new_run(settings, title, **figures) makes a new current run of the session and returns its
    id; update_run(run_id, **fields) changes a run and publishes it (runChanged);
    start_thread(thread, entry) starts a WorkerThread that the owner counts until it ends."""

    followChanged = Signal(object)  # FollowStatus of the run followed (state "off": none)
    status = Signal(str)  # a line for the status bar
    problem = Signal(object)  # Problem: a message for the user
    runReset = Signal(object)  # RunInfo whose curve starts over (metrics.jsonl was rewritten)
    opened = Signal(object)  # the followed run's Corpus, or None (view only), once read
    weightsRead = Signal(object, object, object)  # step, RunRecord, state dict: newer weights
    stepsReady = Signal(object)  # StepBatch of new per-step losses, as training sends them
    evaluated = Signal(object)  # Evaluation of a new evaluation line
    resumable = Signal(object)  # (RunRecord, Corpus) Train may continue here, or None: none
    stopped = Signal()  # following stopped (after followChanged "off")
    ended = Signal()  # the followed run's writer ended (or died): its last weights are in

    def __init__(
        self,
        runs: RunList,
        new_run: Callable[..., str],
        update_run: Callable[..., RunInfo],
        start_thread: Callable[[WorkerThread, Callable[[], None]], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._runs = runs
        self._new_run = new_run
        self._update_run = update_run
        self._start_thread = start_thread
        self._follow: Following | None = None
        self._count = 0

    def is_following(self) -> bool:
        return self._follow is not None

    def begin(self, path: Path, interval_s: float | None) -> None:
        """Start following the run folder at path (looked at every interval_s seconds, default
        gui.following.POLL_SECONDS); nothing else may be followed now."""
        from headwatch.gui.following import POLL_SECONDS, Following, FollowWorker

        self._count += 1
        token = f"follow{self._count}"
        worker = FollowWorker(token, path, interval_s or POLL_SECONDS)
        worker.opened.connect(self._on_opened)
        worker.polled.connect(self._on_polled)
        worker.failed.connect(self._on_failed)
        thread = WorkerThread(worker, "follow")
        self._follow = Following(token, thread, worker, str(path))
        self._start_thread(thread, worker.start)
        self.followChanged.emit(
            FollowStatus(str(path), "opening", f"opening {path}…", "opening…", why_not_train=LIVE)
        )

    def stop(self) -> None:
        """Stop looking at the followed run; it stays in the session's runs, on show."""
        follow, self._follow = self._follow, None
        if follow is None:
            return
        # the worker stops its timer in its own thread, then ends that thread
        QMetaObject.invokeMethod(follow.worker, "stop", Qt.ConnectionType.QueuedConnection)
        ended = follow.state in ENDED_STATES
        if follow.run_id is not None and not ended:
            self.resumable.emit(None)  # its writer may still write: Train starts a new run now
        if follow.run_id is not None and follow.run_id in self._runs:
            self._name_by_folder(follow)
        self.followChanged.emit(FollowStatus(follow.folder, "off", ""))
        # a run that ended is not followed any more, only its folder watched (for a resume)
        done = "No longer watching" if ended else "Stopped following"
        self.status.emit(f"{done} {follow.folder}")
        self.stopped.emit()

    def why_not_train(self, can_resume: bool) -> tuple[str, str] | None:
        """Train pressed while a run is followed: None when its writer is gone and Train may
        continue it here (can_resume: its record and corpus are at hand); else (title,
        message) saying why not."""
        from headwatch.gui.following import why_not_train

        if self._follow.state in ENDED_STATES and can_resume:
            return None
        return why_not_train(self._follow)

    @Slot(object)
    def _on_opened(self, message: FollowOpened) -> None:
        from headwatch.core.model import GPT

        follow = self._follow
        if follow is None or message.token != follow.token:
            return
        record = message.record
        settings = flat_settings(
            record.model_config.to_dict(),
            record.train_config.to_dict(),
            record.corpus.get("name", "?"),
        )
        follow.run_id = self._new_run(
            settings,
            f"{record.path.name} · following",
            folder=str(record.path),
            parameters=GPT.unfilled(record.model_config, "meta").num_parameters(),
            total=record.train_config.max_iters,
        )
        follow.record, follow.corpus, follow.why = record, message.corpus, message.why
        self.opened.emit(message.corpus)
        note = f" — to view only: {message.why}" if message.corpus is None else ""
        self.status.emit(f"Following {record.path}{note}")

    @Slot(object)
    def _on_polled(self, message: FollowPolled) -> None:
        from headwatch.gui.following import describe

        follow = self._follow
        if follow is None or message.token != follow.token or follow.run_id is None:
            return
        update, run_id = message.update, follow.run_id
        if message.weights is not None:
            step, state = message.weights
            self.weightsRead.emit(step, follow.record, state)
        if update.reset:  # metrics.jsonl was rewritten: the curve starts over
            self.runReset.emit(self._runs.update(run_id, best_val=None, last_train=None))
        self._add_rows(run_id, follow.record, update.rows)
        ended_now = update.state in ENDED_STATES and follow.state not in ENDED_STATES
        follow.state, follow.owner = update.state, update.owner
        if ended_now:
            self._name_by_folder(follow)
        if message.ended_record is not None and follow.corpus is not None:
            self.resumable.emit((message.ended_record, follow.corpus))  # Train continues it here
        elif update.state not in ENDED_STATES:
            self.resumable.emit(None)
        run = self._runs.get(run_id)
        text, short = describe(update)
        if update.state not in ENDED_STATES:
            why = LIVE
        else:  # Train continues it here, if its corpus is at hand
            why = f"It can only be viewed here: {follow.why}" if follow.corpus is None else ""
        self.followChanged.emit(
            FollowStatus(follow.folder, update.state, text, short, run.step, run.total, why)
        )
        if ended_now:
            self.ended.emit()

    def _name_by_folder(self, follow: Following) -> None:
        """The followed run is no longer "· following": its folder's name."""
        name = Path(follow.folder).name
        self._update_run(follow.run_id, title=name, label=name)

    def _add_rows(self, run_id: str, record: RunRecord, rows: list[MetricRow]) -> None:
        """New metric lines of the followed run, as if its training thread had sent them."""
        from headwatch.gui.following import followed_evaluations, followed_steps

        batch = followed_steps(run_id, record, rows, self._runs.get(run_id))
        if batch is not None:
            self.stepsReady.emit(batch)
        for evaluation in followed_evaluations(run_id, rows):
            self.evaluated.emit(evaluation)

    @Slot(str, str)
    def _on_failed(self, token: str, message: str) -> None:
        follow = self._follow
        if follow is None or token != follow.token:
            return
        if follow.run_id is None:  # the folder is no run: there is nothing to follow
            self.stop()
        self.problem.emit(Problem("Cannot follow this run", nothing_changed(message)))
