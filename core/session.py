"""Training into a run folder: metrics line by line, a checkpoint at every eval and at the end."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from headwatch.core.control import TrainControl
from headwatch.core.oom import is_out_of_memory, out_of_memory, release_device_memory
from headwatch.core.runs import MetricRow, RunWriter
from headwatch.core.trainer import Progress, Trainer


def train_into_run(
    trainer: Trainer,
    writer: RunWriter,
    control: TrainControl | None = None,
    steps: int | None = None,
) -> Iterator[Progress]:
    """Wrap trainer.run(), recording as it goes, holding the run's lock (writer.lock).

    With writer.snapshots (core.snapshot_store) it also keeps weight snapshots: at log-spaced
    steps, every evaluation, every few seconds, and where training ends.

    Saves when the run ends, is stopped, or the consumer stops iterating (unless control was
    aborted: then what is on disk stays). A divergence (TrainingDiverged) saves nothing, so the
    last good checkpoint stays on disk. Raises RunLocked when another process trains the run,
    RunWriteError when a write fails, OutOfMemory when a step does not fit in memory. A run
    created for this training whose first step fails is removed (writer.discard): no folder is
    left that holds no training. The seconds spent writing are added to writer.saving_seconds.
    """
    writer.lock.acquire()
    if writer.saved_step is None and trainer.step > 0:
        writer.saved_step = trainer.step  # a run continued in this process was saved there
    start_step = trainer.step
    out_of_memory_hit = False

    def save() -> None:
        if trainer.step != writer.saved_step:
            with _saving(writer):
                writer.save_checkpoint(trainer)

    def snapshot(is_eval: bool, last: bool = False) -> None:
        store = writer.snapshots
        kind = store and (store.wants(trainer.step, is_eval) or ("timed" if last else None))
        if kind:
            with _saving(writer):
                store.write(trainer.step, trainer.elapsed, trainer.model.state_dict(), kind)

    def append(row: MetricRow) -> None:
        with _saving(writer):
            writer.append(row)

    try:
        if trainer.step == 0:
            save()  # a fresh run folder holds loadable weights from the start
            snapshot(False)
        for progress in trainer.run(control, steps):
            snapshot(progress.is_eval)
            if progress.is_eval:
                append(
                    MetricRow(
                        progress.step,
                        progress.elapsed,
                        train=progress.train_estimate,
                        val=progress.val_estimate,
                    )
                )
                save()
            else:
                append(MetricRow(progress.step, progress.elapsed, loss=progress.loss))
            yield progress
        save()
        snapshot(False, last=True)
    except GeneratorExit:
        if not (control is not None and control.abort_requested):
            save()
            snapshot(False, last=True)
        raise
    except BaseException as exc:
        if trainer.step == start_step:
            writer.discard()
        if not is_out_of_memory(exc):
            raise
        out_of_memory_hit = True  # raised below, outside this block, so exc's tensors go now
    finally:
        writer.close()
    if out_of_memory_hit:
        release_device_memory()
        if writer.saved_step is not None:
            kept = f"the checkpoint of step {writer.saved_step} is kept in {writer.path}"
        else:
            kept = "nothing was saved"
        raise out_of_memory(trainer, kept)


@contextlib.contextmanager
def _saving(writer: RunWriter) -> Iterator[None]:
    """Adds the seconds the block takes to writer.saving_seconds."""
    started = time.perf_counter()
    try:
        yield
    finally:
        writer.saving_seconds += time.perf_counter() - started
