"""TensorBoard event files for a run (`headwatch train --tensorboard`), in RUN/tb/.

Scalars: loss/train_step (every step), loss/train and loss/val (each evaluation), lr,
tokens_per_s. At each evaluation: the attention pattern of every head for a fixed probe (the
first characters of the validation text) as one grayscale image, rows = layers, columns = heads,
and a histogram of each layer's feed-forward activations (after the ReLU) for that probe.
Written with torch.utils.tensorboard; `tensorboard` is an optional extra.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from headwatch.core.config import ConfigError
from headwatch.core.trainer import Progress, Trainer

TB = "tb"
PROBE_CHARS = 32  # of the validation text, fewer when block_size is smaller
INSTALL_HINT = "--tensorboard needs TensorBoard: pip install 'headwatch[tensorboard]'"


def check_tensorboard() -> type[TensorBoardLog]:
    """TensorBoardLog, once TensorBoard is known to be installed; raises ConfigError saying how
    to install it otherwise."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc
    return TensorBoardLog


def attention_grid(attention: np.ndarray) -> np.ndarray:
    """attention (L, H, T, T), weights in [0, 1] -> one image (1, L·(T+1)-1, H·(T+1)-1) with a
    blank line between heads, for SummaryWriter.add_image (CHW, floats in [0, 1])."""
    L, H, T, _ = attention.shape
    grid = np.ones((L * (T + 1) - 1, H * (T + 1) - 1), np.float32)
    for layer in range(L):
        for head in range(H):
            top, left = layer * (T + 1), head * (T + 1)
            grid[top : top + T, left : left + T] = 1.0 - attention[layer, head]  # dark = attended
    return grid[None]


class TensorBoardLog:
    """Writes one run's events (see the module docstring) while its trainer trains."""

    def __init__(self, run: str | os.PathLike, trainer: Trainer) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.trainer = trainer
        self.writer = SummaryWriter(log_dir=str(Path(run) / TB))
        probe = trainer.val_data[: min(PROBE_CHARS, trainer.model_config.block_size)]
        self.probe = probe.long().to(trainer.device)

    def record(self, progress: Progress) -> None:
        step = progress.step
        if not progress.is_eval:
            self.writer.add_scalar("loss/train_step", progress.loss, step)
            self.writer.add_scalar("lr", self.trainer.optimizer.param_groups[0]["lr"], step)
            self.writer.add_scalar("tokens_per_s", progress.tokens_per_s, step)
            return
        self.writer.add_scalar("loss/train", progress.train_estimate, step)
        self.writer.add_scalar("loss/val", progress.val_estimate, step)
        if self.trainer.model_config.n_layer == 0:  # the bigram model has no heads nor FFN
            return
        result = self.trainer.model.inspect(self.probe)
        attention = result.attention.float().cpu().numpy()
        self.writer.add_image("attention", attention_grid(attention), step)
        for layer, values in enumerate(result.ffn.float().cpu()):
            if values.numel():
                self.writer.add_histogram(f"ffn/layer{layer + 1}", values, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
