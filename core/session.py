"""Training into a run folder: metrics line by line, a checkpoint at every eval and at the end."""

from __future__ import annotations

from collections.abc import Iterator

from headwatch.core.control import TrainControl
from headwatch.core.runs import MetricRow, RunWriter
from headwatch.core.trainer import Progress, Trainer


def train_into_run(
    trainer: Trainer,
    writer: RunWriter,
    control: TrainControl | None = None,
    steps: int | None = None,
) -> Iterator[Progress]:
    """Wrap trainer.run(), recording as it goes.

    Saves when the run ends, is stopped, or the consumer stops iterating. A divergence
    (TrainingDiverged) saves nothing, so the last good checkpoint stays on disk.
    """
    saved_step = -1

    def save() -> None:
        nonlocal saved_step
        if trainer.step != saved_step:
            writer.save_checkpoint(trainer)
            saved_step = trainer.step

    try:
        if trainer.step == 0:
            save()  # a fresh run folder holds loadable weights from the start
        for progress in trainer.run(control, steps):
            if progress.is_eval:
                writer.append(
                    MetricRow(
                        progress.step,
                        progress.elapsed,
                        train=progress.train_estimate,
                        val=progress.val_estimate,
                    )
                )
                save()
            else:
                writer.append(MetricRow(progress.step, progress.elapsed, loss=progress.loss))
            yield progress
        save()
    except GeneratorExit:
        save()
        raise
    finally:
        writer.close()
