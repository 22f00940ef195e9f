"""Crash-safe file writes (a temp file beside the target, fsync, then rename over it), and the
errors a run folder can raise: torch-free, so the window can catch them without importing torch."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


class RunError(ValueError):
    """A run folder that cannot be used; the message names the folder and the problem.

    (Here rather than in core.runs so the window can catch it without importing torch.)"""


class RunWriteError(RunError):
    """Writing a run failed (disk full, permission, a folder gone): what was on disk before the
    failed write is intact, and the message says which step is kept.

    Attributes: path (the file that could not be written), step (the step being saved, or None),
    kept_step (the step of the checkpoint still on disk, or None when there is none)."""

    def __init__(
        self, path: Path, exc: OSError, step: int | None = None, kept_step: int | None = None
    ) -> None:
        self.path, self.step, self.kept_step = path, step, kept_step
        what = f"saving step {step}" if step is not None else f"writing {path.name}"
        kept = (
            f"the checkpoint of step {kept_step} is kept"
            if kept_step is not None
            else "nothing of this run was saved"
        )
        super().__init__(f"{describe_os_error(exc)} while {what} in {path.parent} — {kept}")


class RunLocked(RunError):
    """Another process is training this run; attributes pid, host, since (local time text)."""

    def __init__(self, folder: Path, pid: int | None, host: str, since: str) -> None:
        self.folder, self.pid, self.host, self.since = folder, pid, host, since
        who = f"PID {pid}" if pid is not None else "another process"
        started = f" since {since}" if since else ""
        super().__init__(
            f"{folder}: this run is being trained by {who} on {host}{started} — wait for it to "
            "finish or stop it, or train into another folder"
        )


def describe_os_error(exc: OSError) -> str:
    """'no space left', 'permission denied', ... : what a person can act on, in a few words."""
    known = {
        errno.ENOSPC: "no space left",
        errno.EDQUOT: "disk quota exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the disk is read-only",
        errno.ENOENT: "the folder has gone",
        errno.ENOTDIR: "a file stands where a folder should be",
        errno.EIO: "an input/output error",
    }
    return known.get(exc.errno, (exc.strerror or str(exc) or type(exc).__name__).lower())


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Either the old file or the complete new one exists at path, never a half-written one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
