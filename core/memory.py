"""Handing freed memory back to the operating system (glibc's allocator; elsewhere a no-op).

glibc keeps what a thread frees in that thread's arena for reuse; after a big transient (an
analysis over hundreds of windows, a run's trainer let go) a long-lived thread holds tens of MB
it may never need again, and the window's resident memory only grows.
"""

from __future__ import annotations

import ctypes
import sys
from functools import cache


@cache
def _malloc_trim():  # noqa: ANN202 - a ctypes function, or None
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, say)
        return None


def release_free_memory() -> bool:
    """malloc_trim(0) over every arena; True when there was a glibc to ask."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
