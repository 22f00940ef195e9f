"""Training, one step at a time, so another thread can pause, stop and watch it.

`Trainer.run()` is a generator: it yields a Progress after every optimizer step (and after each
evaluation), checks its TrainControl between steps, and publishes weight snapshots that other
threads can inspect while it goes on. No Qt here: the GUI wraps this in a QThread worker.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

import torch

from core.control import SnapshotBox, TrainControl
from core.corpus import Corpus, Tokenizer
from core.model import GPT, ConfigError, GPTConfig, resolve_device


@dataclass(frozen=True)
class TrainConfig:
    learning_rate: float = 1e-3
    batch_size: int = 12
    max_iters: int = 2000
    eval_interval: int = 200
    eval_iters: int = 50
    seed: int = 1337
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_iters", "eval_interval", "eval_iters"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a whole number of at least 0, got {self.seed!r}")
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr):
            raise ConfigError(f"learning rate must be a number, got {lr!r}")
        if not (0 < lr <= 10):
            raise ConfigError(f"learning rate must be above 0 and at most 10, got {lr}")
        if not isinstance(self.device, str):
            raise ConfigError(f"device must be a name such as auto or cpu, got {self.device!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**data)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says at which step and what to change."""

    def __init__(self, step: int, learning_rate: float) -> None:
        self.step = step
        super().__init__(
            f"loss diverged at step {step} — lower the learning rate (now {learning_rate:g}), "
            "then train again"
        )


@dataclass(frozen=True)
class Progress:
    step: int  # optimizer steps completed so far (counting earlier sessions of a resumed run)
    total: int  # the step this run is heading for
    loss: float | None  # train loss of the step just taken; None on a pure evaluation report
    tokens_per_s: float
    elapsed: float  # seconds of training, resumed runs included
    train_estimate: float | None = None  # set when this report carries an evaluation
    val_estimate: float | None = None

    @property
    def is_eval(self) -> bool:
        return self.val_estimate is not None


class Trainer:
    def __init__(
        self,
        corpus_or_tokenizer: Corpus | Tokenizer,
        model_config: GPTConfig,
        train_config: TrainConfig,
        *,
        snapshots: SnapshotBox | None = None,
        snapshot_every_s: float = 0.2,
    ) -> None:
        self.model_config = model_config
        self.config = train_config
        self.device = resolve_device(train_config.device)
        if isinstance(corpus_or_tokenizer, Corpus):
            corpus_or_tokenizer.check_block_size(model_config.block_size)
            self.tokenizer = corpus_or_tokenizer.tokenizer
            self.train_data, self.val_data = corpus_or_tokenizer.split()
        else:  # no data: enough to hold and inspect weights, not to train
            self.tokenizer = corpus_or_tokenizer
            self.train_data = self.val_data = None
        if self.tokenizer.vocab_size != model_config.vocab_size:
            raise ConfigError(
                f"model vocabulary ({model_config.vocab_size}) differs from the corpus "
                f"({self.tokenizer.vocab_size})"
            )
        torch.manual_seed(train_config.seed)
        self.model = GPT(model_config).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=train_config.learning_rate)
        self._batch_rng = torch.Generator().manual_seed(train_config.seed)
        self.step = 0
        self.elapsed = 0.0
        self.snapshots = snapshots
        self.snapshot_every_s = snapshot_every_s
        self._last_snapshot = 0.0

    # --- data ---------------------------------------------------------------------------

    def get_batch(
        self, split: str, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows as in the lecture, gathered in one indexing op: x, y each (B, T)."""
        data = self.train_data if split == "train" else self.val_data
        if data is None:
            raise RuntimeError("this trainer has no corpus to draw batches from")
        T, B = self.model_config.block_size, self.config.batch_size
        starts = torch.randint(len(data) - T, (B,), generator=generator or self._batch_rng)
        windows = data[starts[:, None] + torch.arange(T + 1)].long()  # (B, T+1)
        x, y = windows[:, :-1], windows[:, 1:]
        return x.to(self.device), y.to(self.device)

    # --- steps --------------------------------------------------------------------------

    def train_step(self) -> float:
        self.model.train()
        x, y = self.get_batch("train")
        _, loss = self.model(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return loss.item()

    @torch.no_grad()
    def estimate_loss(self) -> dict[str, float]:
        """Mean loss over eval_iters batches per split (fixed seed: evals are comparable)."""
        self.model.eval()
        out = {}
        for split in ("train", "val"):
            rng = torch.Generator().manual_seed(self.config.seed + (split == "val"))
            losses = [
                self.model(*self.get_batch(split, rng))[1].item()
                for _ in range(self.config.eval_iters)
            ]
            out[split] = sum(losses) / len(losses)
        self.model.train()
        return out

    def run(
        self, control: TrainControl | None = None, steps: int | None = None
    ) -> Iterator[Progress]:
        """Train until `steps` more steps (default: up to max_iters) are done or a stop is asked.

        Evaluates every eval_interval steps and at the end. Raises TrainingDiverged on NaN/inf.
        """
        target = self.step + steps if steps is not None else self.config.max_iters
        tokens_per_step = self.config.batch_size * self.model_config.block_size
        recent: deque[float] = deque(maxlen=20)  # seconds per step, for a steady tokens/s
        self.publish_snapshot(force=True)
        while self.step < target:
            if control is not None:
                if control.paused:
                    control.wait_while_paused()
                if control.stop_requested:
                    return
            started = time.perf_counter()
            loss = self.train_step()
            took = time.perf_counter() - started
            self.elapsed += took
            recent.append(took)
            if not math.isfinite(loss):
                raise TrainingDiverged(self.step, self.config.learning_rate)
            tps = tokens_per_step * len(recent) / sum(recent)
            yield Progress(self.step, target, loss, tps, self.elapsed)
            self.publish_snapshot()
            if self.step % self.config.eval_interval == 0 or self.step == target:
                estimate = self.estimate_loss()
                if not all(math.isfinite(v) for v in estimate.values()):
                    raise TrainingDiverged(self.step, self.config.learning_rate)
                self.publish_snapshot(force=True)
                yield Progress(
                    self.step, target, None, tps, self.elapsed, estimate["train"], estimate["val"]
                )

    # --- weights out --------------------------------------------------------------------

    def cpu_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}

    def publish_snapshot(self, force: bool = False) -> None:
        """Between steps only, so a snapshot never holds a half-applied optimizer update."""
        if self.snapshots is None:
            return
        now = time.monotonic()
        if not force and now - self._last_snapshot < self.snapshot_every_s:
            return
        self._last_snapshot = now
        self.snapshots.publish(self.step, self.model_config, self.tokenizer, self.cpu_state())

    def load_state(
        self, model_state: dict, optimizer_state: dict | None, step: int, elapsed: float
    ) -> None:
        self.model.load_state_dict(model_state)
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
        self.step = step
        self.elapsed = elapsed
        # a resumed run draws fresh batches, but deterministically for the same checkpoint
        self._batch_rng.manual_seed(self.config.seed + step)
