"""Out of memory, said as what to change: torch's allocation failures turned into OutOfMemory."""

from __future__ import annotations

from collections.abc import Callable

import torch

from headwatch.core.config import GPTConfig, OutOfMemory, TrainConfig
from headwatch.core.corpus import Corpus, Tokenizer
from headwatch.core.trainer import Trainer

# What torch's allocators say when they fail (CPU, CUDA, MPS); torch.OutOfMemoryError covers
# only CUDA and, from torch 2.5, some others.
_OOM_MESSAGES = ("can't allocate memory", "out of memory", "not enough memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether exc is an allocation failure (torch.OutOfMemoryError, MemoryError, or torch's
    RuntimeError from the CPU or MPS allocator)."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OOM_MESSAGES)


def release_device_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def out_of_memory(trainer: Trainer, kept: str) -> OutOfMemory:
    """The message for a step that did not fit: the sizes to lower, and what is kept."""
    T, B = trainer.model_config.block_size, trainer.config.batch_size
    return OutOfMemory(
        f"out of memory at block {T} × batch {B} on {trainer.device.type} — lower the block "
        f"size or the batch; {kept}"
    )


def build_trainer(
    corpus: Corpus | Tokenizer,
    model_config: GPTConfig,
    train_config: TrainConfig,
    factory: Callable[..., Trainer] | None = None,
    **kwargs,
) -> Trainer:
    """factory(...) (a Trainer by default), an allocation failure raised as OutOfMemory naming
    the model's size (a model too big to build is too big to train)."""
    try:
        return (factory or Trainer)(corpus, model_config, train_config, **kwargs)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
    # raised here, outside the except block, so the failed allocation's frames are let go
    release_device_memory()
    raise OutOfMemory(
        f"out of memory building a model of {model_config.n_layer} layers × n_embd "
        f"{model_config.n_embd} — lower the layers or n_embd"
    )
