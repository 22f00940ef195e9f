"""One writer per run folder: a lock file holding the owner's pid, host and start time.

The file is created with O_CREAT | O_EXCL, so of two processes only one can take it. A lock left
by a process of this host that is no longer running is taken over (with a note); a lock of another
host cannot be checked and is respected. Readers (inspect, sample, viewing) take no lock.
Torch-free, like core.storage.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from headwatch.core.storage import RunLocked, RunWriteError

LOCK = "train.lock"
# A lock file that cannot be parsed is being written by its owner at this very moment, unless it
# is older than this: then its owner died between creating and writing it.
_UNREADABLE_GRACE_S = 10.0


def _host() -> str:
    return socket.gethostname() or "this machine"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    except OSError:
        return False
    return True


def _read_owner(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RunLock:
    """The lock of one run folder. acquire() takes it or raises RunLocked; release() gives it back.

    notes: one line per thing worth telling the user (a stale lock taken over)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK
        self.held = False
        self.notes: list[str] = []

    def acquire(self) -> None:
        """Take the lock. Raises RunLocked when a live process holds it, RunWriteError when the
        lock file cannot be written. Holding it already is fine."""
        if self.held:
            return
        owner = {"pid": os.getpid(), "host": _host(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        for _ in range(3):  # a stale lock taken over, then raced: try again
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            except OSError as exc:
                raise RunWriteError(self.path, exc) from exc
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(owner, fh)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
                raise RunWriteError(self.path, exc) from exc
            self.held = True
            return
        self._raise_locked(self._read())

    def release(self) -> None:
        """Remove the lock file if this process holds it (never another's)."""
        if not self.held:
            return
        self.held = False
        owner = self._read()
        if owner is not None and owner.get("pid") == os.getpid() and owner.get("host") == _host():
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def _read(self) -> dict | None:
        return _read_owner(self.path)

    def _take_over_if_stale(self) -> None:
        """Remove the lock if its owner is gone; else raise RunLocked."""
        owner = self._read()
        if owner is None:
            try:
                age = time.time() - self.path.stat().st_mtime
            except FileNotFoundError:
                return  # released meanwhile: try again
            except OSError:
                age = 0.0
            if age < _UNREADABLE_GRACE_S:
                self._raise_locked({})
            stale = "an unreadable lock file"
        else:
            pid, host = owner.get("pid"), owner.get("host")
            if host != _host() or not isinstance(pid, int) or _alive(pid):
                self._raise_locked(owner)
            stale = f"the lock of PID {pid} (no longer running)"
        # rename, not unlink: of two processes taking over at once only one can move it away
        moved = self.path.with_name(f".{LOCK}.stale-{os.getpid()}")
        try:
            os.replace(self.path, moved)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise RunWriteError(self.path, exc) from exc
        if _read_owner(moved) != owner:  # another process took the lock just before us
            with contextlib.suppress(OSError):
                os.link(moved, self.path)
            with contextlib.suppress(OSError):
                os.unlink(moved)
            return
        with contextlib.suppress(OSError):
            os.unlink(moved)
        self.notes.append(f"note: took over {stale} in {self.folder}")

    def _raise_locked(self, owner: dict | None) -> None:
        owner = owner or {}
        pid = owner.get("pid") if isinstance(owner.get("pid"), int) else None
        raise RunLocked(
            self.folder, pid, str(owner.get("host") or "this machine"), str(owner.get("time", ""))
        )


def lock_state(folder: str | os.PathLike) -> tuple[str, dict | None]:
    """What a run's lock says, read without taking it: ("free", None), ("held", owner) by a live
    process of this host, ("dead", owner) left by one no longer running, or ("elsewhere", owner)
    held from another host (which cannot be checked from here)."""
    path = Path(folder) / LOCK
    if not path.exists():
        return "free", None
    owner = _read_owner(path)
    if owner is None:  # being written by its owner this very moment
        return "held", None
    pid, host = owner.get("pid"), owner.get("host")
    if host != _host():
        return "elsewhere", owner
    if isinstance(pid, int) and not _alive(pid):
        return "dead", owner
    return "held", owner
