"""Training, one step at a time, so another thread can pause, stop and watch it.

`Trainer.run()` is a generator: it yields a Progress after every optimizer step (and after each
evaluation), checks its TrainControl between steps, and publishes weight snapshots that other
threads can inspect while it goes on. No Qt here: the GUI wraps this in a QThread worker.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch

from headwatch.core.config import PRECISIONS, ConfigError, GPTConfig, TrainConfig  # noqa: F401 - re-exported
from headwatch.core.control import SnapshotBox, TrainControl
from headwatch.core.corpus import Corpus, Tokenizer
from headwatch.core.distributed import Distributed
from headwatch.core.model import GPT
from headwatch.core.performance import (
    ThreadTuner,
    bf16_supported,
    pinned_copy,
    resolve_device,
    resolve_precision,
    use_tf32_matmuls,
)

DIVERGED_FACTOR = 10.0  # a loss 10x a uniform guess's (43 for 75 characters) has blown up
# The weights are drawn from torch's global generator: two trainers built at once in two threads
# would interleave their draws, and each get other weights than it gets alone.
_SEEDED_INIT = threading.Lock()


def seeded_gpt(model_config: GPTConfig, seed: int, device: torch.device | str = "cpu") -> GPT:
    """Fresh weights drawn with `seed`: the weights a Trainer with that seed starts from."""
    with _SEEDED_INIT:
        torch.manual_seed(seed)
        return GPT(model_config).to(device)


class TrainingDiverged(RuntimeError):
    """The loss became NaN, infinite or absurd (over DIVERGED_FACTOR times a uniform guess's,
    how a far too high learning rate shows under bf16); the message says at which step and what
    to change."""

    def __init__(self, step: int, learning_rate: float) -> None:
        self.step = step
        super().__init__(
            f"loss diverged at step {step} — lower the learning rate (now {learning_rate:g}), "
            "then train again"
        )


@dataclass(frozen=True)
class Progress:
    """What Trainer.run() yields after each step, and after each evaluation."""

    step: int  # optimizer steps completed so far (counting earlier sessions of a resumed run)
    total: int  # the step this run is heading for
    loss: float | None  # train loss of the step just taken; None on a pure evaluation report
    tokens_per_s: float  # characters trained on per second, over the last 20 steps
    elapsed: float  # seconds of training, resumed runs included
    train_estimate: float | None = None  # mean loss (nats) when this report is an evaluation
    val_estimate: float | None = None  # the same on the validation split

    @property
    def is_eval(self) -> bool:
        return self.val_estimate is not None


class Trainer:
    """A GPT, its AdamW optimizer and its batches, trained one step at a time.

    Built from a Corpus (to train) or a bare Tokenizer (to hold and inspect weights only). The
    weights are drawn from train_config.seed; "auto" precision and device are resolved here
    (core.performance) and `config` keeps what really runs. Raises ConfigError when the model's
    vocabulary is not the corpus's, the device is missing or lacks the precision asked for, and
    CorpusError when the text is too short for block_size. `snapshots`: where weight snapshots
    are published for viewers, at most every snapshot_every_s seconds. `distributed`: this
    process's rank under torchrun (core.distributed): the model is wrapped in
    DistributedDataParallel, each step's global batch of world_size × batch_size windows is
    drawn alike on every rank and rank r trains on slice r, evaluations are split over ranks.
    """

    def __init__(
        self,
        corpus_or_tokenizer: Corpus | Tokenizer,
        model_config: GPTConfig,
        train_config: TrainConfig,
        *,
        snapshots: SnapshotBox | None = None,
        snapshot_every_s: float = 0.2,
        distributed: Distributed | None = None,
    ) -> None:
        self.model_config = model_config
        self.distributed = distributed
        self.device = resolve_device(train_config.device)
        if distributed is not None:
            self.device = distributed.device(self.device)
        if self.device.type == "cuda":
            use_tf32_matmuls()
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
        self.model = seeded_gpt(model_config, train_config.seed, self.device)
        # the config kept (and saved with the run) says which precision really ran
        step_flops = 6 * _matmul_weights(self.model) * train_config.batch_size
        step_flops *= model_config.block_size
        precision = resolve_precision(train_config.precision, self.device, step_flops)
        train_config = replace(train_config, precision=precision)
        if precision == "bf16" and not bf16_supported(self.device):
            raise ConfigError(
                f"precision bf16 is not supported on {self.device.type} here; use fp32"
            )
        if precision == "fp16" and self.device.type == "mps":
            raise ConfigError("precision fp16 is not supported on mps here; use fp32 or bf16")
        self.config = train_config
        # fp16's narrow exponent range underflows small gradients: scale the loss up first
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "fp16")
        self.train_model: torch.nn.Module = self.model
        if distributed is not None:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(self.model, device_ids=ids)
        self.group_stop = False  # under torchrun: some rank was asked to stop (_agree_on_step)
        # One fused kernel for all of AdamW's element-wise maths instead of ~10 ops per
        # parameter tensor: the same update in a quarter of the optimizer's time.
        self.optimizer, self._fused_adamw = _adamw(
            list(self.model.parameters()), train_config.learning_rate
        )
        self._batch_rng = torch.Generator().manual_seed(train_config.seed)
        self.step = 0
        self.elapsed = 0.0
        # seconds in estimate_loss, by this trainer only (not saved with the run): training
        # speed is measured over `elapsed` alone, so a summary says these seconds apart
        self.eval_seconds = 0.0
        self.snapshots = snapshots
        self.snapshot_every_s = snapshot_every_s
        self._last_snapshot = 0.0
        # set by the window and `headwatch train` (core.performance.ThreadTuner.for_training):
        # told each step's seconds, it picks the training thread's torch thread count
        self.thread_tuner: ThreadTuner | None = None

    # --- data ---------------------------------------------------------------------------

    def get_batch(
        self, split: str, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows as in the lecture, gathered in one indexing op: x, y each (B, T).

        Under torchrun the generator draws the global batch of world_size × B windows (alike on
        every rank) and this rank takes its slice, so N ranks see what one process with batch
        N·B sees. On CUDA the batch is copied from pinned memory without waiting."""
        data = self.train_data if split == "train" else self.val_data
        if data is None:
            raise RuntimeError("this trainer has no corpus to draw batches from")
        T, B = self.model_config.block_size, self.config.batch_size
        world, rank = self._world()
        starts = torch.randint(len(data) - T, (world * B,), generator=generator or self._batch_rng)
        starts = starts[rank * B : (rank + 1) * B]
        windows = data[starts[:, None] + torch.arange(T + 1)].long()  # (B, T+1)
        return pinned_copy(windows[:, :-1], self.device), pinned_copy(windows[:, 1:], self.device)

    def _world(self) -> tuple[int, int]:
        """(world_size, rank): (1, 0) without torchrun."""
        if self.distributed is None:
            return 1, 0
        return self.distributed.world_size, self.distributed.rank

    # --- steps --------------------------------------------------------------------------

    def precision_context(self) -> contextlib.AbstractContextManager:
        """Where forward passes run: plain fp32, or bf16 / fp16 autocast (TrainConfig.precision)."""
        if self.config.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.float16 if self.config.precision == "fp16" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    def _diverged(self, loss: float) -> bool:
        """NaN or infinite, or DIVERGED_FACTOR times the loss of a uniform guess, ln(vocab): under
        bf16 autocast a run whose learning rate is far too high can stay finite for good, with
        losses in the thousands."""
        uniform = math.log(max(2, self.model_config.vocab_size))
        return not math.isfinite(loss) or loss > DIVERGED_FACTOR * uniform

    def train_step(self) -> float:
        """One optimizer step on a fresh training batch; returns its loss (nats; under torchrun
        the loss of this rank's slice, see _agree_on_step)."""
        self.train_model.train()
        x, y = self.get_batch("train")
        loss = self.forward_loss(x, y)
        self.backward(loss)
        self.update()
        self.step += 1
        return loss.item()

    def _agree_on_step(self, loss: float, stop: bool) -> float:
        """Under torchrun: the global batch's loss (the mean over ranks), and whether some rank
        was asked to stop, shared in one all-reduce, so group_stop is set alike on every rank
        and all stop after the same step. Without torchrun: loss as it is."""
        if self.distributed is None:
            return loss
        total, stops = self.distributed.sum([loss, float(stop)])
        self.group_stop = stops > 0
        return total / self.distributed.world_size

    # the step's three parts, apart for bench/train_throughput.py to time each

    def forward_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The mean cross-entropy (a 0-d tensor, nats) of batch x (B, T) against targets y."""
        with self.precision_context():
            return self.train_model(x, y)[1]

    def backward(self, loss: torch.Tensor) -> None:
        """Gradients of loss (under torchrun: averaged over ranks by DDP's all-reduce)."""
        self.model.zero_grad(set_to_none=True)  # None, not zeros: backward writes, not adds
        self.scaler.scale(loss).backward()

    def update(self) -> None:
        """One AdamW step on the gradients of the last backward pass (under fp16: unscaled
        first, and skipped when they overflowed)."""
        self.scaler.step(self.optimizer)
        self.scaler.update()

    @torch.no_grad()
    def estimate_loss(self) -> dict[str, float]:
        """Mean loss over eval_iters batches per split (fixed seed: evals are comparable).

        Under torchrun each rank computes its slice of every (global) batch and the sums are
        all-reduced: each rank pays 1/world_size of the evaluation. The seconds it takes are
        added to eval_seconds."""
        started = time.perf_counter()
        self.model.eval()
        sums = []
        for split in ("train", "val"):
            rng = torch.Generator().manual_seed(self.config.seed + (split == "val"))
            total = 0.0
            for _ in range(self.config.eval_iters):
                x, y = self.get_batch(split, rng)
                with self.precision_context():
                    total += self.model(x, y)[1].item()
            sums.append(total)
        world, _ = self._world()
        if self.distributed is not None:
            sums = self.distributed.sum(sums)
        self.model.train()
        train, val = (v / (world * self.config.eval_iters) for v in sums)
        self.eval_seconds += time.perf_counter() - started
        return {"train": train, "val": val}

    def run(
        self, control: TrainControl | None = None, steps: int | None = None
    ) -> Iterator[Progress]:
        """Train until `steps` more steps (default: up to max_iters) are done or a stop is asked.

        Evaluates every eval_interval steps and at the end. Raises TrainingDiverged when the loss
        is NaN, infinite or absurdly high (see _diverged). Under torchrun a stop asked on any rank
        ends every rank after the same step (_agree_on_step), and pausing is not offered.
        """
        target = self.step + steps if steps is not None else self.config.max_iters
        tokens_per_step = self.config.batch_size * self.model_config.block_size
        recent: deque[float] = deque(maxlen=20)  # seconds per step, for a steady tokens/s
        self.publish_snapshot(force=True)
        while self.step < target:
            if control is not None and self.distributed is None:
                if control.paused:
                    control.wait_while_paused()
                if control.stop_requested:
                    self.publish_snapshot(force=True)  # viewers see where it stopped
                    return
            if self.group_stop:  # decided alike on every rank by the last step's all-reduce
                self.publish_snapshot(force=True)
                return
            started = time.perf_counter()
            loss = self._agree_on_step(
                self.train_step(), control is not None and control.stop_requested
            )
            took = time.perf_counter() - started
            self.elapsed += took
            recent.append(took)
            if self.thread_tuner is not None:
                self.thread_tuner.step_done(took)
            if self._diverged(loss):
                raise TrainingDiverged(self.step, self.config.learning_rate)
            tps = tokens_per_step * len(recent) / sum(recent)
            yield Progress(self.step, target, loss, tps, self.elapsed)
            self.publish_snapshot()
            if self.step % self.config.eval_interval == 0 or self.step == target:
                estimate = self.estimate_loss()
                if any(self._diverged(v) for v in estimate.values()):
                    raise TrainingDiverged(self.step, self.config.learning_rate)
                self.publish_snapshot(force=True)
                yield Progress(
                    self.step, target, None, tps, self.elapsed, estimate["train"], estimate["val"]
                )

    def compile(self) -> float:
        """Compile the training model with torch.compile (fused kernels, fewer launches: faster
        steps on a GPU); returns the seconds it took. Compiling happens at the first call, so one
        forward and backward pass on a batch of a separate generator runs here, its gradients
        dropped and the batch draws of training untouched."""
        started = time.perf_counter()
        self.train_model = torch.compile(self.train_model)
        x, y = self.get_batch("train", torch.Generator().manual_seed(self.config.seed))
        self.backward(self.forward_loss(x, y))
        self.model.zero_grad(set_to_none=True)
        return time.perf_counter() - started

    # --- weights out --------------------------------------------------------------------

    def cpu_state(self) -> dict[str, torch.Tensor]:
        """A copy of the model's weights (fp32 under either precision) on the CPU."""
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
        """Continue a saved run: its weights (under today's module names; core.runs upgrades
        older checkpoints'), its optimizer state (None: a fresh one), step and seconds trained."""
        self.model.load_state_dict(model_state)
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
            self._keep_optimizer_kernel()
        self.step = step
        self.elapsed = elapsed
        # a resumed run draws fresh batches, but deterministically for the same checkpoint
        self._batch_rng.manual_seed(self.config.seed + step)

    def _keep_optimizer_kernel(self) -> None:
        """A loaded state brings its own implementation flags (an older checkpoint: no fused
        kernel); keep this trainer's choice, with the step counters where that kernel wants them."""
        for group in self.optimizer.param_groups:
            group["fused"] = True if self._fused_adamw else None
            if self._fused_adamw:
                group["foreach"] = None  # fused and foreach exclude each other
                for param in group["params"]:
                    state = self.optimizer.state.get(param, {})
                    if torch.is_tensor(state.get("step")):
                        state["step"] = state["step"].to(param.device, torch.float32)


def _adamw(params: list[torch.Tensor], lr: float) -> tuple[torch.optim.AdamW, bool]:
    """AdamW with the fused kernel where this torch has one for the device (CPU: torch >= 2.4)."""
    try:
        return torch.optim.AdamW(params, lr=lr, fused=True), True
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(params, lr=lr), False


def _matmul_weights(model: GPT) -> int:
    """Parameters that take part in matmuls (embeddings are lookups, biases additions)."""
    return sum(
        p.numel()
        for name, p in model.named_parameters()
        if p.dim() == 2 and "embedding" not in name
    )
