"""How HeadWatch uses the machine: device, precision, torch threads, thread priorities, memory.

Every speed policy of the app lives here, each with the reason it pays (the measurements are in
docs/performance.md):

- Device (`resolve_device`): "auto" takes cuda, then mps, then the CPU; a named device must exist.
- Precision (`resolve_precision`): "auto" trains in bf16 where the device multiplies bf16 in
  hardware (a CUDA GPU with bf16; a CPU with AVX512-BF16 or AMX, `native_bf16_cpu`) and, on a
  CPU, where a step has at least BF16_MIN_STEP_FLOPS of matmul work: below that, casting the
  activations to bf16 costs what the bf16 matmuls save. A CUDA GPU without bf16 gets fp16 (with
  a gradient scaler, core.trainer). Elsewhere fp32 (torch only emulates bf16 on other CPUs,
  slower than fp32). Big models (FAST_INSPECTION_MIN_PARAMS) are also *viewed* in
  bf16 on such a CPU (`inspect_in_bf16`), which keeps typing live on them.
- CUDA (`use_tf32_matmuls`, `pinned_copy`): TF32 for the matmuls left in fp32; batches copied
  from pinned memory without blocking, so the copy overlaps the step in flight.
- Torch threads (`use_torch_threads`, `keep_gui_thread_serial`, TRAIN_THREADS): only the training
  thread runs torch on several threads (torch's default count, TRAIN_THREADS); the GUI, inspection
  and analysis threads run serial. libgomp keeps a pool of helper threads per thread that ran a
  parallel op; once there are more helpers than cores it stops spinning between ops, and each op of
  the training thread waits for a sleeping helper to wake: training fell to half speed after the GUI
  thread had merely built a model. While it trains (the window, `headwatch train`), `ThreadTuner`
  now and then tries one thread instead and keeps the faster: beside another busy process, two
  threads on two cores wait for each other at every op.
- Priorities (`lower_priority`, `give_way_to_the_window`, TRAIN_NICENESS, ANALYSIS_NICENESS):
  training runs below the window (its OpenMP helpers inherit that), analyses and samples between
  the two, so a keystroke's inspection takes a core at once instead of queueing behind them.
- Memory (`keep_freed_memory`, `release_free_memory`): glibc maps every big block fresh from the
  kernel and unmaps it when freed, so each training step paid a page fault per 4 kB of its
  activations; kept and reused instead, and handed back after a big transient (an analysis, a run
  let go). Elsewhere than glibc both are no-ops.
- Garbage collection (`freeze_torch_optimizer_imports`): what torch's optimizers import lazily
  (~120k objects) is imported at start-up and frozen with the window's start-up objects, so
  Python's full collections (which stop every thread) never walk it.

Importing this module loads no torch (the window shows itself before torch loads): the functions
that need torch import it when called, and TRAIN_THREADS is read at its first use.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import statistics
import sys
import threading
from collections import deque
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from headwatch.core.config import ConfigError

if TYPE_CHECKING:
    import torch

# --- device and precision ------------------------------------------------------------------------

# Matmul FLOPs of one training step (6 x matmul weights x tokens) from which bf16 pays on a CPU
# with bf16 in hardware: below it, the tiny preset (0.08 GFLOP) trains 0.90-1.00x as fast as fp32.
BF16_MIN_STEP_FLOPS = 3e8
# Models at least this big are viewed (inspected, sampled, analysed) in bf16 on such a CPU.
FAST_INSPECTION_MIN_PARAMS = 2_000_000


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for a setting: "auto" picks cuda, then mps, then cpu.

    Raises ConfigError for an unknown name or a device this machine does not have.
    """
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for, but no CUDA GPU is available; use auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' asked for, but MPS is not available; use auto or cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device {name!r} is not supported; use auto, cpu, cuda or mps")
    return device


def resolve_precision(precision: str, device: torch.device, step_flops: float = math.inf) -> str:
    """ "auto" -> "bf16" or "fp32" for training on `device` (see the module docstring); "fp32"
    and "bf16" are returned as they are. step_flops: matmul FLOPs of one training step."""
    if precision != "auto":
        return precision
    import torch

    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    pays = step_flops >= BF16_MIN_STEP_FLOPS
    return "bf16" if device.type == "cpu" and native_bf16_cpu() and pays else "fp32"


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 can run on `device` at all (emulated on a CPU without it: slow, but right)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type in ("cpu", "mps")


