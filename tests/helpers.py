"""Small, fast building blocks shared by the tests."""

from __future__ import annotations

from pathlib import Path

from headwatch.core.corpus import Corpus
from headwatch.core.model import GPTConfig
from headwatch.core.trainer import TrainConfig

TEXT = (
    "ROMEO:\nBut soft, what light through yonder window breaks?\n"
    "It is the east, and Juliet is the sun.\n\n"
    "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\n"
    "Deny thy father and refuse thy name.\n\n"
) * 40


def small_corpus() -> Corpus:
    return Corpus(name="test", text=TEXT)


def write_corpus(tmp_path: Path, text: str = TEXT) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return path


def small_model(vocab_size: int, **overrides) -> GPTConfig:
    values = dict(vocab_size=vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.0)
    values.update(overrides)
    return GPTConfig(**values)


def small_training(**overrides) -> TrainConfig:
    values = dict(
        learning_rate=3e-3,
        batch_size=4,
        max_iters=20,
        eval_interval=10,
        eval_iters=2,
        seed=7,
        device="cpu",
    )
    values.update(overrides)
    return TrainConfig(**values)


# `headwatch train` options for a small model on a small corpus, on the CPU (seconds a run)
SMALL_TRAIN = ["--layers", "1", "--heads", "2", "--embd", "16", "--block", "16", "--batch", "8"]
SMALL_TRAIN += ["--eval-iters", "2", "--device", "cpu"]
