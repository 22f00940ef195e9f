"""A small model trained on the small corpus, shared by the analyses' tests."""

from __future__ import annotations

import torch

from headwatch.core.corpus import Corpus
from headwatch.core.model import GPT
from headwatch.core.trainer import Trainer
from tests.helpers import small_corpus, small_model, small_training


def small_trainer(iters: int = 60, **overrides) -> tuple[Corpus, Trainer]:
    """(the small corpus, a trainer after `iters` seeded steps on it); overrides go to the
    GPTConfig."""
    corpus = small_corpus()
    trainer = Trainer(
        corpus,
        small_model(corpus.vocab_size, **overrides),
        small_training(max_iters=iters, eval_interval=iters),
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small only loses time to a second thread
    try:
        list(trainer.run())
    finally:
        torch.set_num_threads(threads)
    return corpus, trainer


def trained_small(iters: int = 60, **overrides) -> tuple[Corpus, GPT]:
    """(corpus, model in eval mode), see small_trainer."""
    corpus, trainer = small_trainer(iters, **overrides)
    return corpus, trainer.model.eval()