def use_tf32_matmuls() -> None:
    """fp32 matmuls on CUDA through TF32 tensor cores (10-bit mantissa inputs, fp32 sums): several
    times the fp32 rate on Ampere and later, for what stays fp32 under autocast. No effect on a
    CPU."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def pinned_copy(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """tensor on device: to a GPU from page-locked memory without blocking (the copy overlaps
    the step in flight); elsewhere a plain copy."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def inspect_in_bf16(num_parameters: int, device: torch.device) -> bool:
    """Whether a model is viewed under bf16: a big one on a CPU with bf16 in hardware."""
    big = num_parameters >= FAST_INSPECTION_MIN_PARAMS
    return big and device.type == "cpu" and native_bf16_cpu()


@cache
def native_bf16_cpu() -> bool:
    """Whether this CPU has bf16 dot products (AVX512-BF16 or AMX). Read from /proc/cpuinfo:
    False where that is missing (elsewhere than Linux)."""
    try:
        return has_bf16_flag(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return False


def has_bf16_flag(cpuinfo: str) -> bool:
    """Whether /proc/cpuinfo's text lists avx512_bf16 or amx_bf16 among the CPU's flags."""
    return any(flag in ("avx512_bf16", "amx_bf16") for flag in cpuinfo.split())


# --- torch threads -------------------------------------------------------------------------------


@cache
def _default_torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def __getattr__(name: str) -> int:
    """TRAIN_THREADS: torch's default thread count, for the training thread. Read at its first
    use, before any thread sets a count (`use_torch_threads` reads it first), and kept."""
    if name == "TRAIN_THREADS":
        return _default_torch_threads()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def use_torch_threads(n: int) -> None:
    """Fix the calling thread's torch thread count at n for good.

    torch sets a thread's count lazily, at its first parallel op, from the count last set by any
    thread: a count set before that is overwritten (the viewing threads came up with 2 once the
    training thread had set 2). Reading the count first makes that set-up happen now.
    """
    import torch

    _default_torch_threads()  # torch's own default, read before this sets any count
    torch.get_num_threads()
    torch.set_num_threads(n)


class ThreadTuner:
    """Chooses the training thread's torch thread count while it trains, between TRAIN_THREADS
    and 1: now and then a short probe with the other count, kept when its steps are faster.

    Beside another busy process (another `headwatch train`, a compile), two OpenMP threads on
    two cores wait at every op for the one that lost its core: a baby step took 2 s where one
    thread takes 35 ms (docs/performance.md). Alone, the default count is ~40 % faster. A probe
    runs the other count for PROBE_S training seconds (MIN_STEPS steps at least) and keeps it if
    its median step is MARGIN faster than the current count's last RECENT steps; a probe step
    CLEARLY_SLOWER than those ends it at once (the costly case: trying two threads again while
    the other process still runs). Probes come after EVERY_S of training, then twice as far apart
    each time (up to MAX_EVERY_S): alone they cost ~1 % of a two-minute run, less later.

    Feed it each step's duration (step_done, seconds); it calls set_threads(n) in the calling
    thread, which must be the training thread (torch's count is per thread)."""

    PROBE_S = 1.0
    MIN_STEPS = 3
    RECENT = 20
    MARGIN = 0.10
    CLEARLY_SLOWER = 2.0
    EVERY_S = 10.0
    MAX_EVERY_S = 160.0

    def __init__(self, counts: tuple[int, int], set_threads: Callable[[int], None]) -> None:
        self.current, self._other = counts
        self._set_threads = set_threads
        self._every = self._until_probe = self.EVERY_S  # training seconds
        self._recent: deque[float] = deque(maxlen=self.RECENT)  # the current count's steps
        self._probe: list[float] | None = None  # the other count's steps, while it is tried
        self._usual = 0.0  # the current count's median step when the probe began
        self.switches = 0

    @classmethod
    def for_training(cls, device_type: str, world_size: int = 1) -> ThreadTuner | None:
        """A tuner for a training thread on this device, or None where the count is not ours to
        choose: a GPU trains (the CPU threads only feed it), one rank of several (torchrun
        sets the counts), OMP_NUM_THREADS set by the user, or a single default thread."""
        if device_type != "cpu" or world_size > 1 or os.environ.get("OMP_NUM_THREADS"):
            return None
        default = _default_torch_threads()
        return cls((default, 1), use_torch_threads) if default > 1 else None

    def step_done(self, seconds: float) -> None:
        """One training step took `seconds` (of training: evaluations and pauses left out)."""
        if self._probe is None:
            self._recent.append(seconds)
            self._until_probe -= seconds
            if self._until_probe <= 0 and len(self._recent) >= self.MIN_STEPS:
                self._probe, self._usual = [], statistics.median(self._recent)
                self._set_threads(self._other)
            return
        self._probe.append(seconds)
        if seconds > self.CLEARLY_SLOWER * self._usual:
            self._end_probe(switch=False)
        elif len(self._probe) >= self.MIN_STEPS and sum(self._probe) >= self.PROBE_S:
            self._end_probe(statistics.median(self._probe) < (1 - self.MARGIN) * self._usual)

    def _end_probe(self, switch: bool) -> None:
        if switch:  # the other count is in use already
            self.current, self._other = self._other, self.current
            self._recent = deque(self._probe, maxlen=self.RECENT)
            self.switches += 1
        else:
            self._set_threads(self.current)
        self._probe = None
        self._every = min(2 * self._every, self.MAX_EVERY_S)
        self._until_probe = self._every


def keep_gui_thread_serial() -> None:
    """One torch thread for the calling (GUI) thread; call it before that thread's first op, so
    the training thread keeps the cores (see the module docstring)."""
    use_torch_threads(1)


# --- thread priorities ---------------------------------------------------------------------------

TRAIN_NICENESS = 10  # of 19: training runs in the gaps the window leaves
ANALYSIS_NICENESS = 5  # analyses and samples: after keystrokes, before training


def lower_priority(niceness: int) -> None:
    """Run the calling thread `niceness` below the main thread's priority, on Linux (elsewhere:
    no-op). Call it before the thread's first torch op: the OpenMP helpers it starts inherit the
    nice value. Nice values are per thread on Linux, so the rest of the process keeps its own."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            main = os.getpriority(os.PRIO_PROCESS, os.getpid())  # the main thread's id is the pid
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), main + niceness)


def give_way_to_the_window() -> None:
    """For the training thread: the GUI and inspection threads preempt it as soon as a keystroke
    or a repaint wants a core, and it still takes every cycle they leave."""
    lower_priority(TRAIN_NICENESS)


# --- glibc's allocator ---------------------------------------------------------------------------

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
KEEP_FREED_BYTES = 1 << 30  # an arena's free top is handed back only beyond this


@cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None  # musl has none: not glibc


def keep_freed_memory() -> bool:
    """Every thread in one arena grown with brk, no block mapped on its own, and freed memory kept
    for reuse up to KEEP_FREED_BYTES. Process-wide; call it first thing, before any other thread
    has allocated: glibc settles its number of arenas at a thread's first allocation.

    One arena, because a thread's own arena is built of 64 MB heaps that it maps and unmaps as
    they fill and empty, whatever the settings. What it keeps, `release_free_memory` still hands
    back. True when there was a glibc to ask.
    """
    libc = _glibc()
    if libc is None:
        return False
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, KEEP_FREED_BYTES))
    return all(libc.mallopt(param, value) == 1 for param, value in settings)


def release_free_memory() -> bool:
    """Hand the memory free in every arena back to the system (malloc_trim); True when there was
    a glibc to ask."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


# --- Python's garbage collector ------------------------------------------------------------------


@cache  # once a process: the second call would find nothing new to freeze
def freeze_torch_optimizer_imports() -> None:
    """Import what torch's optimizers import at their first use (torch._dynamo, and with it fx,
    sympy, onnx and distributed.tensor: ~120k objects), then exempt it from Python's full garbage
    collections (gc.freeze). Imported at a trainer's first optimizer instead, after the window had
    frozen its start-up objects, those objects were walked by every full collection: ~75 ms with
    the GIL held, every thread stopped (a keystroke's paint among them). Takes seconds: call it
    in a worker thread at start-up, after the start-up objects were collected and frozen.

    No collection here: it could run the finalizers of the window's objects in this thread."""
    import gc

    import torch._dynamo  # noqa: F401 - torch.optim's add_param_group imports it lazily

    gc.freeze()
