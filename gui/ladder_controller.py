"""The lecture's ladder in the window: its stages trained in turn, each a run of the session.

LadderController owns the stages still to train and says where the ladder stands
(ladderChanged). AppController owns it, starts it once the training in progress has stopped,
calls next_stage() when a stage's run is done and end() when one stops or fails; it hands it only
what a stage needs: the corpus's vocabulary size and a way to retrain with a stage's settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from headwatch.core.config import ConfigError, GPTConfig, TrainConfig
from headwatch.gui.messages import LadderStatus, Problem

if TYPE_CHECKING:  # torch-backed: loaded once the ladder runs
    from headwatch.core.ladder import Stage


class LadderController(QObject):
    """The ladder's stages still to train; see the module docstring. Signals only.

    vocab_size() is the corpus's vocabulary size; retrain(model_config, train_config, title)
    starts a new run (once training in progress has stopped) and returns False, with a message
    to the user, when the corpus cannot take these settings."""

    ladderChanged = Signal(object)  # LadderStatus
    problem = Signal(object)  # Problem: a message for the user

    def __init__(
        self,
        vocab_size: Callable[[], int],
        retrain: Callable[[GPTConfig, TrainConfig, str], bool],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._vocab_size = vocab_size
        self._retrain = retrain
        self._stages: list[Stage] = []  # stages still to train, when the ladder runs
        self._iters = 0

    def running(self) -> bool:
        return bool(self._stages)

    def begin(self, iters: int) -> None:
        """Every stage of the lecture's ladder is to train, iters steps each; next_stage()
        starts the first."""
        from headwatch.core.ladder import STAGES

        self._stages = list(STAGES)
        self._iters = iters

    def next_stage(self) -> None:
        """Train the next stage as a new run; the ladder ends when none is left."""
        from headwatch.core.ladder import STAGES
        from headwatch.core.ladder import train_config as ladder_train_config

        if not self._stages:
            self.end("The ladder is done: compare the stages' val loss.")
            return
        stage = self._stages.pop(0)
        done = len(STAGES) - len(self._stages)
        self.ladderChanged.emit(LadderStatus(True, f"stage {done} of {len(STAGES)}: {stage.label}"))
        try:
            model_config = stage.model_config(self._vocab_size())
            train_config = ladder_train_config(self._iters, eval_iters=50)
        except ConfigError as exc:
            self.end("")
            self.problem.emit(Problem("Cannot run the ladder", str(exc)))
            return
        if not self._retrain(model_config, train_config, stage.label):
            self.end("")

    def end(self, text: str) -> None:
        """No more stages; text says why (shown by the Compare tab)."""
        self._stages = []
        self.ladderChanged.emit(LadderStatus(False, text))

    def drop(self) -> None:
        """No more stages, told to nobody: the app is closing."""
        self._stages = []
