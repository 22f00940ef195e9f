"""glibc's allocator: reusing big blocks while training, handing freed memory back after.

By default glibc maps every block above 128 kB-32 MB fresh from the kernel and unmaps it when
freed, and trims an arena's top as soon as 128 kB of it are free: a training step of the lecture
preset frees and maps again ~4 GB of activations, ~1.1 million page faults and ~3.5 s of kernel
time per 9 s step (in a thread; `keep_freed_memory` fixes that). The other way round, glibc keeps
what a thread frees in that thread's arena for reuse; after a big transient (an analysis over
hundreds of windows, a run's trainer let go) the process holds memory it may never need again
(`release_free_memory` hands it back). Elsewhere than glibc both are no-ops.
"""

from __future__ import annotations

import ctypes
import sys
from functools import cache

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
KEEP_FREED_BYTES = 1 << 30  # an arena's free top is handed back only beyond this


@cache
def _glibc():  # noqa: ANN202 - a ctypes library, or None
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None  # musl has none: not glibc


def keep_freed_memory() -> bool:
    """Every thread in one arena grown with brk, no block mapped on its own, and freed memory
    kept for reuse up to KEEP_FREED_BYTES. Process-wide; call it first thing, before any other
    thread has allocated: glibc settles its number of arenas at a thread's first allocation.

    Measured here at the lecture preset, training in a thread: 1,720 -> 2,510 tokens/s, page
    faults per step 1.1 million -> 7 thousand. One arena, because a thread's own arena is built
    of 64 MB heaps that it maps and unmaps as they fill and empty, whatever the settings. What it
    keeps, `release_free_memory` still hands back. True when there was a glibc to ask.
    """
    libc = _glibc()
    if libc is None:
        return False
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, KEEP_FREED_BYTES))
    return all(libc.mallopt(param, value) == 1 for param, value in settings)


def release_free_memory() -> bool:
    """malloc_trim(0) over every arena; True when there was a glibc to ask."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
