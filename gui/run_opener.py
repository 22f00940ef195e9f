"""Open run off the GUI thread: a run folder is read and checked in a worker thread.

Reading a run means unpickling its checkpoint (~130 MB at the lecture preset) and its corpus;
on the GUI thread that froze the window. The controller sends an OpenRequest to a RunOpener
in a thread of its own and gets one typed message back (a RunRead, queued: the run, or why it
was refused); an answer to an Open that a newer one superseded is dropped by its version. Its
own thread, at the window's priority: unpickling holds the GIL, and in the analysis thread
(niced) a busy machine left the GUI thread waiting for it over 100 ms.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from headwatch.core.performance import use_torch_threads
from headwatch.core.storage import RunError
from headwatch.gui.messages import RunRead

if TYPE_CHECKING:  # torch-backed
    from headwatch.core.corpus import Corpus
    from headwatch.core.runs import RunRecord

log = logging.getLogger("headwatch")

RunReader = Callable[[str], "tuple[RunRecord, Corpus | None, str]"]


def read_saved_run(path: str | Path) -> tuple[RunRecord, Corpus | None, str]:
    """The run in folder `path` with its checkpoint, and its corpus if it can be continued:
    (record, corpus or None, why it cannot be continued or a note, else "").

    Raises RunError (said for a person) when the folder is not a run, is damaged, or has no
    checkpoint yet."""
    from headwatch.core.runs import load_run, resumable_corpus

    record = load_run(path)
    if record.checkpoint is None:
        raise RunError(f"{path}: has no checkpoint yet, so there are no weights to show")
    corpus, why = resumable_corpus(record)
    return record, corpus, why


@dataclass(frozen=True)
class OpenRequest:
    """One Open run: the folder, its version (newer Opens have higher ones), the reader to use
    (read_saved_run, or a test's), and whether it is still the newest Open."""

    path: str
    version: int
    reader: RunReader
    is_current: Callable[[], bool]


class RunOpener(QObject):
    """Reads run folders in its thread; every answer is one typed message."""

    read = Signal(object)  # RunRead, with no record when the folder is refused

    @Slot()
    def start(self) -> None:
        """In the worker's thread: one torch thread, as every thread but training's
        (core.performance)."""
        use_torch_threads(1)

    @Slot(object)
    def open(self, request: OpenRequest) -> None:
        if not request.is_current():  # superseded while it waited in the queue
            return
        try:
            record, corpus, why = request.reader(request.path)
        except RunError as exc:
            self.read.emit(RunRead(request.version, None, None, str(exc)))
            return
        except Exception as exc:  # the thread must never die of a strange folder
            log.error("could not open the run %s:\n%s", request.path, traceback.format_exc())
            message = f"{request.path}: cannot be read ({type(exc).__name__}: {exc})"
            self.read.emit(RunRead(request.version, None, None, message))
            return
        self.read.emit(RunRead(request.version, record, corpus, why))
